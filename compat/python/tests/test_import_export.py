"""Import and export jobs with azure-iot-hub's IoTHubJobManager, into and
out of a container of the emulator's built-in blob endpoint. The container
SAS is minted as a user would, with azure-storage-blob's
generate_container_sas and the built-in account's well-known key, and the
blobs are read and written with azure-storage-blob's ContainerClient."""

import datetime
import json
import uuid

import pytest
from azure.iot.hub import IoTHubJobManager
from azure.iot.hub.models import JobProperties
from azure.storage.blob import ContainerClient, ContainerSasPermissions, generate_container_sas
from msrest.exceptions import HttpOperationError

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import assert_rest_error, wait_until

BUILT_IN_ACCOUNT = "iothubemulator"
BUILT_IN_KEY = "oP5Svw+paQQi5Fx0IQUnHVOrwPuK0V2CTssG850oPg2om4PhV298pdb3HHZuqBh8"


def container_uri(name):
    sas = generate_container_sas(
        BUILT_IN_ACCOUNT, name, account_key=BUILT_IN_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    return f"https://localhost/{BUILT_IN_ACCOUNT}/{name}?{sas}"


@pytest.fixture
def jobs(emulator):
    return IoTHubJobManager.from_connection_string(SERVICE_CONNECTION_STRING)


def run_job(jobs, props):
    job = jobs.create_import_export_job(props)
    assert job.job_id and job.status in ("enqueued", "running", "completed"), job
    return wait_until(lambda: (lambda j: j if j.status in ("completed", "failed", "cancelled") else None)(
        jobs.get_import_export_job(job.job_id)), timeout=30, what=f"job {job.job_id} finished")


def test_export_devices(jobs, registry, make_device, emulator):
    device, _ = make_device("exp")
    uri = container_uri(f"exp-{uuid.uuid4().hex[:8]}")
    done = run_job(jobs, JobProperties(type="export", output_blob_container_uri=uri, exclude_keys_in_export=False))
    assert done.status == "completed", done.failure_reason
    assert done.progress == 100 and done.end_time_utc is not None

    container = ContainerClient.from_container_url(uri, connection_verify=str(emulator.ca_path))
    lines = [json.loads(l) for l in container.download_blob("devices.txt").readall().decode().splitlines() if l]
    mine = [l for l in lines if l["id"] == device.device_id]
    assert len(mine) == 1
    assert mine[0]["authentication"]["symmetricKey"]["primaryKey"] == device.authentication.symmetric_key.primary_key
    assert mine[0]["twinETag"] and "properties" in mine[0]
    assert done.job_id in [j.job_id for j in jobs.get_import_export_jobs()]


def test_import_devices(jobs, registry, emulator):
    name = f"imp-{uuid.uuid4().hex[:8]}"
    uri = container_uri(name)
    new_id, taken_id = f"imported-{uuid.uuid4().hex[:8]}", f"taken-{uuid.uuid4().hex[:8]}"
    registry.create_device_with_sas(taken_id, None, None, "enabled")
    try:
        container = ContainerClient.from_container_url(uri, connection_verify=str(emulator.ca_path))
        lines = [
            {"id": new_id, "importMode": "create", "status": "disabled", "tags": {"source": "import"},
             "properties": {"desired": {"rate": 4}}},
            {"id": taken_id, "importMode": "create"},
        ]
        container.upload_blob("devices.txt", "\n".join(json.dumps(l) for l in lines).encode())
        done = run_job(jobs, JobProperties(type="import", input_blob_container_uri=uri, output_blob_container_uri=uri))
        assert done.status == "completed", done.failure_reason

        device = registry.get_device(new_id)
        assert device.status == "disabled"
        twin = registry.get_twin(new_id)
        assert twin.tags == {"source": "import"} and twin.properties.desired["rate"] == 4
        errors = [json.loads(l) for l in container.download_blob("importErrors.log").readall().decode().splitlines() if l]
        assert [(e["deviceId"], e["errorCode"]) for e in errors] == [(taken_id, "DeviceAlreadyExists")]
    finally:
        for device_id in (new_id, taken_id):
            try:
                registry.delete_device(device_id)
            except HttpOperationError:
                pass


def test_refusals(jobs):
    with pytest.raises(HttpOperationError) as exc:
        jobs.create_import_export_job(JobProperties(type="export"))
    assert_rest_error(exc.value, 400, "ArgumentNull")
    with pytest.raises(HttpOperationError) as exc:
        jobs.get_import_export_job(str(uuid.uuid4()))
    assert_rest_error(exc.value, 404, "JobNotFound")
