"""Device side over MQTT/TLS with azure-iot-device's IoTHubDeviceClient."""

import base64
import queue

import pytest
from azure.iot.device.exceptions import ClientError, CredentialError
from azure.iot.hub.models import Twin, TwinProperties

from support.hub import bounded, device_connection_string, unique_id, wait_until


def connected(make_client, conn_str):
    client = make_client(conn_str)
    bounded(client.connect, timeout=30, what="connect")
    return client


def test_get_twin(registry, make_device, make_client):
    device, conn_str = make_device("dc-get")
    registry.update_twin(device.device_id, Twin(tags={"t": 1}, properties=TwinProperties(desired={"mode": "eco"})))
    client = connected(make_client, conn_str)
    twin = bounded(client.get_twin, what="get_twin")
    # The device view has desired and reported at the top level, nothing else.
    assert set(twin) == {"desired", "reported"}
    assert twin["desired"]["mode"] == "eco"
    assert twin["desired"]["$version"] == 2
    assert twin["reported"]["$version"] == 1


def test_patch_reported(registry, make_device, make_client):
    device, conn_str = make_device("dc-rep")
    before = registry.get_twin(device.device_id)
    client = connected(make_client, conn_str)
    patch = {"firmware": "1.2.3", "connectivity": {"type": "cellular"}}
    bounded(client.patch_twin_reported_properties, patch, what="patch_twin_reported_properties")

    after = registry.get_twin(device.device_id)
    reported = after.properties.reported
    assert reported["firmware"] == "1.2.3"
    assert reported["connectivity"] == {"type": "cellular"}
    assert reported["$version"] == before.properties.reported["$version"] + 1
    assert "$lastUpdated" in reported["$metadata"]["connectivity"]["type"]
    assert after.version > before.version

    # A second patch merges, and null deletes.
    bounded(client.patch_twin_reported_properties, {"firmware": None, "battery": 80}, what="second patch")
    twin = bounded(client.get_twin, what="get_twin")
    user = {k: v for k, v in twin["reported"].items() if not k.startswith("$")}
    assert user == {"connectivity": {"type": "cellular"}, "battery": 80}
    assert twin["reported"]["$version"] == before.properties.reported["$version"] + 2


def test_desired_patch_notification(registry, make_device, make_client):
    device, conn_str = make_device("dc-des")
    client = connected(make_client, conn_str)
    received = queue.Queue()
    client.on_twin_desired_properties_patch_received = received.put
    # Setting the handler subscribes; make sure that round trip is over before the change.
    bounded(client.get_twin, what="get_twin")

    updated = registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"fan": {"speed": 3}})))
    patch = received.get(timeout=15)
    assert patch["fan"] == {"speed": 3}
    assert patch["$version"] == updated.properties.desired["$version"]

    updated = registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"fan": {"speed": None}})))
    patch = received.get(timeout=15)
    assert patch["fan"] == {"speed": None}
    assert patch["$version"] == updated.properties.desired["$version"]

    # Tag changes are not sent to the device.
    registry.update_twin(device.device_id, Twin(tags={"only": "tags"}))
    bounded(client.get_twin, what="get_twin")
    assert received.empty()


def test_desired_patch_keeps_key_order(registry, make_device, make_client):
    # The official PnP helper (pnp_helper.create_reported_properties_from_desired,
    # used by the temp_controller_with_thermostats sample) takes the patch's
    # first key as the component name, so "$version" must come last.
    device, conn_str = make_device("dc-order")
    client = connected(make_client, conn_str)
    received = queue.Queue()
    client.on_twin_desired_properties_patch_received = received.put
    bounded(client.get_twin, what="get_twin")

    desired = {"thermostat2": {"targetTemperature": 30}, "alpha": 1}
    updated = registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired=desired)))
    patch = received.get(timeout=15)
    assert list(patch) == ["thermostat2", "alpha", "$version"]
    assert patch["$version"] == updated.properties.desired["$version"]
    component = list(patch)[0]
    assert patch[component]["targetTemperature"] == 30


def test_replace_notifies_full_desired(registry, make_device, make_client):
    device, conn_str = make_device("dc-put")
    registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"old": 1})))
    client = connected(make_client, conn_str)
    received = queue.Queue()
    client.on_twin_desired_properties_patch_received = received.put

    replaced = registry.replace_twin(device.device_id, Twin(properties=TwinProperties(desired={"new": 2})))
    patch = received.get(timeout=15)
    # The SDK reads patch["$version"] unconditionally.
    assert patch["$version"] == replaced.properties.desired["$version"]
    assert patch["new"] == 2
    twin = bounded(client.get_twin, what="get_twin")
    assert {k: v for k, v in twin["desired"].items() if not k.startswith("$")} == {"new": 2}


def test_invalid_reported_patch_rejected(registry, make_device, make_client):
    device, conn_str = make_device("dc-badrep")
    client = connected(make_client, conn_str)
    bounded(client.patch_twin_reported_properties, {"ok": 1}, what="valid patch")
    before = registry.get_twin(device.device_id).properties.reported

    # Keys may not contain spaces; the hub answers 400 and the SDK raises.
    with pytest.raises(ClientError) as exc:
        bounded(client.patch_twin_reported_properties, {"bad key": 1, "ok": 2}, what="invalid patch")
    assert "400" in str(exc.value.__cause__), repr(exc.value.__cause__)

    # json.dumps writes a lone surrogate as the escape \ud800, which is not
    # Unicode; the hub refuses it instead of storing U+FFFD.
    with pytest.raises(ClientError) as exc:
        bounded(client.patch_twin_reported_properties, {"ok": "\ud800"}, what="lone surrogate patch")
    assert "400" in str(exc.value.__cause__), repr(exc.value.__cause__)

    assert registry.get_twin(device.device_id).properties.reported == before
    twin = bounded(client.get_twin, what="get_twin after the refused patch")
    assert twin["reported"]["ok"] == 1


def test_connection_state_tracks_device(registry, make_device, make_client):
    device, conn_str = make_device("dc-conn")
    client = connected(make_client, conn_str)
    wait_until(
        lambda: registry.get_device(device.device_id).connection_state == "Connected",
        what="device shows Connected",
    )
    assert registry.get_twin(device.device_id).connection_state == "Connected"
    assert registry.get_service_statistics().connected_device_count >= 1
    bounded(client.disconnect, what="disconnect")
    wait_until(
        lambda: registry.get_device(device.device_id).connection_state == "Disconnected",
        what="device shows Disconnected",
    )


def test_subscription_survives_reconnect(registry, make_device, make_client):
    # The SDK connects with clean_session=0 and never re-subscribes after a
    # reconnect: it relies on the hub keeping the session's subscriptions.
    device, conn_str = make_device("dc-session")
    client = connected(make_client, conn_str)
    received = queue.Queue()
    client.on_twin_desired_properties_patch_received = received.put
    bounded(client.disconnect, what="disconnect")
    bounded(client.connect, timeout=30, what="reconnect")

    updated = registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"after": "reconnect"})))
    patch = received.get(timeout=15)
    assert patch["after"] == "reconnect"
    assert patch["$version"] == updated.properties.desired["$version"]


def test_second_connection_takes_over(registry, make_device, make_client):
    device, conn_str = make_device("dc-takeover")
    first = make_client(conn_str, connection_retry=False)
    bounded(first.connect, timeout=30, what="first connect")
    second = connected(make_client, conn_str)
    wait_until(lambda: not first.connected, what="the first connection is closed")
    assert second.connected
    twin = bounded(second.get_twin, what="get_twin on the new connection")
    assert twin["reported"]["$version"] == 1
    assert registry.get_device(device.device_id).connection_state == "Connected"


def test_disabling_disconnects_device(registry, make_device, make_client):
    device, conn_str = make_device("dc-disable")
    client = make_client(conn_str, connection_retry=False)
    bounded(client.connect, timeout=30, what="connect")
    keys = device.authentication.symmetric_key
    registry.update_device_with_sas(device.device_id, "*", keys.primary_key, keys.secondary_key, "disabled")
    wait_until(lambda: not client.connected, what="the disabled device is disconnected")
    wait_until(
        lambda: registry.get_device(device.device_id).connection_state == "Disconnected",
        what="device shows Disconnected",
    )


def test_wrong_key_rejected(make_device, make_client):
    device, _ = make_device("dc-badkey")
    wrong = base64.b64encode(b"not-the-key-of-this-device-0123").decode()
    client = make_client(device_connection_string(device.device_id, wrong), connection_retry=False)
    with pytest.raises(CredentialError):
        bounded(client.connect, timeout=30, what="connect with a wrong key")


def test_unknown_device_rejected(make_client):
    key = base64.b64encode(b"k" * 32).decode()
    client = make_client(device_connection_string(unique_id("dc-nobody"), key), connection_retry=False)
    with pytest.raises(CredentialError):
        bounded(client.connect, timeout=30, what="connect as an unknown device")


def test_disabled_device_rejected(make_device, make_client):
    _, conn_str = make_device("dc-off", status="disabled")
    client = make_client(conn_str, connection_retry=False)
    with pytest.raises(CredentialError):
        bounded(client.connect, timeout=30, what="connect as a disabled device")
