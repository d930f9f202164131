"""Module identities and module twins: the registry calls of azure-iot-hub,
IoTHubModuleClient over MQTT, and queries over devices.modules."""

import base64
import queue
import uuid

import pytest
from azure.iot.device import IoTHubModuleClient
from azure.iot.device.exceptions import CredentialError
from azure.iot.hub.models import QuerySpecification, Twin, TwinProperties
from msrest.exceptions import HttpOperationError

from support.hub import (
    assert_rest_error, bounded, device_connection_string, module_connection_string, unique_id, wait_until,
)


def connected_module(make_client, conn_str, **kwargs):
    client = make_client(conn_str, client_class=IoTHubModuleClient, **kwargs)
    bounded(client.connect, timeout=30, what="module connect")
    return client


def user(section):
    return {k: v for k, v in section.items() if not k.startswith("$")}


def test_create_get_list_delete(registry, make_device):
    device, _ = make_device("mod-crud")
    primary = base64.b64encode(b"p" * 32).decode()
    secondary = base64.b64encode(b"s" * 32).decode()
    created = registry.create_module_with_sas(device.device_id, "telemetry", None, primary, secondary)
    assert created.module_id == "telemetry"
    assert created.device_id == device.device_id
    assert created.authentication.type == "sas"
    assert created.authentication.symmetric_key.primary_key == primary
    assert created.authentication.symmetric_key.secondary_key == secondary
    assert created.etag and created.generation_id
    assert created.connection_state == "Disconnected"

    generated = registry.create_module_with_sas(device.device_id, "filter", None, None, None)
    keys = generated.authentication.symmetric_key
    assert len(base64.b64decode(keys.primary_key)) >= 16
    assert keys.primary_key != keys.secondary_key

    got = registry.get_module(device.device_id, "telemetry")
    assert got.module_id == "telemetry"
    assert got.etag == created.etag
    assert got.authentication.symmetric_key.primary_key == primary

    listed = registry.get_modules(device.device_id)
    assert sorted(m.module_id for m in listed) == ["filter", "telemetry"]
    assert all(m.device_id == device.device_id for m in listed)

    registry.delete_module(device.device_id, "telemetry")
    with pytest.raises(HttpOperationError) as exc:
        registry.get_module(device.device_id, "telemetry")
    assert_rest_error(exc.value, 404, "ModuleNotFound")
    assert [m.module_id for m in registry.get_modules(device.device_id)] == ["filter"]


def test_create_existing_module_conflicts(registry, make_module):
    device, module, _ = make_module("mod-dup", "dup")
    with pytest.raises(HttpOperationError) as exc:
        registry.create_module_with_sas(device.device_id, module.module_id, None, None, None)
    assert_rest_error(exc.value, 409, "ModuleAlreadyExistsOnDevice")


def test_module_on_unknown_device(registry):
    with pytest.raises(HttpOperationError) as exc:
        registry.create_module_with_sas(unique_id("mod-nodev"), "m", None, None, None)
    assert exc.value.response.status_code == 404


def test_modules_go_with_their_device(registry, make_device):
    device, _ = make_device("mod-cascade")
    registry.create_module_with_sas(device.device_id, "m1", None, None, None)
    registry.delete_device(device.device_id)
    registry.create_device_with_sas(device.device_id, None, None, "enabled")
    assert registry.get_modules(device.device_id) == []


def test_module_twin_from_the_service(registry, make_module):
    device, module, _ = make_module("mod-twin", "tw")
    twin = registry.get_module_twin(device.device_id, module.module_id)
    assert twin.device_id == device.device_id
    assert twin.module_id == module.module_id
    assert twin.etag
    assert twin.properties.desired["$version"] == 1
    assert twin.properties.reported["$version"] == 1

    updated = registry.update_module_twin(
        device.device_id, module.module_id,
        Twin(tags={"role": "filter"}, properties=TwinProperties(desired={"threshold": 30})), twin.etag,
    )
    assert updated.tags == {"role": "filter"}
    assert updated.properties.desired["threshold"] == 30
    assert updated.properties.desired["$version"] == 2
    assert updated.etag != twin.etag

    # Stale etag.
    with pytest.raises(HttpOperationError) as exc:
        registry.update_module_twin(device.device_id, module.module_id, Twin(tags={"x": 1}), twin.etag)
    assert_rest_error(exc.value, 412, "PreconditionFailed")

    replaced = registry.replace_module_twin(
        device.device_id, module.module_id, Twin(tags={"only": "this"}, properties=TwinProperties(desired={}))
    )
    assert replaced.tags == {"only": "this"}
    assert user(replaced.properties.desired) == {}

    # The device's own twin is untouched.
    device_twin = registry.get_twin(device.device_id)
    assert not device_twin.tags
    assert device_twin.properties.desired["$version"] == 1


def test_module_client_twin(registry, make_module, make_client):
    device, module, conn_str = make_module("mod-client", "mc")
    registry.update_module_twin(device.device_id, module.module_id,
                                Twin(properties=TwinProperties(desired={"rate": 5})))
    client = connected_module(make_client, conn_str)
    twin = bounded(client.get_twin, what="module get_twin")
    assert set(twin) == {"desired", "reported"}
    assert twin["desired"]["rate"] == 5
    assert twin["desired"]["$version"] == 2

    bounded(client.patch_twin_reported_properties, {"status": "running", "rate": 5}, what="module reported patch")
    service_view = registry.get_module_twin(device.device_id, module.module_id)
    assert user(service_view.properties.reported) == {"status": "running", "rate": 5}
    assert service_view.properties.reported["$version"] == 2
    assert registry.get_module(device.device_id, module.module_id).connection_state == "Connected"
    # Reported by the module, not by its device.
    assert user(registry.get_twin(device.device_id).properties.reported) == {}
    assert registry.get_device(device.device_id).connection_state == "Disconnected"

    bounded(client.disconnect, what="module disconnect")
    wait_until(lambda: registry.get_module(device.device_id, module.module_id).connection_state == "Disconnected",
               what="module shows Disconnected")


def test_module_desired_notification(registry, make_module, make_client):
    device, module, conn_str = make_module("mod-notify", "mn")
    client = connected_module(make_client, conn_str)
    received = queue.Queue()
    client.on_twin_desired_properties_patch_received = received.put
    bounded(client.get_twin, what="module get_twin")

    updated = registry.update_module_twin(device.device_id, module.module_id,
                                          Twin(properties=TwinProperties(desired={"mode": "fast"})))
    patch = received.get(timeout=15)
    assert patch["mode"] == "fast"
    assert patch["$version"] == updated.properties.desired["$version"]


def test_device_and_module_notifications_are_isolated(registry, make_module, make_client):
    device, module, module_cs = make_module("mod-iso", "iso")
    key = registry.get_device(device.device_id).authentication.symmetric_key.primary_key
    device_client = make_client(device_connection_string(device.device_id, key))
    bounded(device_client.connect, timeout=30, what="device connect")
    module_client = connected_module(make_client, module_cs)

    to_device, to_module = queue.Queue(), queue.Queue()
    device_client.on_twin_desired_properties_patch_received = to_device.put
    module_client.on_twin_desired_properties_patch_received = to_module.put
    bounded(device_client.get_twin, what="device get_twin")
    bounded(module_client.get_twin, what="module get_twin")

    registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"for": "device"})))
    registry.update_module_twin(device.device_id, module.module_id,
                                Twin(properties=TwinProperties(desired={"for": "module"})))
    assert to_device.get(timeout=15)["for"] == "device"
    assert to_module.get(timeout=15)["for"] == "module"

    # One more round trip each: anything misrouted would have arrived by now.
    bounded(device_client.get_twin, what="device get_twin")
    bounded(module_client.get_twin, what="module get_twin")
    assert to_device.empty(), f"device got a module patch: {to_device.get_nowait()!r}"
    assert to_module.empty(), f"module got a device patch: {to_module.get_nowait()!r}"
    assert bounded(device_client.get_twin)["desired"]["for"] == "device"
    assert bounded(module_client.get_twin)["desired"]["for"] == "module"


def test_query_devices_modules(registry, make_device):
    marker = f"q{uuid.uuid4().hex[:8]}"
    device, _ = make_device("mod-query")
    other, _ = make_device("mod-query")
    for module_id in ("a", "b"):
        registry.create_module_with_sas(device.device_id, module_id, None, None, None)
        registry.update_module_twin(device.device_id, module_id, Twin(tags={"marker": marker, "name": module_id}))
    registry.create_module_with_sas(other.device_id, "a", None, None, None)
    registry.update_module_twin(other.device_id, "a", Twin(tags={"marker": "someone-else"}))

    spec = QuerySpecification(query=f"SELECT * FROM devices.modules WHERE tags.marker = '{marker}'")
    result = registry.query_iot_hub(spec, None, 100)
    assert result.type == "Twin"
    assert result.continuation_token is None
    rows = sorted((t.device_id, t.module_id) for t in result.items)
    assert rows == [(device.device_id, "a"), (device.device_id, "b")]
    assert {t.module_id: t.tags["name"] for t in result.items} == {"a": "a", "b": "b"}

    spec = QuerySpecification(
        query=f"SELECT * FROM devices.modules WHERE deviceId = '{device.device_id}' AND moduleId = 'b'"
    )
    assert [(t.device_id, t.module_id) for t in registry.query_iot_hub(spec, None, 100).items] == [
        (device.device_id, "b")
    ]
    # Module twins are not device twins.
    spec = QuerySpecification(query=f"SELECT * FROM devices WHERE tags.marker = '{marker}'")
    assert registry.query_iot_hub(spec, None, 100).items == []


def test_module_wrong_key_rejected(make_module, make_client):
    device, module, _ = make_module("mod-badkey", "bk")
    wrong = base64.b64encode(b"not-the-key-of-this-module-0123").decode()
    client = make_client(module_connection_string(device.device_id, module.module_id, wrong),
                         client_class=IoTHubModuleClient, connection_retry=False)
    with pytest.raises(CredentialError):
        bounded(client.connect, timeout=30, what="module connect with a wrong key")


def test_module_key_cannot_connect_as_device(registry, make_module, make_client):
    # A module's key is its own: it does not authenticate its device.
    device, module, _ = make_module("mod-notdev", "nd")
    client = make_client(device_connection_string(device.device_id, module.authentication.symmetric_key.primary_key),
                         connection_retry=False)
    with pytest.raises(CredentialError):
        bounded(client.connect, timeout=30, what="device connect with the module's key")
    wait_until(lambda: registry.get_device(device.device_id).connection_state == "Disconnected",
               timeout=2, what="device still Disconnected")
