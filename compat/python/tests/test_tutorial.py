"""The "Get started with device twins (Python)" apps under examples/python, run
end to end as subprocesses, as a newcomer would run them; and the CLI verb the
walk-through uses to create the device."""

import os
import subprocess
import sys

from azure.iot.device import IoTHubDeviceClient
from azure.iot.hub.models import QuerySpecification

from support.emulator import REPO_ROOT, SERVICE_CONNECTION_STRING, clean_env
from support.hub import bounded, unique_id

EXAMPLES = REPO_ROOT / "examples" / "python"
IN_PLANT = "Devices in Redmond43 plant"
CELLULAR = "Devices in Redmond43 plant using cellular network"


def run_app(script, env):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def ids_after(output, label):
    for line in output.splitlines():
        if line.startswith(label + ":"):
            rest = line[len(label) + 1:].strip()
            return [i for i in rest.split(", ") if i] if rest else []
    raise AssertionError(f"no {label!r} line in:\n{output}")


def test_tutorial_end_to_end(emulator, registry, make_device):
    device, conn_str = make_device("tutorial")
    service_env = {
        "IOTHUB_CONNECTION_STRING": SERVICE_CONNECTION_STRING,
        "IOTHUB_DEVICE_ID": device.device_id,
        "REQUESTS_CA_BUNDLE": str(emulator.ca_path),
    }

    out = run_app("AddTagsAndQuery.py", service_env)
    assert "Starting the Python IoT Hub Device Twin service sample..." in out
    assert ids_after(out, IN_PLANT) == [device.device_id]
    assert ids_after(out, CELLULAR) == []

    out = run_app(
        "ReportConnectivity.py",
        {"IOTHUB_DEVICE_CONNECTION_STRING": conn_str, "IOTHUB_CA_CERT": str(emulator.ca_path)},
    )
    assert "Reported properties updated" in out

    out = run_app("AddTagsAndQuery.py", service_env)
    assert ids_after(out, IN_PLANT) == [device.device_id]
    assert ids_after(out, CELLULAR) == [device.device_id]

    twin = registry.get_twin(device.device_id)
    assert twin.tags == {"location": {"region": "US", "plant": "Redmond43"}}
    assert twin.properties.reported["connectivity"] == {"type": "cellular"}
    assert twin.properties.desired["power_level"] == 1

    # The published Python tutorial's comparison: an object is never equal to
    # a string, so this form finds nothing once connectivity is an object.
    string_form = QuerySpecification(
        query="SELECT * FROM devices WHERE tags.location.plant = 'Redmond43' "
        "AND properties.reported.connectivity = 'cellular'"
    )
    assert registry.query_iot_hub(string_form, None, 100).items == []


def test_cli_device_create(emulator, registry, ca_pem):
    """`iothub-emulator device create <id>` prints a working device connection string."""
    endpoint = emulator.http_endpoint()
    assert endpoint, f"the emulator did not print its HTTP port:\n{emulator.log_tail()}"
    device_id = unique_id("cli")
    proc = subprocess.run(
        [str(emulator.binary), "device", "create", device_id, "--endpoint", endpoint,
         "--hub", SERVICE_CONNECTION_STRING],
        env=clean_env(), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.strip().splitlines()
        assert len(lines) == 1, proc.stdout
        conn_str = lines[0]
        fields = dict(part.split("=", 1) for part in conn_str.split(";"))
        assert set(fields) == {"HostName", "DeviceId", "SharedAccessKey"}
        assert fields["HostName"] == "localhost"
        assert fields["DeviceId"] == device_id
        assert registry.get_device(device_id).authentication.symmetric_key.primary_key == fields["SharedAccessKey"]

        client = IoTHubDeviceClient.create_from_connection_string(conn_str, server_verification_cert=ca_pem)
        try:
            bounded(client.connect, timeout=30, what="connect with the CLI's connection string")
        finally:
            bounded(client.shutdown, timeout=20, what="shutdown")
    finally:
        if proc.returncode == 0:
            registry.delete_device(device_id)
