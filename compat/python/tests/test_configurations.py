"""Automatic device management: azure-iot-hub's IoTHubConfigurationManager
creating, reading, listing, updating and deleting configurations, and the
hub writing a configuration's content into the desired properties of the
device twins it targets (the highest priority winning)."""

import queue
import uuid

import pytest
from azure.iot.hub import IoTHubConfigurationManager
from azure.iot.hub.models import (Configuration, ConfigurationContent, ConfigurationMetrics,
                                  ConfigurationQueriesTestInput, Twin)
from msrest.exceptions import HttpOperationError

from support.emulator import SERVICE_CONNECTION_STRING
from support.hub import assert_rest_error, bounded, wait_until


@pytest.fixture
def configs(emulator):
    manager = IoTHubConfigurationManager.from_connection_string(SERVICE_CONNECTION_STRING)
    created = []
    yield manager, created
    for cid in created:
        try:
            manager.delete_configuration(cid)
        except HttpOperationError:
            pass


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def tagged_device(registry, make_device, prefix, tags):
    device, conn_str = make_device(prefix)
    twin = registry.get_twin(device.device_id)
    registry.update_twin(device.device_id, Twin(tags=tags), twin.etag)
    return device, conn_str


def configuration(cid, fleet, desired, priority=1, metrics=None):
    return Configuration(
        id=cid, schema_version="1.0", labels={"fleet": fleet},
        content=ConfigurationContent(device_content={"properties.desired.settings": desired}),
        target_condition=f"tags.fleet = '{fleet}'", priority=priority,
        metrics=ConfigurationMetrics(queries=metrics or {}))


def desired_settings(registry, device_id):
    return registry.get_twin(device_id).properties.desired.get("settings")


def test_crud_with_etag(configs):
    manager, created = configs
    cid = unique("cfg-crud")
    created.append(cid)
    made = manager.create_configuration(configuration(cid, unique("fleet"), {"rate": 1}))
    assert made.id == cid
    assert made.etag
    assert made.content.device_content == {"properties.desired.settings": {"rate": 1}}
    assert made.created_time_utc is not None

    got = manager.get_configuration(cid)
    assert (got.id, got.priority, got.etag) == (cid, 1, made.etag)
    assert cid in [c.id for c in manager.get_configurations()]
    assert len(manager.get_configurations(max_count=1)) == 1

    got.priority = 5
    got.labels = {"changed": "yes"}
    updated = manager.update_configuration(got, got.etag)
    assert updated.priority == 5 and updated.labels == {"changed": "yes"}
    assert updated.etag != made.etag

    with pytest.raises(HttpOperationError) as exc:
        manager.update_configuration(got, made.etag)  # stale etag
    assert_rest_error(exc.value, 412, "PreconditionFailed")
    got.content = ConfigurationContent(device_content={"properties.desired.other": 1})
    with pytest.raises(HttpOperationError) as exc:
        manager.update_configuration(got, "*")  # content is immutable
    assert_rest_error(exc.value, 400, "ArgumentInvalid")
    assert manager.get_configuration(cid).etag == updated.etag

    manager.delete_configuration(cid)
    with pytest.raises(HttpOperationError) as exc:
        manager.get_configuration(cid)
    assert_rest_error(exc.value, 404, "IotHubNotFound")


def test_applied_to_connected_device(configs, registry, make_device, make_client):
    manager, created = configs
    fleet = unique("fleet")
    device, conn_str = tagged_device(registry, make_device, "cfg-dev", {"fleet": fleet})
    client = make_client(conn_str)
    bounded(client.connect, timeout=30, what="connect")
    patches = queue.Queue()
    client.on_twin_desired_properties_patch_received = patches.put
    bounded(client.get_twin, what="get_twin after subscribing")

    cid = unique("cfg-apply")
    created.append(cid)
    manager.create_configuration(configuration(
        cid, fleet, {"rate": 7},
        metrics={"reported": "SELECT deviceId FROM devices WHERE properties.reported.rate = 7"}))
    patch = patches.get(timeout=15)
    assert patch["settings"] == {"rate": 7}
    assert desired_settings(registry, device.device_id) == {"rate": 7}

    bounded(client.patch_twin_reported_properties, {"rate": 7}, what="report")
    got = wait_until(lambda: (lambda c: c if c.metrics.results.get("reported") == 1 else None)(
        manager.get_configuration(cid)), timeout=15, what="custom metric counted")
    assert got.system_metrics.results == {"targetedCount": 1, "appliedCount": 1}


def test_priority(configs, registry, make_device):
    manager, created = configs
    fleet = unique("fleet")
    device, _ = tagged_device(registry, make_device, "cfg-prio", {"fleet": fleet})
    low, high = unique("cfg-low"), unique("cfg-high")
    created.extend([low, high])
    manager.create_configuration(configuration(high, fleet, {"rate": 100}, priority=10))
    manager.create_configuration(configuration(low, fleet, {"rate": 1}, priority=1))
    wait_until(lambda: desired_settings(registry, device.device_id) == {"rate": 100},
               timeout=15, what="the higher priority applied")
    got = wait_until(lambda: (lambda c: c if c.system_metrics.results.get("targetedCount") == 1 else None)(
        manager.get_configuration(low)), timeout=15, what="low priority counted")
    assert got.system_metrics.results["appliedCount"] == 0


def test_tag_change_brings_device_in(configs, registry, make_device):
    manager, created = configs
    fleet = unique("fleet")
    device, _ = tagged_device(registry, make_device, "cfg-late", {"fleet": "elsewhere"})
    cid = unique("cfg-late")
    created.append(cid)
    manager.create_configuration(configuration(cid, fleet, {"rate": 3}))
    twin = registry.get_twin(device.device_id)
    registry.update_twin(device.device_id, Twin(tags={"fleet": fleet}), twin.etag)
    wait_until(lambda: desired_settings(registry, device.device_id) == {"rate": 3},
               timeout=20, what="applied after the tag change")


def test_refusals_and_test_queries(configs):
    manager, _ = configs
    with pytest.raises(HttpOperationError) as exc:
        manager.get_configuration(unique("missing"))
    assert_rest_error(exc.value, 404, "IotHubNotFound")
    bad = configuration(unique("cfg-bad"), "x", {"rate": 1})
    bad.target_condition = "tags.fleet ="
    with pytest.raises(HttpOperationError) as exc:
        manager.create_configuration(bad)
    assert_rest_error(exc.value, 400, "ArgumentInvalid")
    result = manager.test_configuration_queries(ConfigurationQueriesTestInput(
        target_condition="tags.fleet = 'a'",
        custom_metric_queries={"ok": "SELECT deviceId FROM devices", "bad": "SELECT FROM"}))
    assert not result.target_condition_error
    assert result.custom_metric_query_errors.get("bad")
    assert not result.custom_metric_query_errors.get("ok")


@pytest.fixture
def edge_device(registry):
    device_id = unique("edge")
    registry.create_device_with_sas(device_id, None, None, "enabled", iot_edge=True)
    yield device_id
    registry.delete_device(device_id)


def deployment_content(version):
    return ConfigurationContent(modules_content={
        "$edgeAgent": {"properties.desired": {"schemaVersion": "1.1", "runtime": {"type": "docker"},
                                              "modules": {"sim": {"version": version}}}},
        "$edgeHub": {"properties.desired": {"schemaVersion": "1.1", "routes": {"up": "FROM /messages/* INTO $upstream"}}},
    })


def test_edge_deployment(configs, registry, edge_device, service):
    manager, created = configs
    # IoT Hub makes an IoT Edge device's system modules with it.
    assert {m.module_id for m in registry.get_modules(edge_device)} >= {"$edgeAgent", "$edgeHub"}
    twin = registry.get_twin(edge_device)
    fleet = unique("edgefleet")
    registry.update_twin(edge_device, Twin(tags={"fleet": fleet}), twin.etag)
    cid = unique("deploy")
    created.append(cid)
    manager.create_configuration(Configuration(
        id=cid, schema_version="1.0", content=deployment_content("1.0"),
        target_condition=f"tags.fleet = '{fleet}'", priority=1))

    # The twin's configurations property (which the SDK's Twin model drops)
    # says Applied once the sweep has written every module of the deployment.
    def applied():
        raw = service.ok_json("GET", f"/twins/{edge_device}/modules/$edgeAgent?api-version=2021-04-12")
        return raw if raw.get("configurations") == {cid: {"status": "Applied"}} else None
    wait_until(applied, timeout=20, what="the deployment applied on $edgeAgent")
    agent = registry.get_module_twin(edge_device, "$edgeAgent")
    assert agent.properties.desired["modules"] == {"sim": {"version": "1.0"}}
    assert registry.get_module_twin(edge_device, "$edgeHub").properties.desired["routes"] == {"up": "FROM /messages/* INTO $upstream"}
    got = wait_until(lambda: (lambda c: c if c.system_metrics.results.get("appliedCount") == 1 else None)(
        manager.get_configuration(cid)), timeout=20, what="appliedCount")
    assert "configurations.[[" + cid + "]].status = 'Applied'" in got.system_metrics.queries["appliedCount"]


def test_apply_configuration_on_edge_device(configs, registry, edge_device, make_device):
    manager, _ = configs
    manager.apply_configuration_on_edge_device(edge_device, deployment_content("2.0"))
    assert registry.get_module_twin(edge_device, "$edgeAgent").properties.desired["modules"] == {"sim": {"version": "2.0"}}

    plain, _ = make_device("not-edge")
    with pytest.raises(HttpOperationError) as exc:
        manager.apply_configuration_on_edge_device(plain.device_id, deployment_content("2.0"))
    assert_rest_error(exc.value, 400, "ArgumentInvalid")
