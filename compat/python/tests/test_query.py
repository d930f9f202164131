"""Twin queries with paging through IoTHubRegistryManager.query_iot_hub."""

import uuid

import pytest
from azure.iot.hub.models import QuerySpecification, Twin
from msrest.exceptions import HttpOperationError

from support.hub import rest_error

DEVICES = 25
PAGE = 10


def test_paging_returns_every_device_once(registry, make_device):
    batch = f"b{uuid.uuid4().hex[:8]}"
    ids = set()
    for _ in range(DEVICES):
        device, _ = make_device("q-page")
        registry.update_twin(device.device_id, Twin(tags={"batch": batch}))
        ids.add(device.device_id)

    spec = QuerySpecification(query=f"SELECT * FROM devices WHERE tags.batch = '{batch}'")
    seen, sizes, token = [], [], None
    for _ in range(DEVICES):  # bounded: at most one page per device
        page = registry.query_iot_hub(spec, token, PAGE)
        assert page.type == "Twin"
        assert len(page.items) <= PAGE
        sizes.append(len(page.items))
        seen.extend(t.device_id for t in page.items)
        token = page.continuation_token
        if token is None:
            break
        assert token != "", "an empty continuation token must be omitted instead"
    else:
        pytest.fail(f"paging did not end after {DEVICES} pages")

    assert sorted(seen) == sorted(ids), "each device exactly once"
    assert sizes == [10, 10, 5]


def test_query_returns_full_twins(registry, make_device):
    device, _ = make_device("q-full")
    registry.update_twin(device.device_id, Twin(tags={"floor": 3}))
    result = registry.query_iot_hub(
        QuerySpecification(query=f"SELECT * FROM devices WHERE deviceId = '{device.device_id}'"), None, 100
    )
    assert result.continuation_token is None
    assert [t.device_id for t in result.items] == [device.device_id]
    twin = result.items[0]
    assert twin.tags == {"floor": 3}
    assert twin.etag and twin.version >= 1
    assert twin.properties.desired["$version"] == 1
    assert twin.properties.reported["$version"] == 1


def test_where_on_tags_and_numbers(registry, make_device):
    marker = f"m{uuid.uuid4().hex[:8]}"
    floors = {}
    for floor in (1, 2, 3):
        device, _ = make_device("q-where")
        registry.update_twin(device.device_id, Twin(tags={"marker": marker, "floor": floor}))
        floors[floor] = device.device_id
    query = f"SELECT * FROM devices WHERE tags.marker = '{marker}' AND tags.floor >= 2"
    result = registry.query_iot_hub(QuerySpecification(query=query), None, 100)
    assert sorted(t.device_id for t in result.items) == sorted([floors[2], floors[3]])


def test_bad_query_is_bad_request(registry):
    with pytest.raises(HttpOperationError) as exc:
        registry.query_iot_hub(QuerySpecification(query="SELECT * FROM"), None, 10)
    status, message, _ = rest_error(exc.value)
    assert status == 400
    assert message.startswith("ErrorCode:"), message
