"""Device twins from the back end: get, update (merge), replace, etags, versions, metadata."""

import pytest
from azure.iot.hub.models import Twin, TwinProperties
from msrest.exceptions import HttpOperationError

from support.hub import assert_rest_error, unique_id


def test_new_twin_shape(registry, make_device):
    device, _ = make_device("twin-new")
    twin = registry.get_twin(device.device_id)
    assert twin.device_id == device.device_id
    assert twin.module_id is None
    assert twin.etag
    assert isinstance(twin.version, int) and twin.version >= 1
    assert twin.status == "enabled"
    assert twin.connection_state == "Disconnected"
    assert twin.authentication_type == "sas"
    assert twin.cloud_to_device_message_count == 0
    assert not twin.tags
    for section in (twin.properties.desired, twin.properties.reported):
        assert section["$version"] == 1
        assert "$lastUpdated" in section["$metadata"]
        user_keys = [k for k in section if not k.startswith("$")]
        assert user_keys == []


def test_update_merges_tags_and_desired(registry, make_device):
    device, _ = make_device("twin-upd")
    first = registry.get_twin(device.device_id)
    patch = Twin(
        tags={"location": {"region": "US", "plant": "Plant7"}, "owner": "ops"},
        properties=TwinProperties(desired={"telemetry": {"interval": 30, "unit": "s"}, "mode": "eco"}),
    )
    second = registry.update_twin(device.device_id, patch, first.etag)
    assert second.tags == {"location": {"region": "US", "plant": "Plant7"}, "owner": "ops"}
    assert second.properties.desired["telemetry"] == {"interval": 30, "unit": "s"}
    assert second.properties.desired["$version"] == first.properties.desired["$version"] + 1
    assert second.version > first.version
    assert second.etag != first.etag

    # Merge patch: nested objects merge, null deletes, untouched keys stay.
    patch = Twin(
        tags={"location": {"plant": "Seattle1"}, "owner": None},
        properties=TwinProperties(desired={"telemetry": {"unit": None}}),
    )
    third = registry.update_twin(device.device_id, patch, second.etag)
    assert third.tags == {"location": {"region": "US", "plant": "Seattle1"}}
    desired = {k: v for k, v in third.properties.desired.items() if not k.startswith("$")}
    assert desired == {"telemetry": {"interval": 30}, "mode": "eco"}
    assert third.properties.desired["$version"] == second.properties.desired["$version"] + 1
    assert third.version > second.version

    # What the update returned is what a later GET sees.
    again = registry.get_twin(device.device_id)
    assert again.tags == third.tags
    assert again.properties.desired == third.properties.desired
    assert again.etag == third.etag


def test_desired_metadata(registry, make_device):
    device, _ = make_device("twin-meta")
    twin = registry.update_twin(
        device.device_id, Twin(properties=TwinProperties(desired={"fan": {"speed": 3}})), "*"
    )
    desired = twin.properties.desired
    meta = desired["$metadata"]
    assert "$lastUpdated" in meta
    assert "$lastUpdated" in meta["fan"]
    assert "$lastUpdated" in meta["fan"]["speed"]
    assert meta["fan"]["$lastUpdatedVersion"] == desired["$version"]


def test_update_with_wildcard_etag(registry, make_device):
    device, _ = make_device("twin-star")
    twin = registry.update_twin(device.device_id, Twin(tags={"k": "v"}))  # SDK sends If-Match "*"
    assert twin.tags == {"k": "v"}


def test_stale_etag_precondition_failed(registry, make_device):
    device, _ = make_device("twin-412")
    original = registry.get_twin(device.device_id)
    registry.update_twin(device.device_id, Twin(tags={"a": 1}), original.etag)
    with pytest.raises(HttpOperationError) as exc:
        registry.update_twin(device.device_id, Twin(tags={"a": 2}), original.etag)
    assert_rest_error(exc.value, 412, "PreconditionFailed")
    assert registry.get_twin(device.device_id).tags == {"a": 1}

    with pytest.raises(HttpOperationError) as exc:
        registry.replace_twin(device.device_id, Twin(tags={"a": 3}), original.etag)
    assert_rest_error(exc.value, 412, "PreconditionFailed")
    assert registry.get_twin(device.device_id).tags == {"a": 1}


def test_replace_twin(registry, make_device):
    device, _ = make_device("twin-put")
    before = registry.update_twin(
        device.device_id,
        Twin(tags={"a": 1, "b": {"c": 2}}, properties=TwinProperties(desired={"x": 1, "y": 2})),
    )
    replaced = registry.replace_twin(
        device.device_id,
        Twin(tags={"d": 4}, properties=TwinProperties(desired={"z": 3})),
        before.etag,
    )
    assert replaced.tags == {"d": 4}
    desired = {k: v for k, v in replaced.properties.desired.items() if not k.startswith("$")}
    assert desired == {"z": 3}
    assert replaced.properties.desired["$version"] == before.properties.desired["$version"] + 1
    assert replaced.version > before.version
    assert replaced.etag != before.etag


def test_twin_of_unknown_device(registry):
    with pytest.raises(HttpOperationError) as exc:
        registry.get_twin(unique_id("twin-nobody"))
    assert_rest_error(exc.value, 404, "DeviceNotFound")


def test_invalid_desired_key_rejected(registry, make_device):
    device, _ = make_device("twin-badkey")
    before = registry.get_twin(device.device_id)
    with pytest.raises(HttpOperationError) as exc:
        registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"a.b": 1})))
    assert_rest_error(exc.value, 400, "ArgumentInvalid")
    after = registry.get_twin(device.device_id)
    assert after.properties.desired == before.properties.desired
    assert after.version == before.version


@pytest.mark.parametrize(
    "patch",
    [
        Twin(tags={"$x": 1}),
        Twin(properties=TwinProperties(desired={"$foo": 1})),
        Twin(properties=TwinProperties(desired={"nested": {"$bar": 1}})),
        Twin(properties=TwinProperties(reported={"r": 1})),
        Twin(device_id="someone-else", tags={"a": 1}),
    ],
    ids=["dollar-tag", "dollar-desired", "dollar-nested", "reported-only", "other-device"],
)
def test_unwritable_update_refused(registry, make_device, patch):
    # IoT Hub refuses '$' keys; a write of nothing the service may change (only
    # reported, or another device's id) is refused rather than bumping versions.
    device, _ = make_device("twin-unwritable")
    before = registry.get_twin(device.device_id)
    with pytest.raises(HttpOperationError) as exc:
        registry.update_twin(device.device_id, patch)
    assert_rest_error(exc.value, 400, "ArgumentInvalid")
    after = registry.get_twin(device.device_id)
    assert after.version == before.version
    assert after.etag == before.etag
    assert after.tags == before.tags


def test_empty_etag_is_not_a_wildcard(registry, make_device):
    device, _ = make_device("twin-empty-etag")
    before = registry.get_twin(device.device_id)
    for etag in ['""', 'W/""']:
        with pytest.raises(HttpOperationError) as exc:
            registry.update_twin(device.device_id, Twin(tags={"a": 1}), etag)
        assert_rest_error(exc.value, 412, "PreconditionFailed")
        with pytest.raises(HttpOperationError) as exc:
            registry.delete_device(device.device_id, etag)
        assert_rest_error(exc.value, 412, "PreconditionFailed")
    assert registry.get_twin(device.device_id).version == before.version
    assert registry.get_device(device.device_id).device_id == device.device_id
