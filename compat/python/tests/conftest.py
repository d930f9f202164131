"""One emulator for the whole session, and factories for devices and device
clients that clean up after each test."""

import os

import pytest
from azure.iot.device import IoTHubDeviceClient, IoTHubModuleClient
from azure.iot.hub import IoTHubRegistryManager
from msrest.exceptions import HttpOperationError

from support.certs import make_ca
from support.certifi_bundle import trust_in_certifi
from support.emulator import SERVICE_CONNECTION_STRING, Emulator, default_binary
from support.hub import bounded, device_connection_string, module_connection_string, unique_id
from support.service import ServiceREST


@pytest.fixture(scope="session")
def x509_ca(tmp_path_factory):
    """The CA the emulator trusts for certificateAuthority devices: (cert, key)."""
    return make_ca(tmp_path_factory.mktemp("x509-ca"), "compat-test-root")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory, x509_ca):
    emu = Emulator(default_binary(), tmp_path_factory.mktemp("hub") / "data")
    emu.start(timeout=30, extra_args=("--x509-ca", str(x509_ca[0])))
    # The service SDK goes through requests, which trusts this bundle only.
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(emu.ca_path)
    # uamqp (send_c2d_message) trusts certifi's bundle only: append the CA
    # to it, as a user would.
    restore_certifi = trust_in_certifi(emu.ca_path.read_text())
    try:
        yield emu
    finally:
        restore_certifi()
        if previous is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = previous
        code = emu.stop(timeout=15)
        assert code == 0, (
            f"emulator exit status after SIGTERM was {code}, want 0 (None: it did not stop within 15s);"
            f" full log in {emu.log_path}; tail:\n{emu.log_tail()}"
        )


@pytest.fixture(scope="session")
def ca_pem(emulator):
    return emulator.ca_path.read_text()


@pytest.fixture(scope="session")
def registry(emulator):
    return IoTHubRegistryManager.from_connection_string(SERVICE_CONNECTION_STRING)


@pytest.fixture
def make_device(registry):
    """create(prefix, status="enabled") -> (Device, device connection string)."""
    created = []

    def create(prefix="dev", status="enabled", primary_key=None, secondary_key=None):
        device_id = unique_id(prefix)
        device = registry.create_device_with_sas(device_id, primary_key, secondary_key, status)
        created.append(device_id)
        key = device.authentication.symmetric_key.primary_key
        return device, device_connection_string(device_id, key)

    yield create
    for device_id in created:
        try:
            registry.delete_device(device_id)
        except HttpOperationError:
            pass  # the test already deleted it


@pytest.fixture(scope="session")
def service(emulator):
    """The emulator-only service endpoints (telemetry read-back, C2D send)."""
    return ServiceREST(emulator.ca_path)


@pytest.fixture
def make_module(registry, make_device):
    """create(device_prefix, module_prefix) -> (Device, Module, module connection string).

    The module goes away with its device when make_device cleans up."""

    def create(device_prefix="mdev", module_prefix="mod"):
        device, _ = make_device(device_prefix)
        module_id = unique_id(module_prefix)
        module = registry.create_module_with_sas(device.device_id, module_id, None, None, None)
        key = module.authentication.symmetric_key.primary_key
        return device, module, module_connection_string(device.device_id, module_id, key)

    return create


@pytest.fixture
def make_client(ca_pem):
    """create(connection_string, client_class=IoTHubDeviceClient, **kwargs) -> a
    device (or IoTHubModuleClient) client trusting the emulator CA."""
    clients = []

    def create(connection_string, client_class=IoTHubDeviceClient, **kwargs):
        assert client_class in (IoTHubDeviceClient, IoTHubModuleClient)
        client = client_class.create_from_connection_string(
            connection_string, server_verification_cert=ca_pem, **kwargs
        )
        clients.append(client)
        return client

    yield create
    for client in clients:
        bounded(client.shutdown, timeout=20, what="device client shutdown")
