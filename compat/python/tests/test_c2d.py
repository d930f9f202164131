"""Cloud-to-device messages: sent through the emulator's endpoint (IoT Hub's
service SDKs send over AMQP), received by IoTHubDeviceClient.on_message_received;
purge and feedback through azure-iot-hub's own REST operations."""

import json
import queue
import time
import uuid

from azure.iot.hub import IoTHubHttpRuntimeManager

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import bounded, wait_until


def receiving(make_client, conn_str):
    """A connected client whose received C2D messages go to the returned queue."""
    client = make_client(conn_str)
    bounded(client.connect, timeout=30, what="connect")
    received = queue.Queue()
    client.on_message_received = received.put
    return client, received


def c2d_count(registry, device_id):
    return registry.get_device(device_id).cloud_to_device_message_count


def test_delivered_with_properties_and_feedback(registry, service, make_device, make_client):
    device, conn_str = make_device("c-props")
    _, received = receiving(make_client, conn_str)
    message_id = f"c2d-{uuid.uuid4()}"
    properties = {"color": "blue", "odd chars": "a=b&c/d e%f", "ünï": "çødé", "empty": ""}
    queued = service.send_c2d(
        device.device_id,
        body='{"command":"on"}',
        messageId=message_id,
        correlationId="corr-7",
        contentType="application/json",
        contentEncoding="utf-8",
        ack="full",
        properties=properties,
    )
    assert queued["messageId"] == message_id

    msg = received.get(timeout=15)
    assert msg.data == b'{"command":"on"}'
    assert msg.message_id == message_id
    assert msg.correlation_id == "corr-7"
    assert msg.content_type == "application/json"
    assert msg.content_encoding == "utf-8"
    assert msg.custom_properties == properties
    assert msg.ack.lower() == "full"
    assert msg.expiry_time_utc, "every queued message has an expiry"

    # The SDK's PUBACK completes the message: the queue is empty again and a
    # Success record is waiting for the sender.
    wait_until(lambda: c2d_count(registry, device.device_id) == 0, what="cloudToDeviceMessageCount back to 0")
    records = wait_until(
        lambda: [r for r in service.feedback() if r["originalMessageId"] == message_id],
        what="a feedback record for the message",
    )
    assert len(records) == 1
    assert records[0]["statusCode"] == "Success"
    assert records[0]["deviceId"] == device.device_id
    assert records[0]["deviceGenerationId"] == device.generation_id
    assert received.empty(), "a completed message is not delivered again"


def test_generated_message_id_and_no_ack(registry, service, make_device, make_client):
    device, conn_str = make_device("c-noack")
    _, received = receiving(make_client, conn_str)
    queued = service.send_c2d(device.device_id, body="plain")
    msg = received.get(timeout=15)
    assert msg.data == b"plain"
    assert msg.message_id == queued["messageId"] and msg.message_id
    assert msg.custom_properties == {}
    wait_until(lambda: c2d_count(registry, device.device_id) == 0, what="cloudToDeviceMessageCount back to 0")
    time.sleep(0.2)  # a feedback record, if one were wrongly made, is made at completion
    assert not [r for r in service.feedback() if r["originalMessageId"] == queued["messageId"]]


def test_queued_while_offline_then_delivered_in_order(registry, service, make_device, make_client):
    device, conn_str = make_device("c-offline")
    ids = [service.send_c2d(device.device_id, body=f"m{i}", properties={"i": str(i)})["messageId"] for i in range(3)]
    assert c2d_count(registry, device.device_id) == 3
    assert registry.get_twin(device.device_id).cloud_to_device_message_count == 3

    _, received = receiving(make_client, conn_str)
    got = [received.get(timeout=15) for _ in range(3)]
    assert [m.data for m in got] == [b"m0", b"m1", b"m2"]
    assert [m.message_id for m in got] == ids
    assert [m.custom_properties for m in got] == [{"i": "0"}, {"i": "1"}, {"i": "2"}]
    wait_until(lambda: c2d_count(registry, device.device_id) == 0, what="cloudToDeviceMessageCount back to 0")


def test_purge_empties_the_queue(registry, service, make_device, make_client):
    device, conn_str = make_device("c-purge")
    for i in range(2):
        service.send_c2d(device.device_id, body=f"stale {i}", ack="full")
    purged = registry.protocol.cloud_to_device_messages.purge_cloud_to_device_message_queue(device.device_id)
    assert purged.total_messages_purged == 2
    assert purged.device_id == device.device_id
    assert c2d_count(registry, device.device_id) == 0

    _, received = receiving(make_client, conn_str)
    service.send_c2d(device.device_id, body="fresh")
    assert received.get(timeout=15).data == b"fresh"
    time.sleep(0.3)
    assert received.empty(), "purged messages are never delivered"


def test_feedback_through_the_service_sdk(registry, service, make_device, make_client):
    device, conn_str = make_device("c-fb")
    _, received = receiving(make_client, conn_str)
    message_id = f"fb-{uuid.uuid4()}"
    service.send_c2d(device.device_id, body="ack me", messageId=message_id, ack="positive")
    assert received.get(timeout=15).message_id == message_id

    runtime = IoTHubHttpRuntimeManager.from_connection_string(SERVICE_CONNECTION_STRING)
    ops = runtime.protocol.cloud_to_device_messages
    mine = []
    deadline = time.monotonic() + 10
    while not mine and time.monotonic() < deadline:  # other tests' records may come first
        raw = ops.receive_feedback_notification(raw=True)
        resp = raw.response
        if resp.status_code == 204:
            time.sleep(0.1)
            continue
        assert resp.status_code == 200, resp.text
        lock_token = resp.headers["ETag"].strip('"')
        assert lock_token
        records = json.loads(resp.text)
        assert isinstance(records, list) and records
        mine = [r for r in records if r["originalMessageId"] == message_id]
        runtime.complete_feedback_notification(lock_token)
    assert [r["statusCode"] for r in mine] == ["Success"]
    assert mine[0]["deviceId"] == device.device_id
