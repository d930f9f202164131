// Device identity registry through azure-iothub's Registry.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { newRegistry, Scope, uniqueId } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

function isKey(value) {
  return typeof value === 'string' && value.length > 0 && Buffer.from(value, 'base64').length >= 16;
}

test('create without keys: the hub generates them', async () => {
  // The SDK sends authentication {type: 'sas', symmetricKey: {primaryKey: '', secondaryKey: ''}}.
  const { device } = await scope.createDevice('n-reg-create');
  assert.equal(device.status, 'enabled');
  assert.equal(device.authentication.type, 'sas');
  assert.ok(isKey(device.authentication.symmetricKey.primaryKey), device.authentication.symmetricKey.primaryKey);
  assert.ok(isKey(device.authentication.symmetricKey.secondaryKey));
  assert.notEqual(device.authentication.symmetricKey.primaryKey, device.authentication.symmetricKey.secondaryKey);
  assert.ok(device.etag);
  assert.ok(device.generationId);
  assert.equal(device.connectionState, 'Disconnected');
});

test('get returns the created identity', async () => {
  const { device } = await scope.createDevice('n-reg-get');
  const { responseBody: got, httpResponse } = await registry.get(device.deviceId);
  assert.equal(httpResponse.statusCode, 200);
  assert.equal(got.deviceId, device.deviceId);
  assert.equal(got.etag, device.etag);
  assert.equal(got.authentication.symmetricKey.primaryKey, device.authentication.symmetricKey.primaryKey);
});

test('update changes status and etag', async () => {
  const { device } = await scope.createDevice('n-reg-upd');
  const { responseBody: updated } = await registry.update({
    deviceId: device.deviceId,
    status: 'disabled',
    statusReason: 'maintenance',
    authentication: device.authentication,
  });
  assert.equal(updated.status, 'disabled');
  assert.equal(updated.statusReason, 'maintenance');
  assert.notEqual(updated.etag, device.etag);
  assert.equal(updated.authentication.symmetricKey.primaryKey, device.authentication.symmetricKey.primaryKey);
  const { responseBody: got } = await registry.get(device.deviceId);
  assert.equal(got.status, 'disabled');
});

test('delete, then get is DeviceNotFoundError', async () => {
  const { device } = await scope.createDevice('n-reg-del');
  const { httpResponse } = await registry.delete(device.deviceId);
  assert.equal(httpResponse.statusCode, 204);
  await assert.rejects(registry.get(device.deviceId), { name: 'DeviceNotFoundError' });
});

test('unknown device is DeviceNotFoundError', async () => {
  await assert.rejects(registry.get(uniqueId('n-reg-nobody')), (err) => {
    assert.equal(err.name, 'DeviceNotFoundError');
    assert.equal(err.response.statusCode, 404);
    assert.match(JSON.parse(err.responseBody).Message, /^ErrorCode:DeviceNotFound;/);
    assert.equal(err.response.headers['iothub-errorcode'], 'DeviceNotFound');
    return true;
  });
  await assert.rejects(registry.delete(uniqueId('n-reg-nobody')), { name: 'DeviceNotFoundError' });
});

test('duplicate create is DeviceAlreadyExistsError', async () => {
  const { device } = await scope.createDevice('n-reg-dup');
  await assert.rejects(registry.create({ deviceId: device.deviceId }), (err) => {
    assert.equal(err.name, 'DeviceAlreadyExistsError');
    assert.equal(err.response.statusCode, 409);
    assert.match(JSON.parse(err.responseBody).Message, /^ErrorCode:DeviceAlreadyExists;/);
    return true;
  });
  const { responseBody: got } = await registry.get(device.deviceId);
  assert.equal(got.etag, device.etag);
});

test('list includes created devices', async () => {
  // Registry.list sends GET /devices/ (trailing slash).
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await scope.createDevice('n-reg-list')).device.deviceId);
  const { responseBody: devices } = await registry.list();
  const listed = new Set(devices.map((d) => d.deviceId));
  for (const id of ids) assert.ok(listed.has(id), `${id} missing from list`);
});

test('a list holding X.509 devices reads like IoT Hub\'s (registry_sample.js)', async () => {
  // The official registry sample prints authentication.symmetricKey.primaryKey
  // of every listed device; IoT Hub gives X.509 devices a symmetricKey object
  // with null keys, so the sample must not throw.
  const selfSigned = (await scope.createDevice('n-reg-x509', {
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB'.repeat(20), secondaryThumbprint: 'CD'.repeat(20) } },
  })).device;
  const ca = (await scope.createDevice('n-reg-x509ca', { authentication: { type: 'certificateAuthority' } })).device;
  const { responseBody: devices } = await registry.list();
  const byId = new Map(devices.map((d) => [d.deviceId, d]));
  for (const d of devices) assert.notEqual(d.authentication.symmetricKey, undefined, d.deviceId);
  for (const id of [selfSigned.deviceId, ca.deviceId]) {
    const listed = byId.get(id);
    assert.ok(listed, `${id} missing from list`);
    assert.equal(listed.authentication.symmetricKey.primaryKey, null);
    assert.equal(listed.authentication.symmetricKey.secondaryKey, null);
  }
  assert.equal(byId.get(selfSigned.deviceId).authentication.x509Thumbprint.primaryThumbprint, 'AB'.repeat(20));
  assert.equal(byId.get(ca.deviceId).authentication.x509Thumbprint.primaryThumbprint, null);
});

test('registry statistics count enabled and disabled devices', async () => {
  const { responseBody: before } = await registry.getRegistryStatistics();
  await scope.createDevice('n-reg-stat-on');
  await scope.createDevice('n-reg-stat-off', { status: 'disabled' });
  const { responseBody: after } = await registry.getRegistryStatistics();
  assert.equal(after.totalDeviceCount, before.totalDeviceCount + 2);
  assert.equal(after.enabledDeviceCount, before.enabledDeviceCount + 1);
  assert.equal(after.disabledDeviceCount, before.disabledDeviceCount + 1);
});
