// Bulk registry operations (POST /devices) through azure-iothub's Registry.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { newRegistry, uniqueId } from '../lib/hub.mjs';

const registry = newRegistry();
let made = [];
afterEach(async () => {
  for (const deviceId of made) await registry.delete(deviceId).catch(() => {});
  made = [];
});

function ids(n, prefix = 'n-bulk') {
  const out = Array.from({ length: n }, () => uniqueId(prefix));
  made.push(...out);
  return out;
}

const key = (c) => Buffer.alloc(32, c).toString('base64');

test('addDevices, updateDevices and removeDevices', async () => {
  const [a, b] = ids(2);
  const { responseBody: added, httpResponse } = await registry.addDevices([
    { deviceId: a, status: 'enabled', authentication: { symmetricKey: { primaryKey: key('a'), secondaryKey: key('A') } } },
    { deviceId: b, status: 'disabled' },
  ]);
  assert.equal(httpResponse.statusCode, 200);
  assert.deepEqual(added, { isSuccessful: true, errors: [], warnings: [] });
  const { responseBody: gotA } = await registry.get(a);
  assert.equal(gotA.authentication.symmetricKey.primaryKey, key('a'));
  assert.equal((await registry.get(b)).responseBody.status, 'disabled');

  // forceUpdate false: UpdateIfMatchETag with the device's etag, as got.
  const { responseBody: updated } = await registry.updateDevices([{ ...gotA, status: 'disabled' }], false);
  assert.equal(updated.isSuccessful, true);
  const { responseBody: afterA } = await registry.get(a);
  assert.equal(afterA.status, 'disabled');
  assert.notEqual(afterA.etag, gotA.etag);
  // forceUpdate true: Update, whatever the etag.
  await registry.updateDevices([{ deviceId: b, status: 'enabled', etag: 'stale' }], true);
  assert.equal((await registry.get(b)).responseBody.status, 'enabled');

  // forceRemove false with a stale etag fails that device only.
  await assert.rejects(registry.removeDevices([{ deviceId: a, etag: gotA.etag }], false), (err) => {
    assert.equal(err.response.statusCode, 400);
    const result = JSON.parse(err.responseBody);
    assert.equal(result.isSuccessful, false);
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0].deviceId, a);
    assert.equal(result.errors[0].errorCode, 'PreconditionFailed');
    return true;
  });
  const { responseBody: removed } = await registry.removeDevices([{ deviceId: a, etag: afterA.etag }, { deviceId: b }], true);
  assert.equal(removed.isSuccessful, true);
  for (const id of [a, b]) {
    await assert.rejects(registry.get(id), (err) => err.response.statusCode === 404);
  }
});

test('a partial failure applies the others and lists each failure', async () => {
  const [taken, fresh] = ids(2);
  await registry.create({ deviceId: taken });
  const { responseBody: before } = await registry.get(taken);
  await assert.rejects(registry.addDevices([{ deviceId: taken, status: 'disabled' }, { deviceId: fresh }]), (err) => {
    assert.equal(err.response.statusCode, 400);
    assert.equal(err.response.headers['iothub-errorcode'], 'BulkRegistryOperationFailure');
    const result = JSON.parse(err.responseBody);
    assert.equal(result.isSuccessful, false);
    assert.deepEqual(result.errors.map((e) => [e.deviceId, e.errorCode]), [[taken, 'DeviceAlreadyExists']]);
    assert.deepEqual(result.warnings, []);
    return true;
  });
  assert.equal((await registry.get(fresh)).responseBody.deviceId, fresh);
  const { responseBody: after } = await registry.get(taken);
  assert.equal(after.etag, before.etag);
  assert.equal(after.status, 'enabled');
});

test('a repeated id refuses the whole call', async () => {
  const [a] = ids(1);
  await assert.rejects(registry.addDevices([{ deviceId: a }, { deviceId: a }]), (err) => {
    assert.equal(err.response.statusCode, 400);
    assert.equal(err.response.headers['iothub-errorcode'], 'DeviceDefinedMultipleTimes');
    return true;
  });
  await assert.rejects(registry.get(a), (err) => err.response.statusCode === 404);
});
