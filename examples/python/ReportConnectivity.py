"""Device app of "Get started with device twins (Python)".

Connects as the device, reports {"connectivity": {"type": "cellular"}} as a
reported property, and exits.

Environment:
  IOTHUB_DEVICE_CONNECTION_STRING  the device's connection string (required)
  IOTHUB_CA_CERT                   PEM file of the CA to trust, e.g. the
                                   emulator's certs/ca.pem (optional; the
                                   system's trust store is used without it)
"""

import os
import sys

from azure.iot.device import IoTHubDeviceClient

CONNECTION_STRING = os.environ.get("IOTHUB_DEVICE_CONNECTION_STRING", "")
CA_CERT = os.environ.get("IOTHUB_CA_CERT", "")


def create_client():
    options = {}
    if CA_CERT:
        with open(CA_CERT) as f:
            options["server_verification_cert"] = f.read()
    client = IoTHubDeviceClient.create_from_connection_string(CONNECTION_STRING, **options)

    def twin_patch_handler(twin_patch):
        print("Twin patch received:")
        print(twin_patch)

    try:
        client.on_twin_desired_properties_patch_received = twin_patch_handler
    except Exception:
        client.shutdown()
        raise

    return client


def main():
    print("Starting the Python IoT Hub Device Twin device sample...")
    client = create_client()
    try:
        print("Sending data as reported property...")
        reported_patch = {"connectivity": {"type": "cellular"}}
        client.patch_twin_reported_properties(reported_patch)
        print("Reported properties updated")
    except KeyboardInterrupt:
        print("IoT Hub Device Twin device sample stopped")
    finally:
        print("Shutting down IoT Hub Client")
        client.shutdown()


if __name__ == "__main__":
    if not CONNECTION_STRING:
        sys.exit("Set IOTHUB_DEVICE_CONNECTION_STRING to the device's connection string.")
    try:
        main()
    except Exception as ex:
        print("Unexpected error {0}".format(ex))
        sys.exit(1)
