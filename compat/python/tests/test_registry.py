"""Device identity registry through azure-iot-hub's IoTHubRegistryManager."""

import base64

import pytest
from msrest.exceptions import HttpOperationError

from support.hub import assert_rest_error, unique_id


def decodes_to_key(value):
    try:
        return len(base64.b64decode(value, validate=True)) >= 16
    except (ValueError, TypeError):
        return False


def test_create_generates_keys(registry, make_device):
    device, _ = make_device("reg-create")
    assert device.device_id.startswith("reg-create-")
    assert device.status == "enabled"
    assert device.authentication.type == "sas"
    keys = device.authentication.symmetric_key
    assert decodes_to_key(keys.primary_key), keys.primary_key
    assert decodes_to_key(keys.secondary_key), keys.secondary_key
    assert keys.primary_key != keys.secondary_key
    assert device.etag
    assert device.generation_id
    assert device.connection_state == "Disconnected"
    assert device.capabilities.iot_edge is False


def test_create_keeps_given_keys(make_device):
    primary = base64.b64encode(b"p" * 32).decode()
    secondary = base64.b64encode(b"s" * 32).decode()
    device, _ = make_device("reg-keys", primary_key=primary, secondary_key=secondary)
    assert device.authentication.symmetric_key.primary_key == primary
    assert device.authentication.symmetric_key.secondary_key == secondary


def test_get_returns_created_identity(registry, make_device):
    created, _ = make_device("reg-get")
    got = registry.get_device(created.device_id)
    assert got.device_id == created.device_id
    assert got.etag == created.etag
    assert got.generation_id == created.generation_id
    assert got.authentication.symmetric_key.primary_key == created.authentication.symmetric_key.primary_key


def test_update_with_current_etag(registry, make_device):
    created, _ = make_device("reg-upd")
    keys = created.authentication.symmetric_key
    updated = registry.update_device_with_sas(
        created.device_id, created.etag, keys.primary_key, keys.secondary_key, "disabled"
    )
    assert updated.status == "disabled"
    assert updated.etag and updated.etag != created.etag
    assert registry.get_device(created.device_id).status == "disabled"


def test_update_with_wildcard_etag(registry, make_device):
    created, _ = make_device("reg-star")
    keys = created.authentication.symmetric_key
    # etag None makes the SDK send If-Match "*" (quoted).
    updated = registry.update_device_with_sas(
        created.device_id, None, keys.primary_key, keys.secondary_key, "disabled", status_reason="maintenance"
    )
    assert updated.status == "disabled"
    assert updated.status_reason == "maintenance"


def test_update_with_stale_etag_fails(registry, make_device):
    created, _ = make_device("reg-stale")
    keys = created.authentication.symmetric_key
    registry.update_device_with_sas(created.device_id, created.etag, keys.primary_key, keys.secondary_key, "disabled")
    with pytest.raises(HttpOperationError) as exc:
        registry.update_device_with_sas(
            created.device_id, created.etag, keys.primary_key, keys.secondary_key, "enabled"
        )
    assert_rest_error(exc.value, 412, "PreconditionFailed")
    assert registry.get_device(created.device_id).status == "disabled"


def test_delete_then_get_is_not_found(registry, make_device):
    created, _ = make_device("reg-del")
    registry.delete_device(created.device_id)
    with pytest.raises(HttpOperationError) as exc:
        registry.get_device(created.device_id)
    assert_rest_error(exc.value, 404, "DeviceNotFound")


def test_delete_with_etag(registry, make_device):
    created, _ = make_device("reg-deltag")
    keys = created.authentication.symmetric_key
    updated = registry.update_device_with_sas(
        created.device_id, created.etag, keys.primary_key, keys.secondary_key, "enabled", status_reason="v2"
    )
    with pytest.raises(HttpOperationError) as exc:
        registry.delete_device(created.device_id, etag=created.etag)
    assert_rest_error(exc.value, 412, "PreconditionFailed")
    assert registry.get_device(created.device_id).etag == updated.etag
    registry.delete_device(created.device_id, etag=updated.etag)
    with pytest.raises(HttpOperationError) as exc:
        registry.get_device(created.device_id)
    assert_rest_error(exc.value, 404, "DeviceNotFound")


def test_delete_unknown_is_not_found(registry):
    with pytest.raises(HttpOperationError) as exc:
        registry.delete_device(unique_id("reg-nobody"))
    assert_rest_error(exc.value, 404, "DeviceNotFound")


def test_get_unknown_is_not_found(registry):
    with pytest.raises(HttpOperationError) as exc:
        registry.get_device(unique_id("reg-nobody"))
    assert_rest_error(exc.value, 404, "DeviceNotFound")


def test_duplicate_create_conflicts(registry, make_device):
    created, _ = make_device("reg-dup")
    with pytest.raises(HttpOperationError) as exc:
        registry.create_device_with_sas(created.device_id, None, None, "enabled")
    assert_rest_error(exc.value, 409, "DeviceAlreadyExists")
    # The original identity is untouched.
    assert registry.get_device(created.device_id).etag == created.etag


def test_list_devices(registry, make_device):
    ids = {make_device("reg-list")[0].device_id for _ in range(3)}
    listed = {d.device_id for d in registry.get_devices()}
    assert ids <= listed
    assert len(registry.get_devices(max_number_of_devices=2)) == 2


def test_registry_statistics(registry, make_device):
    before = registry.get_device_registry_statistics()
    make_device("reg-stat-on")
    make_device("reg-stat-off", status="disabled")
    after = registry.get_device_registry_statistics()
    assert after.total_device_count == before.total_device_count + 2
    assert after.enabled_device_count == before.enabled_device_count + 1
    assert after.disabled_device_count == before.disabled_device_count + 1
    assert after.total_device_count == after.enabled_device_count + after.disabled_device_count


def test_service_statistics(registry):
    stats = registry.get_service_statistics()
    assert isinstance(stats.connected_device_count, int)
    assert stats.connected_device_count >= 0
