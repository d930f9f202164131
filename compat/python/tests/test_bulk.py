"""Bulk registry operations (POST /devices) through IoTHubRegistryManager."""

import base64

import pytest
from azure.iot.hub.models import AuthenticationMechanism, ExportImportDevice, SymmetricKey
from msrest.exceptions import HttpOperationError

from support.hub import assert_rest_error, unique_id


def sas_auth(seed):
    return AuthenticationMechanism(
        type="sas",
        symmetric_key=SymmetricKey(
            primary_key=base64.b64encode(seed * 32).decode(),
            secondary_key=base64.b64encode(seed.upper() * 32).decode(),
        ),
    )


@pytest.fixture
def bulk_ids(registry):
    """ids(n) -> n fresh device ids, deleted (if they exist) afterwards."""
    made = []

    def ids(n, prefix="bulk"):
        new = [unique_id(prefix) for _ in range(n)]
        made.extend(new)
        return new

    yield ids
    for device_id in made:
        try:
            registry.delete_device(device_id)
        except HttpOperationError:
            pass


def test_bulk_create_update_delete(registry, bulk_ids):
    a, b = bulk_ids(2)
    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=a, import_mode="create", status="enabled", authentication=sas_auth(b"a")),
        ExportImportDevice(id=b, import_mode="create", status="disabled", authentication=sas_auth(b"b")),
    ])
    assert result.is_successful is True
    assert result.errors == []
    assert result.warnings == []
    got_a = registry.get_device(a)
    assert got_a.authentication.symmetric_key.primary_key == base64.b64encode(b"a" * 32).decode()
    assert registry.get_device(b).status == "disabled"

    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=a, import_mode="updateIfMatchETag", e_tag=got_a.etag, status="disabled",
                           authentication=sas_auth(b"c")),
        ExportImportDevice(id=b, import_mode="update", status="enabled", authentication=sas_auth(b"b")),
    ])
    assert result.is_successful is True
    updated = registry.get_device(a)
    assert updated.status == "disabled"
    assert updated.etag != got_a.etag
    assert updated.authentication.symmetric_key.primary_key == base64.b64encode(b"c" * 32).decode()
    assert registry.get_device(b).status == "enabled"

    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=a, import_mode="deleteIfMatchETag", e_tag=updated.etag),
        ExportImportDevice(id=b, import_mode="delete"),
    ])
    assert result.is_successful is True
    for device_id in (a, b):
        with pytest.raises(HttpOperationError) as err:
            registry.get_device(device_id)
        assert_rest_error(err.value, 404, "DeviceNotFound")


def test_bulk_partial_failure_reports_each_device(registry, bulk_ids):
    taken, fresh, missing = bulk_ids(3)
    registry.create_device_with_sas(taken, None, None, "enabled")
    before = registry.get_device(taken)
    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=taken, import_mode="create", status="disabled"),
        ExportImportDevice(id=fresh, import_mode="create"),
        ExportImportDevice(id=missing, import_mode="delete"),
        ExportImportDevice(id=taken, module_id="m1", import_mode="deleteIfMatchETag", e_tag="stale"),
    ])
    assert result.is_successful is False
    errors = {(e.device_id, e.module_id): e for e in result.errors}
    assert set(errors) == {(taken, None), (missing, None), (taken, "m1")}
    assert errors[(taken, None)].error_code == "DeviceAlreadyExists"
    assert errors[(taken, None)].error_status
    assert errors[(missing, None)].error_code == "DeviceNotFound"
    assert errors[(taken, "m1")].error_code == "ModuleNotFound"
    # The item that could be applied was; the refused ones changed nothing.
    assert registry.get_device(fresh).device_id == fresh
    after = registry.get_device(taken)
    assert after.etag == before.etag
    assert after.status == "enabled"


def test_bulk_twin_sections_and_twin_update(registry, bulk_ids):
    (device_id,) = bulk_ids(1)
    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=device_id, import_mode="create", tags={"site": "north"},
                           properties={"desired": {"interval": 5}}),
    ])
    assert result.is_successful is True
    twin = registry.get_twin(device_id)
    assert twin.tags == {"site": "north"}
    assert twin.properties.desired["interval"] == 5

    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=device_id, import_mode="updateTwinIfMatchETag", twin_etag=twin.etag,
                           tags={"floor": 3}),
    ])
    assert result.is_successful is True
    assert registry.get_twin(device_id).tags == {"site": "north", "floor": 3}


def test_bulk_refused_whole(registry, bulk_ids):
    a, b = bulk_ids(2)
    # The SDK reads every 400 as a BulkRegistryOperationResult, so a call
    # refused whole (the hub's error body, not a result) comes back as a
    # result that is not successful, rather than raising.
    result = registry.bulk_create_or_update_devices([
        ExportImportDevice(id=a, import_mode="create"),
        ExportImportDevice(id=a, import_mode="delete"),
    ])
    assert result.is_successful is not True
    with pytest.raises(HttpOperationError) as err:
        registry.bulk_create_or_update_devices(
            [ExportImportDevice(id=f"{b}-{i}", import_mode="create") for i in range(101)]
        )
    assert_rest_error(err.value, 413, "TooManyDevices")
    for device_id in (a, f"{b}-0"):
        with pytest.raises(HttpOperationError) as err:
            registry.get_device(device_id)
        assert_rest_error(err.value, 404, "DeviceNotFound")
