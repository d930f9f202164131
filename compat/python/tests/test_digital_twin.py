"""Digital twins (IoT Plug and Play): azure-iot-hub's DigitalTwinClient
against a temperature-controller device announcing its model id, as the
SDK's PnP samples do."""

import queue

import pytest
from azure.iot.device import MethodResponse
from azure.iot.hub import DigitalTwinClient
from msrest.exceptions import HttpOperationError

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import assert_rest_error, bounded

MODEL_ID = "dtmi:com:example:TemperatureController;2"


@pytest.fixture
def digital_twins(emulator):
    return DigitalTwinClient.from_connection_string(SERVICE_CONNECTION_STRING)


def pnp_device(make_device, make_client, prefix):
    """A connected PnP device that reports a root property and a component,
    answers every command with 200 and {"command": name, "payload": ...}, and
    queues the desired patches it receives."""
    device, conn_str = make_device(prefix)
    client = make_client(conn_str, product_info=MODEL_ID)
    bounded(client.connect, timeout=30, what="connect")
    patches = queue.Queue()
    client.on_twin_desired_properties_patch_received = patches.put

    def on_method(request):
        client.send_method_response(
            MethodResponse.create_from_method_request(request, 200, {"command": request.name, "payload": request.payload}))

    client.on_method_request_received = on_method
    bounded(client.patch_twin_reported_properties,
            {"serialNumber": "SN-42", "thermostat1": {"__t": "c", "maxTempSinceLastReboot": 38.5}},
            what="report properties")
    return device, client, patches


def test_get_digital_twin(digital_twins, make_device, make_client):
    device, _, _ = pnp_device(make_device, make_client, "dt-get")
    dt = digital_twins.get_digital_twin(device.device_id)
    assert dt["$dtId"] == device.device_id
    assert dt["$metadata"]["$model"] == MODEL_ID
    assert dt["serialNumber"] == "SN-42"
    assert "lastUpdateTime" in dt["$metadata"]["serialNumber"]
    assert dt["thermostat1"]["maxTempSinceLastReboot"] == 38.5
    assert "lastUpdateTime" in dt["thermostat1"]["$metadata"]["maxTempSinceLastReboot"]
    assert "__t" not in dt["thermostat1"]


def test_update_digital_twin_reaches_device_as_desired(digital_twins, make_device, make_client):
    device, _, patches = pnp_device(make_device, make_client, "dt-patch")
    patch = [
        {"op": "add", "path": "/thermostat1/targetTemperature", "value": 42},
        {"op": "add", "path": "/targetHumidity", "value": 55},
    ]
    assert digital_twins.update_digital_twin(device.device_id, patch) is None
    got = patches.get(timeout=10)
    assert got["thermostat1"] == {"__t": "c", "targetTemperature": 42}
    assert got["targetHumidity"] == 55

    dt = digital_twins.get_digital_twin(device.device_id)
    meta = dt["thermostat1"]["$metadata"]["targetTemperature"]
    assert meta["desiredValue"] == 42
    assert meta["desiredVersion"] == got["$version"]

    digital_twins.update_digital_twin(device.device_id, [{"op": "remove", "path": "/targetHumidity"}])
    assert patches.get(timeout=10)["targetHumidity"] is None
    dt = digital_twins.get_digital_twin(device.device_id)
    assert "targetHumidity" not in dt["$metadata"]


def test_update_digital_twin_refusals_change_nothing(digital_twins, make_device, make_client):
    device, _, _ = pnp_device(make_device, make_client, "dt-bad")
    before = digital_twins.get_digital_twin(device.device_id)
    with pytest.raises(HttpOperationError) as exc:
        digital_twins.update_digital_twin(device.device_id, [{"op": "replace", "path": "/nothing", "value": 1}])
    assert_rest_error(exc.value, 400, "ArgumentInvalid")
    with pytest.raises(HttpOperationError) as exc:
        digital_twins.update_digital_twin(device.device_id, [{"op": "add", "path": "/x", "value": 1}], etag='"stale"')
    assert_rest_error(exc.value, 412, "PreconditionFailed")
    assert digital_twins.get_digital_twin(device.device_id) == before


def test_invoke_commands(digital_twins, make_device, make_client):
    device, _, _ = pnp_device(make_device, make_client, "dt-cmd")
    result = digital_twins.invoke_command(device.device_id, "reboot", {"delay": 2}, response_timeout_in_seconds=10)
    assert result == {"command": "reboot", "payload": {"delay": 2}}

    result = digital_twins.invoke_component_command(
        device.device_id, "thermostat1", "getMaxMinReport", "2026-01-01T00:00:00Z",
        connect_timeout_in_seconds=5, response_timeout_in_seconds=10)
    assert result == {"command": "thermostat1*getMaxMinReport", "payload": "2026-01-01T00:00:00Z"}


def test_command_to_offline_device(digital_twins, make_device):
    device, _ = make_device("dt-off")
    with pytest.raises(HttpOperationError) as exc:
        digital_twins.invoke_command(device.device_id, "reboot", {})
    assert_rest_error(exc.value, 404, "DeviceNotOnline")
    with pytest.raises(HttpOperationError) as exc:
        digital_twins.get_digital_twin("dt-no-such-device")
    assert_rest_error(exc.value, 404, "DeviceNotFound")
