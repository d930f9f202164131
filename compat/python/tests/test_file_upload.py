"""File upload as the SDK's upload_to_blob sample does it: storage info from
the hub, the upload with azure-storage-blob to the SAS URL, the notify; then
the blob read back through the emulator's built-in blob endpoint and the
file upload notification seen by the service side."""

import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobClient

from support.hub import bounded, wait_until


def blob_url(info):
    return f"https://{info['hostName']}/{info['containerName']}/{info['blobName']}{info['sasToken']}"


def test_upload_to_blob(emulator, service, make_device, make_client):
    device, conn_str = make_device("fu")
    client = make_client(conn_str)
    name = f"logs/{uuid.uuid4().hex}.txt"
    data = b"file upload from the Python SDK\n" * 1000

    info = bounded(client.get_storage_info_for_blob, name, timeout=30, what="get_storage_info_for_blob")
    assert set(info) >= {"correlationId", "hostName", "containerName", "blobName", "sasToken"}, info
    assert info["blobName"] == f"{device.device_id}/{name}"
    assert info["sasToken"].startswith("?") and "sig=" in info["sasToken"]

    blob = BlobClient.from_blob_url(blob_url(info), connection_verify=str(emulator.ca_path))
    result = blob.upload_blob(data, overwrite=True)
    assert result["etag"]
    bounded(client.notify_blob_upload_status, info["correlationId"], True, 200, "OK", timeout=30, what="notify")

    # Read back with the same SAS, through the built-in endpoint.
    assert blob.download_blob().readall() == data
    assert blob.get_blob_properties().size == len(data)

    def arrived():
        for n in service.ok_json("GET", "/emulator/messages/filenotifications"):
            if n["deviceId"] == device.device_id and n["blobName"] == info["blobName"]:
                return n
        return None

    n = wait_until(arrived, timeout=10, what="file upload notification")
    assert n["blobUri"] == f"https://{info['hostName']}/{info['containerName']}/{info['blobName']}"
    assert n["blobSizeInBytes"] == len(data)
    assert n["lastUpdatedTime"] and n["enqueuedTimeUtc"]

    # The upload is over: notifying it again is refused.
    with pytest.raises(Exception) as err:
        bounded(client.notify_blob_upload_status, info["correlationId"], True, 200, "OK", timeout=30, what="second notify")
    # The SDK wraps the hub's answer: ClientError caused by ServiceError("HTTP operation returned: 400 ...").
    assert "400" in str(err.value.__cause__), repr(err.value.__cause__)


def test_blob_endpoint_checks_the_sas(emulator, make_device, make_client):
    device, conn_str = make_device("fu-sas")
    client = make_client(conn_str)
    info = bounded(client.get_storage_info_for_blob, "x.bin", timeout=30, what="get_storage_info_for_blob")
    # The SAS is for this blob only: another name under it is refused.
    other = dict(info, blobName=f"{device.device_id}/other.bin")
    blob = BlobClient.from_blob_url(blob_url(other), connection_verify=str(emulator.ca_path))
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as err:
        blob.upload_blob(b"nope")
    assert err.value.error_code == "AuthenticationFailed", err.value
