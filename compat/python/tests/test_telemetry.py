"""Device-to-cloud telemetry from IoTHubDeviceClient/IoTHubModuleClient.send_message,
read back through the emulator's events endpoint and its event stream."""

import base64
import json
import time

from azure.iot.device import IoTHubModuleClient, Message

from support.hub import bounded


def connected(make_client, conn_str, **kwargs):
    client = make_client(conn_str, **kwargs)
    bounded(client.connect, timeout=30, what="connect")
    return client


def test_message_with_system_and_application_properties(service, make_device, make_client):
    device, conn_str = make_device("t-props")
    client = connected(make_client, conn_str)
    body = json.dumps({"temperature": 21.5, "unit": "°C"})
    msg = Message(body, message_id="msg-0001", content_encoding="utf-8", content_type="application/json")
    msg.correlation_id = "corr-42"
    msg.user_id = "user-9"
    msg.custom_properties = {"alert": "true", "with space": "a&b=c/d", "ünï": "çødé"}
    bounded(client.send_message, msg, what="send_message")

    (got,) = service.wait_events(device.device_id, 1)
    assert got["deviceId"] == device.device_id
    assert "moduleId" not in got or not got["moduleId"]
    assert base64.b64decode(got["body"]) == body.encode("utf-8")
    assert got["bodyText"] == body
    sysprops = got["systemProperties"]
    assert sysprops["message-id"] == "msg-0001"
    assert sysprops["correlation-id"] == "corr-42"
    assert sysprops["user-id"] == "user-9"
    assert sysprops["content-type"] == "application/json"
    assert sysprops["content-encoding"] == "utf-8"
    assert sysprops["iothub-connection-device-id"] == device.device_id
    # Custom properties are the application properties, exactly, nothing else.
    assert got["properties"] == {"alert": "true", "with space": "a&b=c/d", "ünï": "çødé"}
    assert isinstance(got["sequenceNumber"], int) and got["sequenceNumber"] > 0
    assert got["enqueuedTime"]


def test_messages_in_order_and_paging(service, make_device, make_client):
    device, conn_str = make_device("t-order")
    client = connected(make_client, conn_str)
    for i in range(5):
        bounded(client.send_message, Message(f"n={i}"), what=f"send_message {i}")
    got = service.wait_events(device.device_id, 5)
    assert [m["bodyText"] for m in got] == [f"n={i}" for i in range(5)]
    seqs = [m["sequenceNumber"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    # A message sent with no properties still has the hub's own ones and an
    # empty application bag.
    assert got[0]["properties"] == {}
    assert "message-id" not in got[0]["systemProperties"]

    first = service.events(device.device_id, max_count=2)
    assert [m["bodyText"] for m in first["messages"]] == ["n=0", "n=1"]
    rest = service.events(device.device_id, from_seq=first["nextSequenceNumber"])
    assert [m["bodyText"] for m in rest["messages"]] == ["n=2", "n=3", "n=4"]


def test_binary_body(service, make_device, make_client):
    device, conn_str = make_device("t-bin")
    client = connected(make_client, conn_str)
    payload = bytes(range(256))
    bounded(client.send_message, Message(payload), what="send_message")
    (got,) = service.wait_events(device.device_id, 1)
    assert base64.b64decode(got["body"]) == payload
    assert "bodyText" not in got


def test_module_telemetry_is_tagged_with_the_module(service, make_module, make_client):
    device, module, conn_str = make_module("t-moddev", "t-mod")
    client = connected(make_client, conn_str, client_class=IoTHubModuleClient)
    msg = Message("from the module", message_id="m-1")
    msg.custom_properties["k"] = "v"
    bounded(client.send_message, msg, what="module send_message")

    (got,) = service.wait_events(device.device_id, 1, module_id=module.module_id)
    assert got["deviceId"] == device.device_id
    assert got["moduleId"] == module.module_id
    assert got["bodyText"] == "from the module"
    assert got["systemProperties"]["message-id"] == "m-1"
    assert got["systemProperties"]["iothub-connection-module-id"] == module.module_id
    assert got["properties"] == {"k": "v"}


def read_sse_event(resp, timeout=10.0):
    """The next server-sent event as {field: value}; comment lines are skipped."""
    deadline = time.monotonic() + timeout
    event = {}
    for line in resp.iter_lines(chunk_size=1, decode_unicode=True):  # unbuffered: events are small
        if time.monotonic() > deadline:
            break
        if line == "" and event:
            return event
        if line and not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value[1:] if value.startswith(" ") else value
    raise AssertionError(f"no complete event within {timeout}s (partial: {event!r})")


def test_event_stream_delivers_new_messages(service, make_device, make_client):
    device, conn_str = make_device("t-sse")
    client = connected(make_client, conn_str)
    with service.open_event_stream(device.device_id) as stream:
        msg = Message("streamed", message_id="sse-1")
        msg.custom_properties["n"] = "1"
        bounded(client.send_message, msg, what="send_message")
        event = read_sse_event(stream)
    assert event.get("event") == "message", event
    got = json.loads(event["data"])
    assert event["id"] == str(got["sequenceNumber"])
    assert got["deviceId"] == device.device_id
    assert got["bodyText"] == "streamed"
    assert got["systemProperties"]["message-id"] == "sse-1"
    assert got["properties"] == {"n": "1"}
