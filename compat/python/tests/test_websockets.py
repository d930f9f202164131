"""MQTT over WebSockets (wss://localhost:443/$iothub/websocket): the device
client with websockets=True sends telemetry, uses its twin, answers direct
methods and receives cloud-to-device messages."""

import queue
import re

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse
from azure.iot.hub.models import CloudToDeviceMethod, Twin, TwinProperties

from support.hub import bounded, wait_until


def connected(make_client, conn_str, **kwargs):
    client = make_client(conn_str, websockets=True, **kwargs)
    bounded(client.connect, timeout=30, what="connect over websockets")
    return client


def listeners_of(emulator, client_id):
    """The listeners the emulator logged client_id connecting on: proof that
    the SDK really came over WebSockets and not over 8883."""
    pattern = re.compile(r'msg="mqtt connected" .*\bclient=' + re.escape(client_id) + r' .*\blistener=(\w+)')
    return [m.group(1) for m in map(pattern.search, emulator.log_text().splitlines()) if m]


def test_websockets_telemetry_and_twin(emulator, registry, service, make_device, make_client):
    device, conn_str = make_device("t-ws")
    registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"mode": "ws"})))
    client = connected(make_client, conn_str)

    msg = Message('{"over":"websockets"}', message_id="ws-1", content_type="application/json",
                  content_encoding="utf-8")
    msg.custom_properties["transport"] = "wss"
    bounded(client.send_message, msg, what="send_message over websockets")
    (got,) = service.wait_events(device.device_id, 1)
    assert got["bodyText"] == '{"over":"websockets"}'
    assert got["systemProperties"]["message-id"] == "ws-1"
    assert got["systemProperties"]["content-type"] == "application/json"
    assert got["properties"] == {"transport": "wss"}

    twin = bounded(client.get_twin, what="get_twin over websockets")
    assert twin["desired"]["mode"] == "ws"
    bounded(client.patch_twin_reported_properties, {"via": "wss"}, what="patch over websockets")
    assert registry.get_twin(device.device_id).properties.reported["via"] == "wss"
    assert registry.get_device(device.device_id).connection_state == "Connected"
    assert wait_until(lambda: listeners_of(emulator, device.device_id), timeout=5, what="connection logged") == ["wss"]



def test_websockets_method_and_c2d(registry, service, make_device, make_client):
    device, conn_str = make_device("t-ws-cmd")
    client = connected(make_client, conn_str)
    client.on_method_request_received = lambda req: client.send_method_response(
        MethodResponse.create_from_method_request(req, 200, {"pong": req.payload})
    )
    received = queue.Queue()
    client.on_message_received = received.put
    bounded(client.get_twin, what="get_twin after subscribing")

    result = registry.invoke_device_method(
        device.device_id, CloudToDeviceMethod(method_name="ping", payload=7, response_timeout_in_seconds=10)
    )
    assert (result.status, result.payload) == (200, {"pong": 7})

    service.send_c2d(device.device_id, body="over wss", messageId="wss-c2d", properties={"k": "v"})
    msg = received.get(timeout=15)
    assert (msg.data, msg.message_id, msg.custom_properties) == (b"over wss", "wss-c2d", {"k": "v"})


def test_websockets_module_client(emulator, registry, make_module, make_client):
    device, module, conn_str = make_module("t-ws-moddev", "t-ws-mod")
    client = connected(make_client, conn_str, client_class=IoTHubModuleClient)
    bounded(client.patch_twin_reported_properties, {"via": "wss"}, what="module patch over websockets")
    twin = registry.get_module_twin(device.device_id, module.module_id)
    assert twin.properties.reported["via"] == "wss"
    client_id = f"{device.device_id}/{module.module_id}"
    assert wait_until(lambda: listeners_of(emulator, client_id), timeout=5, what="connection logged") == ["wss"]
