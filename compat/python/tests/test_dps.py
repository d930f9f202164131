"""The Device Provisioning Service with azure-iot-device's
ProvisioningDeviceClient: symmetric-key and X.509 registrations (individual
enrollments and enrollment groups) over MQTT and MQTT over WebSockets, the
custom payload echoed back, the assigned hub reached with IoTHubDeviceClient,
refusals, and the IoT Plug and Play flow of the SDK's PnP samples.

Enrollments are made with the DPS service REST API (support/dps.py); every
test removes its enrollments, registration states and hub devices."""

import asyncio
import base64
import json
import os

import pytest
from azure.iot.device import IoTHubDeviceClient, Message, ProvisioningDeviceClient, X509
from azure.iot.device import aio as device_aio
from azure.iot.device.exceptions import ClientError, CredentialError, ServiceError
from msrest.exceptions import HttpOperationError

from support.certs import make_ca, make_device_cert, thumbprint
from support.dps import (
    ID_SCOPE, PROVISIONING_HOST, DPSError, DPSService, derived_device_key, symmetric_key_attestation,
    x509_client_attestation, x509_signing_attestation,
)
from support.hub import bounded, unique_id

# Registration polls every 2 s at least (the SDK's default interval); a
# bounded register() allows several rounds.
REGISTER_TIMEOUT = 60
HUB_HOSTS = ("localhost", "127.0.0.1")
THERMOSTAT_MODEL_ID = "dtmi:com:example:Thermostat;1"


def new_key():
    return base64.b64encode(os.urandom(32)).decode("ascii")


@pytest.fixture(scope="session")
def dps(emulator):
    return DPSService(emulator.ca_path)


class Provisioning:
    """The enrollments, groups, registrations, hub devices and device clients
    one test made, removed afterwards in that order."""

    def __init__(self, dps, registry):
        self.dps = dps
        self.registry = registry
        self.enrollments, self.groups, self.registrations, self.devices, self.clients = [], [], [], [], []

    def enroll(self, registration_id, attestation, **fields):
        body = {"registrationId": registration_id, "attestation": attestation, **fields}
        self.enrollments.append(registration_id)
        self.registrations.append(registration_id)
        self.devices.append(fields.get("deviceId", registration_id))
        return self.dps.put_enrollment(body)

    def enroll_group(self, group_id, attestation, **fields):
        body = {"enrollmentGroupId": group_id, "attestation": attestation, **fields}
        self.groups.append(group_id)
        return self.dps.put_group(body)

    def member(self, registration_id):
        """A registration id of a group member, cleaned up like an enrollment's."""
        self.registrations.append(registration_id)
        self.devices.append(registration_id)
        return registration_id

    def hub_client(self, client):
        self.clients.append(client)
        return client

    def cleanup(self):
        for client in self.clients:
            bounded(client.shutdown, timeout=20, what="device client shutdown")
        for rid in self.registrations:
            self.dps.delete_registration(rid, missing_ok=True)
        for rid in self.enrollments:
            self.dps.delete_enrollment(rid, missing_ok=True)
        for gid in self.groups:
            self.dps.delete_group(gid, missing_ok=True)
        for device_id in self.devices:
            try:
                self.registry.delete_device(device_id)
            except HttpOperationError:
                pass  # never created, or the test removed it


@pytest.fixture
def prov(dps, registry):
    p = Provisioning(dps, registry)
    yield p
    p.cleanup()


def register(client):
    return bounded(client.register, timeout=REGISTER_TIMEOUT, what="ProvisioningDeviceClient.register")


def assert_assigned(result, registration_id, device_id):
    assert result.status == "assigned", result
    state = result.registration_state
    assert state is not None, result
    assert result.operation_id
    assert state.device_id == device_id
    assert state.assigned_hub in HUB_HOSTS, state.assigned_hub
    assert state.sub_status == "initialAssignment"
    assert state.created_date_time and state.last_update_date_time and state.etag
    return state


def assert_refused(excinfo):
    """register() raises CredentialError when CONNECT is refused (CONNACK 4 or
    5), or ClientError caused by ServiceError when DPS answers 401/4xx."""
    err = excinfo.value
    assert isinstance(err, CredentialError) or isinstance(err.__cause__, ServiceError), (
        f"want CredentialError, or ClientError from a ServiceError; got {err!r} (cause {err.__cause__!r})")


def assert_no_device(registry, device_id):
    with pytest.raises(HttpOperationError) as excinfo:
        registry.get_device(device_id)
    assert excinfo.value.response.status_code == 404


INITIAL_TWIN = {"tags": {"site": "lab", "floor": 3}, "properties": {"desired": {"interval": 30, "mode": {"eco": True}}}}


def check_initial_twin(registry, device_client, device_id):
    twin = bounded(device_client.get_twin, what="get_twin")
    desired = {k: v for k, v in twin["desired"].items() if not k.startswith("$")}
    assert desired == INITIAL_TWIN["properties"]["desired"]
    assert registry.get_twin(device_id).tags == INITIAL_TWIN["tags"]


@pytest.mark.parametrize("websockets", [False, True], ids=["mqtt", "wss"])
def test_symmetric_key_individual_enrollment(prov, registry, service, ca_pem, websockets):
    registration_id = unique_id("p-dps-sym")
    device_id = registration_id + "-dev"
    enrollment = prov.enroll(registration_id, symmetric_key_attestation(), deviceId=device_id,
                             initialTwin=INITIAL_TWIN)
    # Keys left out are generated.
    key = enrollment["attestation"]["symmetricKey"]["primaryKey"]
    assert len(base64.b64decode(key)) >= 16
    assert enrollment["etag"]

    client = ProvisioningDeviceClient.create_from_symmetric_key(
        provisioning_host=PROVISIONING_HOST, registration_id=registration_id, id_scope=ID_SCOPE,
        symmetric_key=key, websockets=websockets, server_verification_cert=ca_pem)
    state = assert_assigned(register(client), registration_id, device_id)

    # The hub device carries the enrollment's keys.
    device = registry.get_device(device_id)
    assert device.authentication.type == "sas"
    assert device.authentication.symmetric_key.primary_key == key

    hub = prov.hub_client(IoTHubDeviceClient.create_from_symmetric_key(
        symmetric_key=key, hostname=state.assigned_hub, device_id=device_id,
        websockets=websockets, server_verification_cert=ca_pem))
    bounded(hub.connect, timeout=30, what="connect to the assigned hub")
    bounded(hub.send_message, Message("provisioned", message_id="dps-1"), what="send_message")
    (got,) = service.wait_events(device_id, 1)
    assert got["bodyText"] == "provisioned"
    check_initial_twin(registry, hub, device_id)

    # The service sees the registration state.
    reg = prov.dps.get_registration(registration_id)
    assert reg["registrationId"] == registration_id
    assert reg["status"] == "assigned"
    assert reg["deviceId"] == device_id
    assert reg["assignedHub"] == state.assigned_hub


def test_provisioning_payload_is_echoed(prov, ca_pem):
    registration_id = unique_id("p-dps-pay")
    key = new_key()
    prov.enroll(registration_id, symmetric_key_attestation(key, new_key()))
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, key, server_verification_cert=ca_pem)
    payload = {"modelId": THERMOSTAT_MODEL_ID, "n": 7, "nested": {"list": [1, "two", None], "ok": True}}
    client.provisioning_payload = payload
    assert client.provisioning_payload == payload
    state = assert_assigned(register(client), registration_id, registration_id)
    # RegistrationState.response_payload is the payload serialised as JSON.
    assert json.loads(state.response_payload) == payload


def test_secondary_key_registers(prov, registry, ca_pem):
    registration_id = unique_id("p-dps-sec")
    primary, secondary = new_key(), new_key()
    prov.enroll(registration_id, symmetric_key_attestation(primary, secondary))
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, secondary, server_verification_cert=ca_pem)
    assert_assigned(register(client), registration_id, registration_id)
    keys = registry.get_device(registration_id).authentication.symmetric_key
    assert (keys.primary_key, keys.secondary_key) == (primary, secondary)


def test_symmetric_key_enrollment_group(prov, registry, service, ca_pem):
    group_id = unique_id("p-dps-grp")
    group_key = new_key()
    group = prov.enroll_group(group_id, symmetric_key_attestation(group_key, new_key()), initialTwin=INITIAL_TWIN)
    assert group["attestation"]["symmetricKey"]["primaryKey"] == group_key
    registration_id = prov.member(unique_id("p-dps-member"))
    device_key = derived_device_key(group_key, registration_id)

    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, device_key, server_verification_cert=ca_pem)
    state = assert_assigned(register(client), registration_id, registration_id)
    assert registry.get_device(registration_id).authentication.symmetric_key.primary_key == device_key

    hub = prov.hub_client(IoTHubDeviceClient.create_from_symmetric_key(
        symmetric_key=device_key, hostname=state.assigned_hub, device_id=registration_id,
        server_verification_cert=ca_pem))
    bounded(hub.connect, timeout=30, what="connect to the assigned hub")
    bounded(hub.send_message, Message("from a group member"), what="send_message")
    (got,) = service.wait_events(registration_id, 1)
    assert got["bodyText"] == "from a group member"
    check_initial_twin(registry, hub, registration_id)


def test_group_key_itself_is_refused(prov, registry, ca_pem):
    # A member signs with its derived key, never with the group key.
    group_id = unique_id("p-dps-grpkey")
    group_key = new_key()
    prov.enroll_group(group_id, symmetric_key_attestation(group_key, new_key()))
    registration_id = prov.member(unique_id("p-dps-member"))
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, group_key, server_verification_cert=ca_pem)
    with pytest.raises(ClientError) as excinfo:
        register(client)
    assert_refused(excinfo)
    assert_no_device(registry, registration_id)


@pytest.mark.parametrize("websockets", [False, True], ids=["mqtt", "wss"])
def test_x509_individual_enrollment(tmp_path, prov, registry, service, ca_pem, websockets):
    registration_id = unique_id("p-dps-x509")
    cert, key = make_device_cert(tmp_path, registration_id)
    prov.enroll(registration_id, x509_client_attestation(cert.read_text()), initialTwin=INITIAL_TWIN)

    client = ProvisioningDeviceClient.create_from_x509_certificate(
        provisioning_host=PROVISIONING_HOST, registration_id=registration_id, id_scope=ID_SCOPE,
        x509=X509(str(cert), str(key)), websockets=websockets, server_verification_cert=ca_pem)
    state = assert_assigned(register(client), registration_id, registration_id)

    # The hub device authenticates with the certificate the device presented.
    device = registry.get_device(registration_id)
    assert device.authentication.type == "selfSigned"
    assert device.authentication.x509_thumbprint.primary_thumbprint.upper() in (
        thumbprint(cert, "sha1"), thumbprint(cert, "sha256"))

    hub = prov.hub_client(IoTHubDeviceClient.create_from_x509_certificate(
        X509(str(cert), str(key)), hostname=state.assigned_hub, device_id=registration_id,
        websockets=websockets, server_verification_cert=ca_pem))
    bounded(hub.connect, timeout=30, what="connect to the assigned hub with the certificate")
    bounded(hub.send_message, Message("x509 provisioned"), what="send_message")
    (got,) = service.wait_events(registration_id, 1)
    assert got["bodyText"] == "x509 provisioned"
    check_initial_twin(registry, hub, registration_id)


def test_x509_enrollment_group(tmp_path, prov, registry, service, ca_pem, x509_ca):
    # The group's signing certificate is the CA the hub also trusts, so the
    # hub accepts the member however its device is recorded.
    group_id = unique_id("p-dps-x509grp")
    prov.enroll_group(group_id, x509_signing_attestation(x509_ca[0].read_text()))
    registration_id = prov.member(unique_id("p-dps-x509member"))
    cert, key = make_device_cert(tmp_path, registration_id, ca=x509_ca)

    client = ProvisioningDeviceClient.create_from_x509_certificate(
        PROVISIONING_HOST, registration_id, ID_SCOPE, X509(str(cert), str(key)), server_verification_cert=ca_pem)
    state = assert_assigned(register(client), registration_id, registration_id)
    assert registry.get_device(registration_id).authentication.type in ("selfSigned", "certificateAuthority")

    hub = prov.hub_client(IoTHubDeviceClient.create_from_x509_certificate(
        X509(str(cert), str(key)), hostname=state.assigned_hub, device_id=registration_id,
        server_verification_cert=ca_pem))
    bounded(hub.connect, timeout=30, what="connect to the assigned hub with the certificate")
    bounded(hub.send_message, Message("x509 group member"), what="send_message")
    (got,) = service.wait_events(registration_id, 1)
    assert got["bodyText"] == "x509 group member"


def test_x509_certificate_of_another_ca_is_refused(tmp_path, prov, registry, ca_pem, x509_ca):
    group_id = unique_id("p-dps-x509other")
    prov.enroll_group(group_id, x509_signing_attestation(x509_ca[0].read_text()))
    registration_id = prov.member(unique_id("p-dps-x509stranger"))
    other_ca = make_ca(tmp_path, "another-root")
    cert, key = make_device_cert(tmp_path, registration_id, ca=other_ca)
    client = ProvisioningDeviceClient.create_from_x509_certificate(
        PROVISIONING_HOST, registration_id, ID_SCOPE, X509(str(cert), str(key)), server_verification_cert=ca_pem)
    with pytest.raises(ClientError) as excinfo:
        register(client)
    assert_refused(excinfo)
    assert_no_device(registry, registration_id)


def test_disabled_enrollment_is_refused(prov, registry, ca_pem):
    registration_id = unique_id("p-dps-off")
    key = new_key()
    enrollment = prov.enroll(registration_id, symmetric_key_attestation(key, new_key()), provisioningStatus="disabled")
    assert enrollment["provisioningStatus"] == "disabled"
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, key, server_verification_cert=ca_pem)
    with pytest.raises(ClientError) as excinfo:
        register(client)
    assert_refused(excinfo)
    assert_no_device(registry, registration_id)


def test_wrong_key_is_refused(prov, registry, ca_pem):
    registration_id = unique_id("p-dps-wrong")
    prov.enroll(registration_id, symmetric_key_attestation(new_key(), new_key()))
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, new_key(), server_verification_cert=ca_pem)
    with pytest.raises(ClientError) as excinfo:
        register(client)
    assert_refused(excinfo)
    assert_no_device(registry, registration_id)


def test_unknown_registration_is_refused(prov, registry, ca_pem):
    registration_id = prov.member(unique_id("p-dps-nobody"))
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        PROVISIONING_HOST, registration_id, ID_SCOPE, new_key(), server_verification_cert=ca_pem)
    with pytest.raises(ClientError) as excinfo:
        register(client)
    assert_refused(excinfo)
    assert_no_device(registry, registration_id)


def test_service_errors_have_the_dps_shape(dps):
    with pytest.raises(DPSError) as excinfo:
        dps.get_enrollment(unique_id("p-dps-missing"))
    assert excinfo.value.status == 404
    body = json.loads(excinfo.value.text)
    assert isinstance(body["errorCode"], int) and str(body["errorCode"]).startswith("404")
    assert body["message"] and body["trackingId"] and body["timestampUtc"]


def test_pnp_thermostat_flow(prov, registry, service, ca_pem):
    """What the SDK's PnP thermostat sample does with IOTHUB_DEVICE_SECURITY_TYPE=DPS,
    step for step, with the async clients it uses (plus the emulator's CA)."""
    registration_id = unique_id("p-dps-pnp")
    key = new_key()
    prov.enroll(registration_id, symmetric_key_attestation(key, new_key()))
    env = {
        "IOTHUB_DEVICE_SECURITY_TYPE": "DPS",
        "IOTHUB_DEVICE_DPS_ENDPOINT": PROVISIONING_HOST,
        "IOTHUB_DEVICE_DPS_ID_SCOPE": ID_SCOPE,
        "IOTHUB_DEVICE_DPS_DEVICE_ID": registration_id,
        "IOTHUB_DEVICE_DPS_DEVICE_KEY": key,
    }
    model_id = THERMOSTAT_MODEL_ID

    async def provision_device(provisioning_host, id_scope, registration_id, symmetric_key, model_id):
        client = device_aio.ProvisioningDeviceClient.create_from_symmetric_key(
            provisioning_host=provisioning_host, registration_id=registration_id, id_scope=id_scope,
            symmetric_key=symmetric_key, server_verification_cert=ca_pem)
        client.provisioning_payload = {"modelId": model_id}
        return await client.register()

    async def main():
        assert env["IOTHUB_DEVICE_SECURITY_TYPE"] == "DPS"
        result = await asyncio.wait_for(provision_device(
            env["IOTHUB_DEVICE_DPS_ENDPOINT"], env["IOTHUB_DEVICE_DPS_ID_SCOPE"],
            env["IOTHUB_DEVICE_DPS_DEVICE_ID"], env["IOTHUB_DEVICE_DPS_DEVICE_KEY"], model_id), REGISTER_TIMEOUT)
        assert result.status == "assigned"
        state = result.registration_state
        assert json.loads(state.response_payload) == {"modelId": model_id}
        device_client = device_aio.IoTHubDeviceClient.create_from_symmetric_key(
            symmetric_key=env["IOTHUB_DEVICE_DPS_DEVICE_KEY"], hostname=state.assigned_hub,
            device_id=state.device_id, product_info=model_id, server_verification_cert=ca_pem)
        try:
            await asyncio.wait_for(device_client.connect(), 30)
            await asyncio.wait_for(device_client.patch_twin_reported_properties({"maxTempSinceLastReboot": 10.96}), 20)
            msg = Message(json.dumps({"temperature": 21}))
            msg.content_encoding = "utf-8"
            msg.content_type = "application/json"
            await asyncio.wait_for(device_client.send_message(msg), 20)
        finally:
            await asyncio.wait_for(device_client.shutdown(), 20)
        return state

    state = asyncio.run(main())
    assert state.device_id == registration_id and state.assigned_hub in HUB_HOSTS
    (got,) = service.wait_events(registration_id, 1)
    assert json.loads(got["bodyText"]) == {"temperature": 21}
    assert got["systemProperties"]["content-type"] == "application/json"
    # The service twin (the hub's REST API; azure-iot-hub's Twin model drops modelId).
    twin = service.ok_json("GET", f"/twins/{registration_id}", params={"api-version": "2021-04-12"})
    assert twin["modelId"] == model_id
    assert twin["properties"]["reported"]["maxTempSinceLastReboot"] == 10.96
