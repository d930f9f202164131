"""Small helpers over the official SDKs: ids, connection strings, bounded waits
and the IoT Hub REST error shape."""

import json
import threading
import time
import uuid

from msrest.exceptions import HttpOperationError


def unique_id(prefix):
    """A device id no other test uses, so tests do not depend on order."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def device_connection_string(device_id, key, host="localhost"):
    return f"HostName={host};DeviceId={device_id};SharedAccessKey={key}"


def module_connection_string(device_id, module_id, key, host="localhost"):
    return f"HostName={host};DeviceId={device_id};ModuleId={module_id};SharedAccessKey={key}"


def bounded(fn, *args, timeout=20.0, what=None, **kwargs):
    """Run fn in a daemon thread and give up after timeout seconds.

    The device SDK waits forever for a missing MQTT response; this turns such a
    hang into a test failure that names the operation."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err

    t = threading.Thread(target=run, daemon=True, name=f"bounded-{what or fn.__name__}")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"{what or getattr(fn, '__name__', 'call')} did not finish within {timeout}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def wait_until(predicate, timeout=10.0, interval=0.1, what="condition"):
    """Poll predicate until it returns a truthy value; fail after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s (last value: {last!r})")


def rest_error(excinfo_value):
    """(status, Message, iothub-errorcode header) of an HttpOperationError."""
    assert isinstance(excinfo_value, HttpOperationError), f"expected HttpOperationError, got {excinfo_value!r}"
    resp = excinfo_value.response
    try:
        body = json.loads(resp.text)
    except ValueError as err:
        raise AssertionError(f"error body is not JSON: {resp.text!r}") from err
    assert isinstance(body, dict) and "Message" in body, f"error body lacks Message: {body!r}"
    return resp.status_code, body["Message"], resp.headers.get("iothub-errorcode")


def assert_rest_error(excinfo_value, status, code):
    got_status, message, header = rest_error(excinfo_value)
    assert got_status == status, f"status {got_status}, want {status}; Message={message!r}"
    assert message.startswith(f"ErrorCode:{code};"), f"Message {message!r} should start with ErrorCode:{code};"
    assert header == code, f"iothub-errorcode header {header!r}, want {code!r}"
