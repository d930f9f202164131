// The Device Provisioning Service with azure-iot-provisioning-device over
// Mqtt, MqttWs and Http: symmetric-key registrations (individual enrollment
// and group with a derived key), an X.509 self-signed registration,
// setProvisioningPayload echoed back, the assigned hub reached with the
// device Client, refusals, the PnP sample's flow; and
// azure-iot-provisioning-service's ProvisioningServiceClient: enrollment and
// group CRUD with etags, queries, bulk operations, registration states and
// attestation mechanisms.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { makeDeviceCert } from '../lib/certs.mjs';
import {
  Message, Mqtt, MqttWs, newRegistry, Scope, uniqueId, userProps, waitEvents, withTimeout,
} from '../lib/hub.mjs';
import {
  DpsScope, HUB_HOSTS, ID_SCOPE, PROVISIONING_HOST, ProvHttp, ProvisioningDeviceClient, ProvisioningServiceClient, ProvMqtt, ProvMqttWs,
  SymmetricKeySecurityClient, X509Security, derivedDeviceKey, newKey, newProvisioningServiceClient, register,
  statusOf, symmetricKeyAttestation, x509ClientAttestation,
} from '../lib/dps.mjs';

const registry = newRegistry();
const dps = newProvisioningServiceClient();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iothub-compat-dps-'));
const THERMOSTAT = 'dtmi:com:example:Thermostat;1';
const INITIAL_TWIN = { tags: { site: 'lab', floor: 3 }, properties: { desired: { interval: 30, mode: { eco: true } } } };

let hub;
let prov;
beforeEach(() => {
  hub = new Scope(registry);
  prov = new DpsScope(dps, registry);
});
afterEach(async () => {
  await hub.cleanup();
  await prov.cleanup();
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function symmetricRegistration(transport, registrationId, key) {
  return ProvisioningDeviceClient.create(PROVISIONING_HOST, ID_SCOPE, transport, new SymmetricKeySecurityClient(registrationId, key));
}

function assertAssigned(state, deviceId) {
  assert.equal(state.status, 'assigned', JSON.stringify(state));
  assert.equal(state.deviceId, deviceId);
  assert.ok(HUB_HOSTS.includes(state.assignedHub), `assignedHub ${state.assignedHub}`);
  assert.equal(state.substatus, 'initialAssignment');
  assert.ok(state.createdDateTimeUtc && state.lastUpdatedDateTimeUtc && state.etag, JSON.stringify(state));
}

// Telemetry and the initial twin through the assigned hub.
async function useAssignedHub(client, deviceId) {
  await withTimeout(client.open(), 30_000, 'open on the assigned hub');
  await withTimeout(client.sendEvent(new Message('provisioned')), 20_000, 'sendEvent');
  const [got] = await waitEvents(deviceId, 1);
  assert.equal(got.bodyText, 'provisioned');
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  assert.deepEqual(userProps(twin.properties.desired), INITIAL_TWIN.properties.desired);
  const { responseBody: serviceTwin } = await registry.getTwin(deviceId);
  assert.deepEqual(serviceTwin.tags, INITIAL_TWIN.tags);
}

// A refused registration rejects with mqtt.js's CONNACK error (MQTT, code 4
// or 5) or with the SDK's UnauthorizedError for a 401 answer.
function assertRefused(err) {
  const connack = /^Connection refused: (Not authorized|Bad username or password)/.test(err.message) && [4, 5].includes(err.code);
  assert.ok(connack || err.constructor.name === 'UnauthorizedError',
    `want a CONNACK refusal or UnauthorizedError, got ${err.constructor.name}: ${err.message}`);
}

async function assertNoDevice(deviceId) {
  await assert.rejects(registry.get(deviceId), (err) => statusOf(err) === 404);
}

for (const [name, Transport, DeviceTransport] of [['Mqtt', ProvMqtt, Mqtt], ['MqttWs', ProvMqttWs, MqttWs], ['Http', ProvHttp, Mqtt]]) {
  test(`${name}: symmetric-key individual enrollment, then the assigned hub`, async () => {
    const registrationId = uniqueId('n-dps-sym');
    const deviceId = `${registrationId}-dev`;
    const enrollment = await prov.enroll(registrationId, symmetricKeyAttestation(), { deviceId, initialTwin: INITIAL_TWIN });
    const key = enrollment.attestation.symmetricKey.primaryKey; // generated
    assert.ok(Buffer.from(key, 'base64').length >= 16);

    const state = await register(symmetricRegistration(new Transport(), registrationId, key));
    assertAssigned(state, deviceId);
    const { responseBody: device } = await registry.get(deviceId);
    assert.equal(device.authentication.symmetricKey.primaryKey, key);

    const client = hub.client(`HostName=${state.assignedHub};DeviceId=${state.deviceId};SharedAccessKey=${key}`, DeviceTransport);
    await useAssignedHub(client, deviceId);
  });

  test(`${name}: setProvisioningPayload is echoed in registrationState.payload`, async () => {
    const registrationId = uniqueId('n-dps-pay');
    const key = newKey();
    await prov.enroll(registrationId, symmetricKeyAttestation(key, newKey()));
    const registration = symmetricRegistration(new Transport(), registrationId, key);
    const payload = { modelId: THERMOSTAT, n: 7, nested: { list: [1, 'two', null], ok: true } };
    registration.setProvisioningPayload(payload);
    const state = await register(registration);
    assertAssigned(state, registrationId);
    assert.deepEqual(state.payload, payload);
  });

  test(`${name}: a wrong key is refused and provisions nothing`, async () => {
    const registrationId = uniqueId('n-dps-wrong');
    await prov.enroll(registrationId, symmetricKeyAttestation(newKey(), newKey()));
    await assert.rejects(register(symmetricRegistration(new Transport(), registrationId, newKey())), (err) => {
      assertRefused(err);
      return true;
    });
    await assertNoDevice(registrationId);
  });
}

test('Mqtt: enrollment group with a derived device key', async () => {
  const groupId = uniqueId('n-dps-grp');
  const groupKey = newKey();
  await prov.enrollGroup(groupId, symmetricKeyAttestation(groupKey, newKey()), { initialTwin: INITIAL_TWIN });
  const registrationId = prov.member(uniqueId('n-dps-member'));
  const deviceKey = derivedDeviceKey(groupKey, registrationId);

  const state = await register(symmetricRegistration(new ProvMqtt(), registrationId, deviceKey));
  assertAssigned(state, registrationId);
  const { responseBody: device } = await registry.get(registrationId);
  assert.equal(device.authentication.symmetricKey.primaryKey, deviceKey);
  await useAssignedHub(hub.client(`HostName=${state.assignedHub};DeviceId=${registrationId};SharedAccessKey=${deviceKey}`), registrationId);
});

test('Mqtt: X509Security with a self-signed individual enrollment, then the assigned hub', async () => {
  const registrationId = uniqueId('n-dps-x509');
  const files = makeDeviceCert(dir, registrationId);
  const cert = fs.readFileSync(files.cert, 'utf8');
  const key = fs.readFileSync(files.key, 'utf8');
  await prov.enroll(registrationId, x509ClientAttestation(cert), { initialTwin: INITIAL_TWIN });

  const registration = ProvisioningDeviceClient.create(PROVISIONING_HOST, ID_SCOPE, new ProvMqtt(), new X509Security(registrationId, { cert, key }));
  const state = await register(registration);
  assertAssigned(state, registrationId);
  const { responseBody: device } = await registry.get(registrationId);
  assert.equal(device.authentication.type, 'selfSigned');

  const client = hub.client(`HostName=${state.assignedHub};DeviceId=${registrationId};x509=true`, Mqtt);
  client.setOptions({ cert, key });
  await useAssignedHub(client, registrationId);
});

// DPS answers a disabled enrollment's registration with the operation
// status "disabled", which the Node SDK's polling state machine rejects as
// an unknown status (SyntaxError 'status is disabled').
test('Mqtt: a disabled enrollment is refused and provisions nothing', async () => {
  const registrationId = uniqueId('n-dps-off');
  const key = newKey();
  const enrollment = await prov.enroll(registrationId, symmetricKeyAttestation(key, newKey()), { provisioningStatus: 'disabled' });
  assert.equal(enrollment.provisioningStatus, 'disabled');
  await assert.rejects(register(symmetricRegistration(new ProvMqtt(), registrationId, key)), (err) => {
    assert.match(err.message, /status is disabled/);
    return true;
  });
  const { responseBody: regState } = await prov.service.getDeviceRegistrationState(registrationId);
  assert.equal(regState.status, 'disabled');
  await assertNoDevice(registrationId);
});

test('Mqtt: an unknown registration id is refused', async () => {
  const registrationId = prov.member(uniqueId('n-dps-nobody'));
  await assert.rejects(register(symmetricRegistration(new ProvMqtt(), registrationId, newKey())), (err) => {
    assertRefused(err);
    return true;
  });
  await assertNoDevice(registrationId);
});

// What the SDK's PnP thermostat sample does with IOTHUB_DEVICE_SECURITY_TYPE=DPS.
test('PnP: provision with {modelId}, connect with setOptions({modelId}), the twin shows modelId', async () => {
  const registrationId = uniqueId('n-dps-pnp');
  const symmetricKey = newKey();
  await prov.enroll(registrationId, symmetricKeyAttestation(symmetricKey, newKey()));
  const modelIdObject = { modelId: THERMOSTAT };

  const provisioningClient = ProvisioningDeviceClient.create(PROVISIONING_HOST, ID_SCOPE, new ProvMqtt(),
    new SymmetricKeySecurityClient(registrationId, symmetricKey));
  provisioningClient.setProvisioningPayload(modelIdObject);
  const result = await register(provisioningClient);
  assert.deepEqual(result.payload, modelIdObject);
  const deviceConnectionString = `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${symmetricKey}`;

  const client = hub.client(deviceConnectionString, Mqtt);
  await withTimeout(client.setOptions(modelIdObject), 10_000, 'setOptions');
  await withTimeout(client.open(), 30_000, 'open');
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  await withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update({ serialNumber: '123abc', maxTempSinceLastReboot: 42.5 }, (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'reported update');
  const message = new Message(JSON.stringify({ temperature: 21.5 }));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  await withTimeout(client.sendEvent(message), 20_000, 'sendEvent');
  const [got] = await waitEvents(registrationId, 1);
  assert.deepEqual(JSON.parse(got.bodyText), { temperature: 21.5 });

  // The service twin: azure-iothub's getTwin returns the raw body, modelId included.
  const { responseBody: serviceTwin } = await registry.getTwin(registrationId);
  assert.equal(serviceTwin.modelId, THERMOSTAT);
  assert.equal(serviceTwin.properties.reported.serialNumber, '123abc');
});

// ProvisioningServiceClient.

test('service: individual enrollment create, get with etag, update with If-Match, stale etag refused, delete', async () => {
  const registrationId = uniqueId('n-dps-crud');
  prov.enrollments.push(registrationId);
  const { responseBody: created } = await dps.createOrUpdateIndividualEnrollment({
    registrationId, attestation: symmetricKeyAttestation(), initialTwin: INITIAL_TWIN,
    capabilities: { iotEdge: false }, reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
  });
  assert.equal(created.registrationId, registrationId);
  assert.equal(created.deviceId ?? registrationId, registrationId);
  assert.equal(created.provisioningStatus, 'enabled');
  assert.equal(created.attestation.type, 'symmetricKey');
  assert.ok(created.attestation.symmetricKey.primaryKey && created.attestation.symmetricKey.secondaryKey);
  assert.ok(created.etag && created.createdDateTimeUtc && created.lastUpdatedDateTimeUtc);

  const { responseBody: got } = await dps.getIndividualEnrollment(registrationId);
  assert.equal(got.etag, created.etag);
  assert.deepEqual(got.initialTwin.tags, INITIAL_TWIN.tags);
  assert.deepEqual(userProps(got.initialTwin.properties.desired), INITIAL_TWIN.properties.desired);

  // The SDK sends If-Match with the enrollment's etag.
  const { responseBody: updated } = await dps.createOrUpdateIndividualEnrollment({ ...got, provisioningStatus: 'disabled' });
  assert.equal(updated.provisioningStatus, 'disabled');
  assert.notEqual(updated.etag, got.etag);
  assert.equal(updated.attestation.symmetricKey.primaryKey, created.attestation.symmetricKey.primaryKey);

  await assert.rejects(dps.createOrUpdateIndividualEnrollment({ ...got, provisioningStatus: 'enabled' }),
    (err) => statusOf(err) === 412);
  await assert.rejects(dps.deleteIndividualEnrollment(registrationId, got.etag), (err) => statusOf(err) === 412);

  await dps.deleteIndividualEnrollment(updated);
  await assert.rejects(dps.getIndividualEnrollment(registrationId), (err) => {
    assert.equal(statusOf(err), 404);
    const body = JSON.parse(err.responseBody);
    assert.equal(typeof body.errorCode, 'number');
    assert.ok(String(body.errorCode).startsWith('404'), err.responseBody);
    assert.ok(body.message && body.trackingId && body.timestampUtc, err.responseBody);
    return true;
  });
});

test('service: getIndividualEnrollmentAttestationMechanism returns the keys', async () => {
  const registrationId = uniqueId('n-dps-att');
  const primaryKey = newKey();
  const secondaryKey = newKey();
  await prov.enroll(registrationId, symmetricKeyAttestation(primaryKey, secondaryKey));
  const { responseBody: attestation } = await dps.getIndividualEnrollmentAttestationMechanism(registrationId);
  assert.equal(attestation.type, 'symmetricKey');
  assert.equal(attestation.symmetricKey.primaryKey, primaryKey);
  assert.equal(attestation.symmetricKey.secondaryKey, secondaryKey);
});

test('service: enrollment group create, get, attestation mechanism, delete', async () => {
  const groupId = uniqueId('n-dps-gcrud');
  const primaryKey = newKey();
  const { responseBody: created } = await dps.createOrUpdateEnrollmentGroup({
    enrollmentGroupId: groupId, attestation: symmetricKeyAttestation(primaryKey, newKey()), initialTwin: INITIAL_TWIN,
  });
  prov.groups.push(groupId);
  assert.equal(created.enrollmentGroupId, groupId);
  assert.ok(created.etag);
  const { responseBody: got } = await dps.getEnrollmentGroup(groupId);
  assert.equal(got.attestation.symmetricKey.primaryKey, primaryKey);
  assert.equal(got.etag, created.etag);
  // This SDK call uses the path /enrollmentgroups/{id}/attestationmechanism.
  const { responseBody: attestation } = await dps.getEnrollmentGroupAttestationMechanism(groupId);
  assert.equal(attestation.symmetricKey.primaryKey, primaryKey);
  await dps.deleteEnrollmentGroup(groupId);
  await assert.rejects(dps.getEnrollmentGroup(groupId), (err) => statusOf(err) === 404);
});

test('service: createIndividualEnrollmentQuery pages through every enrollment with continuation tokens', async () => {
  const prefix = uniqueId('n-dps-q');
  const ids = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`];
  for (const id of ids) await prov.enroll(id, symmetricKeyAttestation());
  const query = dps.createIndividualEnrollmentQuery({ query: '*' }, 1);
  const seen = [];
  let pages = 0;
  while (query.hasMoreResults) {
    // next() with no argument sends no continuation token (the SDK reads
    // its own token only when given a callback), so pass it explicitly.
    const { responseBody: page } = await withTimeout(query.next(query.continuationToken), 20_000, 'query.next');
    assert.ok(Array.isArray(page), JSON.stringify(page));
    assert.ok(page.length <= 1, `page of ${page.length} with x-ms-max-item-count 1`);
    seen.push(...page.map((e) => e.registrationId));
    pages += 1;
    assert.ok(pages < 1000, 'the query never ends');
  }
  for (const id of ids) assert.ok(seen.includes(id), `${id} not in the query's results`);
  assert.equal(new Set(seen).size, seen.length, 'an enrollment came twice');
});

test('service: runBulkEnrollmentOperation creates and deletes enrollments', async () => {
  const prefix = uniqueId('n-dps-bulk');
  const enrollments = [`${prefix}-1`, `${prefix}-2`].map((registrationId) => ({ registrationId, attestation: symmetricKeyAttestation() }));
  prov.enrollments.push(...enrollments.map((e) => e.registrationId));
  // The SDK's promise form never settles (it answers only a caller's callback).
  const bulk = (operation) => withTimeout(new Promise((resolve, reject) => {
    dps.runBulkEnrollmentOperation(operation, (err, result) => (err ? reject(err) : resolve(result)));
  }), 20_000, 'runBulkEnrollmentOperation');

  const created = await bulk({ mode: 'create', enrollments });
  assert.equal(created.isSuccessful, true, JSON.stringify(created));
  for (const { registrationId } of enrollments) {
    const { responseBody } = await dps.getIndividualEnrollment(registrationId);
    assert.equal(responseBody.attestation.type, 'symmetricKey');
  }
  const again = await bulk({ mode: 'create', enrollments });
  assert.equal(again.isSuccessful, false, JSON.stringify(again));
  assert.deepEqual(again.errors.map((e) => e.registrationId).sort(), enrollments.map((e) => e.registrationId).sort());

  const deleted = await bulk({ mode: 'delete', enrollments });
  assert.equal(deleted.isSuccessful, true, JSON.stringify(deleted));
  for (const { registrationId } of enrollments) {
    await assert.rejects(dps.getIndividualEnrollment(registrationId), (err) => statusOf(err) === 404);
  }
});

test('service: device registration state get, group registration query, delete', async () => {
  const groupId = uniqueId('n-dps-rgrp');
  const groupKey = newKey();
  await prov.enrollGroup(groupId, symmetricKeyAttestation(groupKey, newKey()));
  const registrationId = prov.member(uniqueId('n-dps-rmember'));
  const state = await register(symmetricRegistration(new ProvMqtt(), registrationId, derivedDeviceKey(groupKey, registrationId)));
  assertAssigned(state, registrationId);

  const { responseBody: reg } = await dps.getDeviceRegistrationState(registrationId);
  assert.equal(reg.registrationId, registrationId);
  assert.equal(reg.status, 'assigned');
  assert.equal(reg.deviceId, registrationId);
  assert.equal(reg.assignedHub, state.assignedHub);
  assert.ok(reg.etag);

  const query = dps.createEnrollmentGroupDeviceRegistrationStateQuery({ query: '*' }, groupId);
  const { responseBody: page } = await withTimeout(query.next(), 20_000, 'registration query');
  assert.deepEqual(page.map((r) => r.registrationId), [registrationId]);
  assert.equal(query.hasMoreResults, false);

  await dps.deleteDeviceRegistrationState(registrationId);
  await assert.rejects(dps.getDeviceRegistrationState(registrationId), (err) => statusOf(err) === 404);
  // The hub device stays: deleting a registration record does not deprovision.
  const { responseBody: device } = await registry.get(registrationId);
  assert.equal(device.deviceId, registrationId);
});

test('service: a wrong service key is refused with 401', async () => {
  const wrong = ProvisioningServiceClient.fromConnectionString(
    `HostName=localhost;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=${newKey()}`);
  await assert.rejects(wrong.getIndividualEnrollment(uniqueId('n-dps-nokey')), (err) => statusOf(err) === 401);
});
