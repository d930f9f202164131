"""Back-end app of "Get started with device twins (Python)".

Adds location tags (and a desired property) to the device's twin, then runs
two queries: devices in the Redmond43 plant, and those of them that report a
cellular connection.

Environment:
  IOTHUB_CONNECTION_STRING  service connection string (required)
  IOTHUB_DEVICE_ID          device to tag (default: myDeviceId)
  REQUESTS_CA_BUNDLE        CA file to trust, e.g. the emulator's certs/ca.pem
"""

import os
import sys
from time import sleep

from azure.iot.hub import IoTHubRegistryManager
from azure.iot.hub.models import QuerySpecification, Twin, TwinProperties

IOTHUB_CONNECTION_STRING = os.environ.get("IOTHUB_CONNECTION_STRING", "")
DEVICE_ID = os.environ.get("IOTHUB_DEVICE_ID", "myDeviceId")

REDMOND43 = "SELECT * FROM devices WHERE tags.location.plant = 'Redmond43'"
# The device app reports {"connectivity": {"type": "cellular"}}, so the
# comparison is on connectivity.type (see README.md).
REDMOND43_CELLULAR = (
    "SELECT * FROM devices WHERE tags.location.plant = 'Redmond43' "
    "AND properties.reported.connectivity.type = 'cellular'"
)


def device_ids(registry_manager, query):
    """Every device id the query returns, following continuation tokens."""
    spec = QuerySpecification(query=query)
    ids, token = [], None
    while True:
        result = registry_manager.query_iot_hub(spec, token, 100)
        ids.extend(twin.device_id for twin in result.items)
        token = result.continuation_token
        if not token:
            return ids


def iothub_service_sample_run():
    iothub_registry_manager = IoTHubRegistryManager.from_connection_string(IOTHUB_CONNECTION_STRING)

    new_tags = {"location": {"region": "US", "plant": "Redmond43"}}

    twin = iothub_registry_manager.get_twin(DEVICE_ID)
    twin_patch = Twin(tags=new_tags, properties=TwinProperties(desired={"power_level": 1}))
    twin = iothub_registry_manager.update_twin(DEVICE_ID, twin_patch, twin.etag)

    # IoT Hub updates its query index with a short delay; the emulator does not,
    # but the pause keeps the app's behaviour identical on both.
    sleep(1)

    print("Devices in Redmond43 plant: {}".format(", ".join(device_ids(iothub_registry_manager, REDMOND43))))
    print()
    print(
        "Devices in Redmond43 plant using cellular network: {}".format(
            ", ".join(device_ids(iothub_registry_manager, REDMOND43_CELLULAR))
        )
    )


if __name__ == "__main__":
    if not IOTHUB_CONNECTION_STRING:
        sys.exit("Set IOTHUB_CONNECTION_STRING to the hub's service connection string.")
    print("Starting the Python IoT Hub Device Twin service sample...")
    print()
    try:
        iothub_service_sample_run()
    except KeyboardInterrupt:
        print("IoT Hub Device Twin service sample stopped")
    except Exception as ex:
        print("Unexpected error {0}".format(ex))
        sys.exit(1)
