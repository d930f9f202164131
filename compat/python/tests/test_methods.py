"""Direct methods: IoTHubRegistryManager.invoke_device_(module_)method against
device and module clients answering with MethodResponse."""

import queue
import threading
import time

import pytest
from azure.iot.device import IoTHubModuleClient, MethodResponse
from azure.iot.hub import IoTHubRegistryManager
from azure.iot.hub.models import CloudToDeviceMethod
from msrest.exceptions import HttpOperationError

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import assert_rest_error, bounded, device_connection_string


def connected(make_client, conn_str, **kwargs):
    client = make_client(conn_str, **kwargs)
    bounded(client.connect, timeout=30, what="connect")
    return client


def answer_with(client, status, payload_of):
    """Answer every method request with status and payload_of(request); return
    the queue of requests seen."""
    seen = queue.Queue()

    def handler(request):
        seen.put(request)
        client.send_method_response(MethodResponse.create_from_method_request(request, status, payload_of(request)))

    client.on_method_request_received = handler
    # Setting the handler subscribes; a twin round trip on the same
    # connection afterwards proves the SUBSCRIBE was handled.
    bounded(client.get_twin, what="get_twin after subscribing")
    return seen


def test_round_trip_status_and_payload(registry, make_device, make_client):
    device, conn_str = make_device("m-rt")
    client = connected(make_client, conn_str)
    seen = answer_with(client, 201, lambda req: {"echo": req.payload, "method": req.name})

    result = registry.invoke_device_method(
        device.device_id,
        CloudToDeviceMethod(method_name="reboot", payload={"delay": 5, "tags": ["a", "b"]},
                            response_timeout_in_seconds=10),
    )
    assert result.status == 201
    assert result.payload == {"echo": {"delay": 5, "tags": ["a", "b"]}, "method": "reboot"}
    request = seen.get(timeout=5)
    assert request.name == "reboot"
    assert request.payload == {"delay": 5, "tags": ["a", "b"]}
    assert request.request_id


def test_scalar_and_empty_payloads(registry, make_device, make_client):
    device, conn_str = make_device("m-scalar")
    client = connected(make_client, conn_str)
    seen = answer_with(client, 200, lambda req: None if req.payload == "" else [req.payload])

    # payload None: the SDK sends "" (a JSON string), and the device sees "".
    result = registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="ping"))
    assert seen.get(timeout=5).payload == ""
    assert result.status == 200
    assert result.payload is None

    result = registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="num", payload=42))
    assert seen.get(timeout=5).payload == 42
    assert result.payload == [42]


def test_offline_device_is_device_not_online(registry, make_device):
    device, _ = make_device("m-offline")
    with pytest.raises(HttpOperationError) as exc:
        registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="reboot", payload={}))
    assert_rest_error(exc.value, 404, "DeviceNotOnline")


def test_connected_but_not_subscribed_is_device_not_online(registry, make_device, make_client):
    device, conn_str = make_device("m-nosub")
    client = connected(make_client, conn_str)
    bounded(client.get_twin, what="get_twin")  # connected, subscribed to twin responses only
    with pytest.raises(HttpOperationError) as exc:
        registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="reboot", payload={}))
    assert_rest_error(exc.value, 404, "DeviceNotOnline")


def test_unknown_device_is_device_not_found(registry):
    with pytest.raises(HttpOperationError) as exc:
        registry.invoke_device_method("m-nobody-at-all", CloudToDeviceMethod(method_name="reboot", payload={}))
    assert_rest_error(exc.value, 404, "DeviceNotFound")


def test_unanswered_method_is_gateway_timeout(make_device, make_client):
    device, conn_str = make_device("m-silent")
    client = connected(make_client, conn_str)
    seen = queue.Queue()
    client.on_method_request_received = seen.put  # never answers
    bounded(client.get_twin, what="get_twin after subscribing")

    # msrest retries a 504 three times; the hub's answer is what is under
    # test, so one attempt.
    registry = IoTHubRegistryManager.from_connection_string(SERVICE_CONNECTION_STRING)
    registry.protocol.config.retry_policy.retries = 0
    with pytest.raises(HttpOperationError) as exc:
        registry.invoke_device_method(
            device.device_id, CloudToDeviceMethod(method_name="hang", payload={}, response_timeout_in_seconds=5)
        )
    assert_rest_error(exc.value, 504, "GatewayTimeout")
    assert seen.get(timeout=1).name == "hang"
    assert seen.empty()


@pytest.mark.parametrize("timeouts", [
    {"response_timeout_in_seconds": 4},
    {"response_timeout_in_seconds": 301},
    {"connect_timeout_in_seconds": -1},
    {"connect_timeout_in_seconds": 301},
])
def test_out_of_range_timeouts_are_refused(registry, make_device, timeouts):
    device, _ = make_device("m-range")
    with pytest.raises(HttpOperationError) as exc:
        registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="x", payload={}, **timeouts))
    assert exc.value.response.status_code == 400


def test_connect_timeout_waits_for_the_device(registry, make_device, make_client):
    device, conn_str = make_device("m-late")
    client = make_client(conn_str)
    results = queue.Queue()

    def invoke():
        try:
            results.put(registry.invoke_device_method(
                device.device_id,
                CloudToDeviceMethod(method_name="late", payload={"n": 1},
                                    response_timeout_in_seconds=10, connect_timeout_in_seconds=20),
            ))
        except Exception as err:  # reported in the test thread
            results.put(err)

    caller = threading.Thread(target=invoke, daemon=True)
    caller.start()
    # With a connect timeout an offline device is waited for, not refused.
    time.sleep(1)
    assert results.empty(), f"the call ended while the device was offline: {results.queue!r}"
    bounded(client.connect, timeout=30, what="connect")
    answer_with(client, 202, lambda req: req.payload)
    result = results.get(timeout=25)
    assert not isinstance(result, Exception), result
    assert result.status == 202
    assert result.payload == {"n": 1}


def test_module_method(registry, make_module, make_client):
    device, module, conn_str = make_module("m-moddev", "m-mod")
    module_client = connected(make_client, conn_str, client_class=IoTHubModuleClient)
    seen = answer_with(module_client, 200, lambda req: {"module": True, "got": req.payload})

    result = registry.invoke_device_module_method(
        device.device_id, module.module_id,
        CloudToDeviceMethod(method_name="modping", payload={"x": 1}, response_timeout_in_seconds=10),
    )
    assert result.status == 200
    assert result.payload == {"module": True, "got": {"x": 1}}
    assert seen.get(timeout=5).name == "modping"

    # The module's handler is not the device's: the device itself is offline.
    with pytest.raises(HttpOperationError) as exc:
        registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="modping", payload={}))
    assert_rest_error(exc.value, 404, "DeviceNotOnline")


def test_device_and_module_each_get_their_own_calls(registry, make_module, make_client):
    device, module, module_cs = make_module("m-both", "m-bothmod")
    keys = registry.get_device(device.device_id).authentication.symmetric_key

    device_client = connected(make_client, device_connection_string(device.device_id, keys.primary_key))
    module_client = connected(make_client, module_cs, client_class=IoTHubModuleClient)
    device_seen = answer_with(device_client, 200, lambda req: "device")
    module_seen = answer_with(module_client, 200, lambda req: "module")

    to_device = registry.invoke_device_method(device.device_id, CloudToDeviceMethod(method_name="who", payload={}))
    to_module = registry.invoke_device_module_method(
        device.device_id, module.module_id, CloudToDeviceMethod(method_name="who", payload={})
    )
    assert (to_device.payload, to_module.payload) == ("device", "module")
    assert device_seen.qsize() == 1 and module_seen.qsize() == 1
