"""Cloud-to-device messages sent with azure-iot-hub's own send_c2d_message,
which speaks AMQP through uamqp: AMQPS on 5671 (or AMQP over WebSockets on
443), SASL MSSBCBS with a $cbs put-token, a sender to /messages/devicebound.
uamqp trusts only certifi's bundle, to which the session fixture appended
the emulator's CA. A device client receives the messages over MQTT."""

import queue
import uuid

import pytest
from azure.iot.hub import IoTHubRegistryManager
from uamqp import TransportType

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import bounded, unique_id, wait_until

SEND_TIMEOUT = 60  # uamqp has no send timeout of its own by default


@pytest.fixture
def amqp_registry(emulator):
    """make(transport_type) -> a registry manager whose AMQP connection is
    its own and is closed after the test."""
    managers = []

    def make(transport_type=TransportType.Amqp):
        manager = IoTHubRegistryManager.from_connection_string(SERVICE_CONNECTION_STRING, transport_type)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        client = manager.amqp_svc_client
        manager.amqp_svc_client = None  # so __del__ does not close it again
        if client is not None:
            bounded(client.disconnect_sync, timeout=20, what="uamqp disconnect")


def receiving(make_client, conn_str):
    client = make_client(conn_str)
    bounded(client.connect, timeout=30, what="connect")
    received = queue.Queue()
    client.on_message_received = received.put
    return received


def send(manager, device_id, body, properties=None):
    bounded(manager.send_c2d_message, device_id, body, properties=properties or {},
            timeout=SEND_TIMEOUT, what="send_c2d_message")


def test_send_c2d_message_with_properties_over_amqps(amqp_registry, make_device, make_client):
    manager = amqp_registry()
    device, conn_str = make_device("a-c2d")
    received = receiving(make_client, conn_str)
    message_id = f"amqp-{uuid.uuid4()}"
    custom = {"color": "blue", "odd chars": "a=b&c/d e%f", "ünï": "çødé"}
    send(manager, device.device_id, '{"command":"on"}', {
        "messageId": message_id,
        "correlationId": "corr-42",
        "contentType": "application/json",
        "contentEncoding": "utf-8",
        **custom,
    })

    msg = received.get(timeout=15)
    assert msg.data == b'{"command":"on"}'
    assert msg.message_id == message_id
    assert msg.correlation_id == "corr-42"
    assert msg.content_type == "application/json"
    assert msg.content_encoding == "utf-8"
    assert msg.custom_properties == custom
    assert msg.expiry_time_utc, "every queued message has an expiry"
    wait_until(lambda: manager.get_device(device.device_id).cloud_to_device_message_count == 0,
               what="cloudToDeviceMessageCount back to 0")


def test_generated_message_id_and_queued_while_offline(amqp_registry, make_device, make_client):
    manager = amqp_registry()
    device, conn_str = make_device("a-c2d-off")
    for i in range(2):
        send(manager, device.device_id, f"m{i}", {"i": str(i)})
    # Accepted means queued: the hub counts them before the device connects.
    assert manager.get_device(device.device_id).cloud_to_device_message_count == 2

    received = receiving(make_client, conn_str)
    got = [received.get(timeout=15) for _ in range(2)]
    assert [m.data for m in got] == [b"m0", b"m1"]
    assert [m.custom_properties for m in got] == [{"i": "0"}, {"i": "1"}]
    ids = [m.message_id for m in got]
    # send_c2d_message gives every message a fresh UUID when none is set.
    assert all(uuid.UUID(i) for i in ids) and ids[0] != ids[1], ids


def test_unknown_device_raises_and_the_connection_stays_usable(amqp_registry, make_device, make_client):
    manager = amqp_registry()
    device, conn_str = make_device("a-c2d-unk")
    received = receiving(make_client, conn_str)
    # A first send proves the AMQP path works, so the failure below is the
    # hub refusing the message, not a failed connection.
    send(manager, device.device_id, "before")
    assert received.get(timeout=15).data == b"before"

    with pytest.raises(Exception, match="C2D message send failure"):
        send(manager, unique_id("no-such-device"), "lost")

    send(manager, device.device_id, "after")
    assert received.get(timeout=15).data == b"after"


def test_send_c2d_message_over_websockets(amqp_registry, make_device, make_client):
    manager = amqp_registry(TransportType.AmqpOverWebsocket)
    device, conn_str = make_device("a-c2d-ws")
    received = receiving(make_client, conn_str)
    send(manager, device.device_id, "over wss", {"messageId": "ws-1", "via": "443"})
    msg = received.get(timeout=15)
    assert msg.data == b"over wss"
    assert msg.message_id == "ws-1"
    assert msg.custom_properties == {"via": "443"}
