"""Device telemetry read back through the hub's Event Hubs-compatible
endpoint with azure-eventhub's EventHubConsumerClient (its pure-Python AMQP
stack): AMQPS on 5671 with connection_verify=<the emulator's CA>, and plain
AMQP on 5672 with UseDevelopmentEmulator=true. Devices send over MQTT."""

import datetime
import os
import time
import uuid

import pytest
from azure.eventhub import EventHubConsumerClient, TransportType
from azure.eventhub.exceptions import AuthenticationError
from azure.iot.device import IoTHubModuleClient, Message
from azure.iot.hub.connection_string import ConnectionString

from support.emulator import EXTRA_CONSUMER_GROUP, SERVICE_CONNECTION_STRING
from support.eventhubs import (
    EVENT_HUB_NAME, HUB_NAME, PARTITION_IDS, Receiving, device_of, event_hubs_connection_string, text,
)
from support.hub import bounded

TLS_CS = event_hubs_connection_string()
PLAIN_CS = event_hubs_connection_string(development_emulator=True)
OWNER_KEY = ConnectionString(SERVICE_CONNECTION_STRING)["SharedAccessKey"]


@pytest.fixture
def eh(emulator):
    """Event Hubs clients for one test, all closed afterwards."""

    class Clients:
        def __init__(self):
            self.consumers, self.receivers = [], []

        def consumer(self, connection_string=TLS_CS, consumer_group="$Default", **kwargs):
            if "UseDevelopmentEmulator=true" not in connection_string:
                kwargs.setdefault("connection_verify", str(emulator.ca_path))
            if os.environ.get("COMPAT_AMQP_TRACE"):
                kwargs.setdefault("logging_enable", True)  # every AMQP frame, to the captured log
            client = EventHubConsumerClient.from_connection_string(
                connection_string, consumer_group=consumer_group, **kwargs)
            self.consumers.append(client)
            return client

        def receive(self, connection_string=TLS_CS, consumer_group="$Default", client_kwargs=None, **receive_kwargs):
            """A Receiving over a fresh consumer; receive_kwargs go to receive()."""
            client = self.consumer(connection_string, consumer_group, **(client_kwargs or {}))
            self.consumers.remove(client)  # closed by the Receiving
            receiving = Receiving(client, **receive_kwargs)
            self.receivers.append(receiving)
            return receiving

        def receive_new(self, connection_string=TLS_CS, consumer_group="$Default", client_kwargs=None,
                        **receive_kwargs):
            """A Receiving of only the events enqueued from now on, in every partition.

            The synchronous EventHubConsumerClient serves its partitions in
            turn, one event per partition per turn, each empty partition
            costing a socket timeout (0.2 s over TCP, 1 s over WebSockets):
            reading a busy partition from the beginning is slow, so tests that
            do not test "-1" start after each partition's last event."""
            client = self.consumer(connection_string, consumer_group, **(client_kwargs or {}))
            self.consumers.remove(client)  # closed by the Receiving
            positions = {
                pid: bounded(client.get_partition_properties, pid, timeout=30,
                             what=f"partition {pid} properties")["last_enqueued_sequence_number"]
                for pid in PARTITION_IDS
            }
            receiving = Receiving(client, starting_position=positions, starting_position_inclusive=False,
                                  **receive_kwargs)
            self.receivers.append(receiving)
            return receiving

        def close(self):
            for receiving in self.receivers:
                receiving.close()
            for client in self.consumers:
                bounded(client.close, timeout=30, what="EventHubConsumerClient.close")

    clients = Clients()
    yield clients
    clients.close()


def connected(make_client, conn_str, **kwargs):
    client = make_client(conn_str, **kwargs)
    bounded(client.connect, timeout=30, what="connect")
    return client


def send(client, body, **fields):
    msg = Message(body)
    for name, value in fields.items():
        setattr(msg, name, value)
    bounded(client.send_message, msg, what="send_message")


def bodies(events):
    return [event.body_as_str() for _, event in events]


def test_eventhub_and_partition_ids(eh):
    consumer = eh.consumer()
    props = bounded(consumer.get_eventhub_properties, timeout=30, what="get_eventhub_properties")
    assert props["eventhub_name"] == EVENT_HUB_NAME
    assert props["partition_ids"] == PARTITION_IDS
    assert isinstance(props["created_at"], datetime.datetime)
    assert bounded(consumer.get_partition_ids, timeout=30, what="get_partition_ids") == PARTITION_IDS


def test_telemetry_with_system_and_application_properties(eh, make_device, make_client):
    device, conn_str = make_device("eh-props")
    client = connected(make_client, conn_str)
    receiving = eh.receive_new()
    custom = {"alert": "true", "with space": "a&b=c/d", "ünï": "çødé"}
    before = datetime.datetime.now(datetime.timezone.utc)
    send(client, '{"temperature":21.5}', message_id="msg-0001", correlation_id="corr-42", user_id="user-9",
         content_type="application/json", content_encoding="utf-8", custom_properties=custom)

    partition_id, event = receiving.next_from(device.device_id)
    assert partition_id in PARTITION_IDS
    assert event.body_as_str() == '{"temperature":21.5}'
    assert text(event.properties) == custom
    sysprops = event.system_properties
    assert sysprops[b"iothub-connection-device-id"] == device.device_id.encode()
    assert b"iothub-connection-module-id" not in sysprops
    assert sysprops[b"message-id"] == b"msg-0001"
    assert sysprops[b"correlation-id"] == b"corr-42"
    assert sysprops[b"user-id"] == b"user-9"
    assert sysprops[b"content-type"] == b"application/json"
    assert sysprops[b"content-encoding"] == b"utf-8"
    assert sysprops[b"iothub-connection-auth-method"], sysprops
    assert sysprops[b"iothub-enqueuedtime"], sysprops
    # The Event Hubs annotations, and the SDK's typed view of them.
    assert sysprops[b"x-opt-sequence-number"] == event.sequence_number
    assert isinstance(event.sequence_number, int) and event.sequence_number >= 0
    assert sysprops[b"x-opt-offset"] == event.offset.encode()
    assert event.offset.isdigit(), event.offset
    assert isinstance(sysprops[b"x-opt-enqueued-time"], int)
    assert event.enqueued_time.tzinfo is not None
    skew = datetime.timedelta(seconds=5)
    assert before - skew <= event.enqueued_time <= datetime.datetime.now(datetime.timezone.utc) + skew


def test_events_of_a_device_in_order_on_one_partition(eh, make_device, make_client):
    device, conn_str = make_device("eh-order")
    client = connected(make_client, conn_str)
    receiving = eh.receive_new()
    for i in range(4):
        send(client, f"n={i}")
    got = receiving.take_from(device.device_id, 4)
    assert bodies(got) == [f"n={i}" for i in range(4)]
    assert len({pid for pid, _ in got}) == 1, "a device's events share one partition"
    seqs = [e.sequence_number for _, e in got]
    offsets = [int(e.offset) for _, e in got]
    assert seqs == sorted(set(seqs)), seqs
    assert offsets == sorted(set(offsets)), offsets
    # A message sent with no properties has an empty application bag.
    assert not got[0][1].properties


def test_module_telemetry_names_the_module(eh, make_module, make_client):
    device, module, conn_str = make_module("eh-mdev", "eh-mod")
    client = connected(make_client, conn_str, client_class=IoTHubModuleClient)
    receiving = eh.receive_new()
    send(client, "from the module")
    _, event = receiving.next_from(device.device_id)
    assert event.body_as_str() == "from the module"
    assert event.system_properties[b"iothub-connection-module-id"] == module.module_id.encode()


def test_partition_properties_describe_the_last_event(eh, make_device, make_client):
    device, conn_str = make_device("eh-part")
    client = connected(make_client, conn_str)
    consumer = eh.consumer()
    receiving = eh.receive_new()
    send(client, "last one")
    partition_id, event = receiving.next_from(device.device_id)

    props = bounded(consumer.get_partition_properties, partition_id, timeout=30, what="get_partition_properties")
    assert props["eventhub_name"] == EVENT_HUB_NAME
    assert props["id"] == partition_id
    assert props["is_empty"] is False
    assert props["last_enqueued_sequence_number"] == event.sequence_number
    assert props["last_enqueued_offset"] == event.offset
    assert props["last_enqueued_time_utc"] == event.enqueued_time
    assert 0 <= props["beginning_sequence_number"] <= event.sequence_number
    for pid in PARTITION_IDS:
        other = bounded(consumer.get_partition_properties, pid, timeout=30, what=f"partition {pid} properties")
        assert other["id"] == pid
        assert isinstance(other["is_empty"], bool)


def test_starting_from_the_beginning_or_only_new_events(eh, make_device, make_client):
    device, conn_str = make_device("eh-start")
    client = connected(make_client, conn_str)
    locate = eh.receive_new()
    send(client, "old-0")
    send(client, "old-1")
    partition_id, _ = locate.take_from(device.device_id, 2)[0]
    locate.close()

    earliest = eh.receive(partition_id=partition_id, starting_position="-1")
    assert bodies(earliest.take_from(device.device_id, 2)) == ["old-0", "old-1"]
    earliest.close()

    latest = eh.receive(partition_id=partition_id, starting_position="@latest")
    # @latest is taken when the link attaches, which the SDK does not
    # report; send until a new event arrives, and check that none of the
    # old ones ever does.
    deadline = time.monotonic() + 30
    sent = 0
    while True:
        send(client, f"new-{sent}")
        sent += 1
        try:
            _, event = latest.next_from(device.device_id, timeout=1.5)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    assert event.body_as_str().startswith("new-"), event.body_as_str()


def test_starting_at_a_sequence_number_an_offset_or_a_time(eh, make_device, make_client):
    device, conn_str = make_device("eh-pos")
    client = connected(make_client, conn_str)
    first = eh.receive_new()
    for i in range(3):
        send(client, f"m{i}")
        time.sleep(0.05)  # distinct enqueued times, to the millisecond
    got = first.take_from(device.device_id, 3)
    partition_id = got[0][0]
    m1 = got[1][1]
    assert m1.body_as_str() == "m1"
    assert got[2][1].enqueued_time > m1.enqueued_time

    cases = [
        (m1.sequence_number, True, "m1"),
        (m1.sequence_number, False, "m2"),
        (m1.offset, True, "m1"),
        (m1.offset, False, "m2"),
        (m1.enqueued_time, True, "m1"),
        (m1.enqueued_time, False, "m2"),
    ]
    first.close()
    for position, inclusive, want in cases:
        receiving = eh.receive(partition_id=partition_id, starting_position=position,
                               starting_position_inclusive=inclusive)
        _, event = receiving.next_from(device.device_id, what=f"event from {position!r} inclusive={inclusive}")
        assert event.body_as_str() == want, (position, inclusive)
        # Event Hubs allows five readers per partition and consumer group.
        receiving.close()


def test_plain_amqp_with_use_development_emulator(eh, make_device, make_client):
    device, conn_str = make_device("eh-plain")
    client = connected(make_client, conn_str)
    consumer = eh.consumer(PLAIN_CS)
    props = bounded(consumer.get_eventhub_properties, timeout=30, what="get_eventhub_properties on 5672")
    assert props["eventhub_name"] == EVENT_HUB_NAME
    assert props["partition_ids"] == PARTITION_IDS

    receiving = eh.receive_new(PLAIN_CS)
    send(client, "over plain amqp", custom_properties={"k": "v"})
    _, event = receiving.next_from(device.device_id)
    assert event.body_as_str() == "over plain amqp"
    assert text(event.properties) == {"k": "v"}
    assert event.system_properties[b"iothub-connection-device-id"] == device.device_id.encode()


def test_amqp_over_websockets_on_443(eh, make_device, make_client):
    device, conn_str = make_device("eh-ws")
    client = connected(make_client, conn_str)
    ws = {"transport_type": TransportType.AmqpOverWebsocket}
    consumer = eh.consumer(**ws)
    assert bounded(consumer.get_partition_ids, timeout=30, what="get_partition_ids over WebSockets") == PARTITION_IDS
    receiving = eh.receive_new(client_kwargs=ws)
    send(client, "over wss")
    _, event = receiving.next_from(device.device_id)
    assert event.body_as_str() == "over wss"


def test_the_printed_connection_strings_work(emulator, eh, make_device, make_client):
    printed = emulator.printed_event_hubs_connection_strings()
    tls = [cs for cs in printed if "UseDevelopmentEmulator" not in cs]
    plain = [cs for cs in printed if "UseDevelopmentEmulator=true" in cs]
    assert tls and plain, f"start-up output should print both connection strings, got {printed!r}"
    for cs in (tls[0], plain[0]):
        fields = dict(part.split("=", 1) for part in cs.split(";") if part)
        assert fields["EntityPath"] == EVENT_HUB_NAME, cs
        assert fields["SharedAccessKeyName"] == "iothubowner", cs
        assert fields["SharedAccessKey"] == OWNER_KEY, cs

    device, conn_str = make_device("eh-printed")
    client = connected(make_client, conn_str)
    receivers = [eh.receive_new(cs) for cs in (tls[0], plain[0])]
    send(client, "printed")
    for receiving in receivers:
        _, event = receiving.next_from(device.device_id)
        assert event.body_as_str() == "printed"


def test_the_hub_name_is_accepted_as_the_entity(eh):
    consumer = eh.consumer(event_hubs_connection_string(entity=HUB_NAME))
    assert bounded(consumer.get_partition_ids, timeout=30, what="get_partition_ids") == PARTITION_IDS


def test_consumer_groups_read_independently(eh, make_device, make_client):
    device, conn_str = make_device("eh-cg")
    client = connected(make_client, conn_str)
    default = eh.receive_new()
    extra = eh.receive_new(consumer_group=EXTRA_CONSUMER_GROUP)
    send(client, "for every group")
    for receiving in (default, extra):
        _, event = receiving.next_from(device.device_id)
        assert event.body_as_str() == "for every group"


def test_unknown_consumer_group_is_refused(eh):
    # The same endpoint answers for $Default, so the error below is the
    # group being refused, not the endpoint being unreachable.
    assert bounded(eh.consumer().get_partition_ids, timeout=30, what="get_partition_ids") == PARTITION_IDS
    group = f"no-such-group-{uuid.uuid4().hex[:6]}"
    receiving = eh.receive(consumer_group=group, client_kwargs={"retry_total": 0}, starting_position="-1")
    _, err = receiving.wait_error(timeout=30)
    # Event Hubs detaches the receiver link with amqp:not-found.
    assert "not-found" in str(err).lower() or "notfound" in str(err).lower(), repr(err)
    assert receiving.events.empty()


def test_wrong_key_is_refused(eh):
    assert bounded(eh.consumer().get_partition_ids, timeout=30, what="get_partition_ids") == PARTITION_IDS
    wrong = event_hubs_connection_string(key="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    consumer = eh.consumer(wrong, retry_total=0)
    with pytest.raises(AuthenticationError):
        bounded(consumer.get_eventhub_properties, timeout=30, what="get_eventhub_properties with a wrong key")


def _partition_with_an_event(eh, make_device, make_client, prefix):
    """(device id, partition id) of a fresh device that has sent one event."""
    device, conn_str = make_device(prefix)
    client = connected(make_client, conn_str)
    finder = eh.receive_new()
    send(client, "marker")
    partition_id, _ = finder.next_from(device.device_id)
    finder.close()
    return device.device_id, partition_id


def test_five_readers_per_partition_and_consumer_group(eh, make_device, make_client):
    device_id, partition_id = _partition_with_an_event(eh, make_device, make_client, "eh-five")
    readers = []
    for _ in range(5):
        reader = eh.receive(consumer_group=EXTRA_CONSUMER_GROUP, partition_id=partition_id, starting_position="-1")
        reader.next_from(device_id)  # attached and reading
        readers.append(reader)

    sixth = eh.receive(consumer_group=EXTRA_CONSUMER_GROUP, partition_id=partition_id, starting_position="-1",
                       client_kwargs={"retry_total": 0})
    _, err = sixth.wait_error(timeout=30)
    # Event Hubs refuses it with amqp:resource-limit-exceeded (QuotaExceeded).
    assert "quota" in str(err).lower() or "resource-limit" in str(err).lower(), repr(err)
    sixth.close()

    readers.pop().close()
    again = eh.receive(consumer_group=EXTRA_CONSUMER_GROUP, partition_id=partition_id, starting_position="-1")
    _, event = again.next_from(device_id)
    assert event.body_as_str() == "marker"
    for reader in readers:
        assert reader.errors.empty(), "the other readers are untouched"


def test_a_higher_owner_level_takes_the_partition(eh, make_device, make_client):
    device_id, partition_id = _partition_with_an_event(eh, make_device, make_client, "eh-epoch")
    low = eh.receive(partition_id=partition_id, starting_position="-1", owner_level=1,
                     client_kwargs={"retry_total": 0})
    low.next_from(device_id)
    high = eh.receive(partition_id=partition_id, starting_position="-1", owner_level=2)
    _, event = high.next_from(device_id)
    assert event.body_as_str() == "marker"
    # The lower owner level loses the partition: Event Hubs detaches its
    # link with amqp:link:stolen, which the SDK reports as ownership lost.
    _, err = low.wait_error(timeout=30)
    assert "stolen" in str(err).lower() or "ownership" in str(err).lower(), repr(err)
