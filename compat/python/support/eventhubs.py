"""The Event Hubs-compatible endpoint as azure-eventhub sees it: connection
strings, reading events with EventHubConsumerClient.receive from a
background thread with bounded waits, and decoding what pyamqp hands back
as bytes."""

import queue
import threading
import time

from azure.iot.hub.connection_string import ConnectionString

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import bounded

# The entity name for a hub reached by address or `localhost`: the hub name
# is then `iothub-emulator`, and the plain hub name is accepted too.
HUB_NAME = "iothub-emulator"
EVENT_HUB_NAME = f"iothub-ehub-{HUB_NAME}"
PARTITION_IDS = ["0", "1", "2", "3"]

_OWNER_KEY = ConnectionString(SERVICE_CONNECTION_STRING)["SharedAccessKey"]


def event_hubs_connection_string(host="localhost", entity=EVENT_HUB_NAME, development_emulator=False,
                                 key_name="iothubowner", key=_OWNER_KEY):
    """The endpoint's connection string as the Azure portal shows it (built-in
    endpoints), or its plain-AMQP form with UseDevelopmentEmulator=true."""
    cs = f"Endpoint=sb://{host}/;SharedAccessKeyName={key_name};SharedAccessKey={key};EntityPath={entity}"
    return cs + ";UseDevelopmentEmulator=true" if development_emulator else cs


def text(value):
    """pyamqp decodes AMQP strings and symbols to bytes: this turns them, and
    the keys and values of a dict, into str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {text(k): text(v) for k, v in value.items()}
    return value


def device_of(event):
    return text((event.system_properties or {}).get(b"iothub-connection-device-id"))


class Receiving:
    """EventHubConsumerClient.receive running in a daemon thread.

    receive() blocks until the client is closed, so events and errors are
    collected into queues here; next_from() waits, bounded, for the next event
    of one device and fails at once on a reported error (no error is expected
    from an emulator on loopback unless a test asks for one)."""

    def __init__(self, consumer, **receive_kwargs):
        self.consumer = consumer
        self.events = queue.Queue()
        self.errors = queue.Queue()
        self.initialized = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, kwargs=receive_kwargs, daemon=True, name="eh-receive")
        self._thread.start()

    def _run(self, **kwargs):
        try:
            self.consumer.receive(
                on_event=self._on_event,
                on_error=lambda ctx, err: self.errors.put((getattr(ctx, "partition_id", None), err)),
                on_partition_initialize=lambda ctx: self.initialized.put(ctx.partition_id),
                **kwargs,
            )
        except BaseException as err:  # reported to the test's thread
            self.errors.put((None, err))

    def _on_event(self, ctx, event):
        if event is not None:
            self.events.put((ctx.partition_id, event))

    def _raise_errors(self):
        if not self.errors.empty():
            errs = []
            while not self.errors.empty():
                errs.append(self.errors.get())
            raise AssertionError(f"the consumer reported errors (partition, error): {errs!r}")

    def next_from(self, device_id, timeout=20.0, what=None):
        """(partition id, event) of the next event device_id sent; other
        devices' events are passed over."""
        deadline = time.monotonic() + timeout
        while True:
            self._raise_errors()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what or 'event'} from {device_id} within {timeout}s")
            try:
                pid, event = self.events.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if device_of(event) == device_id:
                return pid, event

    def take_from(self, device_id, count, timeout=20.0):
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            got.append(self.next_from(device_id, timeout=max(0.1, deadline - time.monotonic()),
                                      what=f"event {len(got) + 1} of {count}"))
        return got

    def wait_error(self, timeout=30.0):
        """The first error the consumer reports, within timeout."""
        try:
            return self.errors.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the consumer reported no error within {timeout}s") from None

    def close(self):
        if self._closed:
            return
        self._closed = True
        bounded(self.consumer.close, timeout=30, what="EventHubConsumerClient.close")
        self._thread.join(10)
        assert not self._thread.is_alive(), "receive() did not return after close()"
