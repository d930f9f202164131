"""X.509 devices: the device SDK connects with a client certificate and no
SAS token (create_from_x509_certificate), for a self-signed device matched by
thumbprint and for a device whose certificate a trusted CA signed, over MQTT
and MQTT over WebSockets."""

import re

import pytest
from azure.iot.device import IoTHubDeviceClient, Message, X509
from azure.iot.device.exceptions import CredentialError
from msrest.exceptions import HttpOperationError

from support.certs import make_device_cert, thumbprint
from support.hub import bounded, unique_id, wait_until


@pytest.fixture
def x509_devices(registry):
    created = []
    yield created
    for device_id in created:
        try:
            registry.delete_device(device_id)
        except HttpOperationError:
            pass


@pytest.fixture
def x509_client(ca_pem):
    clients = []

    def create(device_id, cert, key, **kwargs):
        client = IoTHubDeviceClient.create_from_x509_certificate(
            X509(str(cert), str(key)), hostname="localhost", device_id=device_id,
            server_verification_cert=ca_pem, **kwargs)
        clients.append(client)
        return client

    yield create
    for client in clients:
        bounded(client.shutdown, timeout=20, what="device client shutdown")


def listener_of(emulator, client_id):
    """The listener the emulator logged client_id connecting on (mqtts or
    wss): proof of which port the certificate came through."""
    pattern = re.compile(r'msg="mqtt connected" .*\bclient=' + re.escape(client_id) + r' .*\blistener=(\w+)')
    return [m.group(1) for m in map(pattern.search, emulator.log_text().splitlines()) if m]


def telemetry_and_twin(client, service, registry, device_id):
    bounded(client.connect, timeout=30, what="connect with a client certificate")
    bounded(client.send_message, Message("x509 hello", message_id="x1"), what="send_message")
    (got,) = service.wait_events(device_id, 1)
    assert got["bodyText"] == "x509 hello"
    bounded(client.patch_twin_reported_properties, {"auth": "x509"}, what="patch reported")
    twin = bounded(client.get_twin, what="get_twin")
    assert twin["reported"]["auth"] == "x509"
    assert registry.get_device(device_id).connection_state == "Connected"


@pytest.mark.parametrize("websockets", [False, True], ids=["mqtt", "wss"])
@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_self_signed_device(tmp_path, emulator, registry, service, x509_devices, x509_client, websockets, digest):
    device_id = unique_id("t-x509-self")
    cert, key = make_device_cert(tmp_path, device_id)
    device = registry.create_device_with_x509(device_id, thumbprint(cert, digest), None, "enabled")
    x509_devices.append(device_id)
    assert device.authentication.type == "selfSigned"
    client = x509_client(device_id, cert, key, websockets=websockets)
    telemetry_and_twin(client, service, registry, device_id)
    want = ["wss"] if websockets else ["mqtts"]
    assert wait_until(lambda: listener_of(emulator, device_id), timeout=5, what="connection logged") == want


@pytest.mark.parametrize("websockets", [False, True], ids=["mqtt", "wss"])
def test_ca_signed_device(tmp_path, emulator, x509_ca, registry, service, x509_devices, x509_client, websockets):
    device_id = unique_id("t-x509-ca")
    cert, key = make_device_cert(tmp_path, device_id, ca=x509_ca)
    device = registry.create_device_with_certificate_authority(device_id, "enabled")
    x509_devices.append(device_id)
    assert device.authentication.type == "certificateAuthority"
    client = x509_client(device_id, cert, key, websockets=websockets)
    telemetry_and_twin(client, service, registry, device_id)
    want = ["wss"] if websockets else ["mqtts"]
    assert wait_until(lambda: listener_of(emulator, device_id), timeout=5, what="connection logged") == want


def test_wrong_certificate_is_refused(tmp_path, emulator, registry, x509_devices, x509_client):
    device_id = unique_id("t-x509-wrong")
    registered, _ = make_device_cert(tmp_path, device_id + "-registered")
    cert, key = make_device_cert(tmp_path, device_id)
    registry.create_device_with_x509(device_id, thumbprint(registered), None, "enabled")
    x509_devices.append(device_id)
    client = x509_client(device_id, cert, key, connection_retry=False)
    with pytest.raises(CredentialError):
        bounded(client.connect, timeout=30, what="connect with the wrong certificate")
    assert wait_until(
        lambda: re.search(r"not authorized.*client=" + re.escape(device_id) + r" .*matches neither registered thumbprint",
                          emulator.log_text()),
        timeout=5, what="refusal logged")
