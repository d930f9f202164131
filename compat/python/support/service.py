"""The emulator's own service endpoints, which stand in for what IoT Hub does
over AMQP: reading telemetry back (the hub's Event Hubs endpoint) and sending
cloud-to-device messages. Called with requests and the usual service SAS
token, as any back-end app would."""

import time

import requests
from azure.iot.hub.connection_string import ConnectionString
from azure.iot.hub.sastoken import SasToken

from support.emulator import HTTPS_PORT, SERVICE_CONNECTION_STRING


class ServiceREST:
    """Service calls to the emulator on https://localhost, trusting its CA."""

    def __init__(self, ca_path, connection_string=SERVICE_CONNECTION_STRING):
        cs = ConnectionString(connection_string)
        self._host = cs["HostName"]
        self._key = cs["SharedAccessKey"]
        self._key_name = cs["SharedAccessKeyName"]
        self._ca = str(ca_path)
        self.base = f"https://{self._host}:{HTTPS_PORT}"

    def request(self, method, path, timeout=30, **kwargs):
        # A fresh token for every call, as the service SDKs do.
        headers = {"Authorization": str(SasToken(self._host, self._key, self._key_name))}
        headers.update(kwargs.pop("headers", {}))
        return requests.request(method, self.base + path, headers=headers, verify=self._ca, timeout=timeout, **kwargs)

    def ok_json(self, method, path, **kwargs):
        resp = self.request(method, path, **kwargs)
        assert resp.status_code == 200, f"{method} {path}: {resp.status_code} {resp.text}"
        assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
        return resp.json()

    # Telemetry read-back.

    def events(self, device_id, module_id=None, from_seq=None, max_count=None, wait_seconds=None):
        """One page of GET /emulator/messages/events for the device (and module)."""
        params = {"deviceId": device_id}
        if module_id is not None:
            params["moduleId"] = module_id
        if from_seq is not None:
            params["fromSequenceNumber"] = from_seq
        if max_count is not None:
            params["maxCount"] = max_count
        if wait_seconds is not None:
            params["waitSeconds"] = wait_seconds
        return self.ok_json("GET", "/emulator/messages/events", params=params, timeout=(wait_seconds or 0) + 30)

    def wait_events(self, device_id, count, module_id=None, timeout=10.0):
        """The device's first `count` messages, long-polling until they are all there.

        Fails after timeout seconds; also fails if more than count arrive in
        the same page, so a test never silently ignores an extra message."""
        deadline = time.monotonic() + timeout
        got, seq = [], None
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(got)} of {count} messages from {device_id} within {timeout}s: {got!r}")
            page = self.events(device_id, module_id, from_seq=seq, wait_seconds=max(1, min(5, int(left))))
            got.extend(page["messages"])
            seq = page["nextSequenceNumber"]
        assert len(got) == count, f"want {count} messages from {device_id}, got {len(got)}: {got!r}"
        return got

    def open_event_stream(self, device_id):
        """GET /emulator/messages/events/stream for the device: a streaming
        response (close it) whose events start at the next message."""
        resp = self.request("GET", "/emulator/messages/events/stream", params={"deviceId": device_id},
                            stream=True, timeout=(5, 5))
        assert resp.status_code == 200, f"event stream: {resp.status_code} {resp.text}"
        assert resp.headers.get("Content-Type", "").startswith("text/event-stream"), resp.headers
        return resp

    # Cloud-to-device.

    def send_c2d(self, device_id, **fields):
        """POST /emulator/devices/{id}/messages/devicebound; returns the queued message."""
        return self.ok_json("POST", f"/emulator/devices/{device_id}/messages/devicebound", json=fields)

    def feedback(self):
        """Every feedback record the hub keeps (emulator-only, not consumed)."""
        return self.ok_json("GET", "/emulator/messages/feedback")
