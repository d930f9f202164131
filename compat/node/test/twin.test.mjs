// Device twins from the back end: Registry.getTwin, Twin.update, Registry.updateTwin.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { newRegistry, Scope, uniqueId, userProps } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

test('getTwin of a new device', async () => {
  const { device } = await scope.createDevice('n-twin-new');
  const { responseBody: twin } = await registry.getTwin(device.deviceId);
  assert.equal(twin.deviceId, device.deviceId);
  assert.ok(twin.etag && twin.etag !== '*');
  assert.equal(typeof twin.version, 'number');
  assert.equal(twin.properties.desired.$version, 1);
  assert.equal(twin.properties.reported.$version, 1);
  assert.deepEqual(userProps(twin.properties.desired), {});
  assert.ok(twin.properties.desired.$metadata.$lastUpdated);
});

test('twin.update merges tags and desired properties', async () => {
  const { device } = await scope.createDevice('n-twin-upd');
  const { responseBody: twin } = await registry.getTwin(device.deviceId);
  const firstEtag = twin.etag;
  const firstVersion = twin.version;

  await twin.update({
    tags: { location: { region: 'US', plant: 'Plant7' } },
    properties: { desired: { telemetry: { interval: 30, unit: 's' } } },
  });
  assert.deepEqual(twin.tags, { location: { region: 'US', plant: 'Plant7' } });
  assert.deepEqual(twin.properties.desired.telemetry, { interval: 30, unit: 's' });
  assert.equal(twin.properties.desired.$version, 2);
  assert.notEqual(twin.etag, firstEtag);

  // Twin.update sends the etag it holds, now the new one.
  await twin.update({ tags: { location: { plant: 'Seattle1' } }, properties: { desired: { telemetry: { unit: null } } } });
  assert.deepEqual(twin.tags, { location: { region: 'US', plant: 'Seattle1' } });
  assert.deepEqual(userProps(twin.properties.desired), { telemetry: { interval: 30 } });

  const { responseBody: again } = await registry.getTwin(device.deviceId);
  assert.deepEqual(again.tags, twin.tags);
  assert.equal(again.etag, twin.etag);
  assert.ok(again.version > firstVersion);
});

test('updateTwin with a stale etag is InvalidEtagError (412)', async () => {
  const { device } = await scope.createDevice('n-twin-412');
  const { responseBody: twin } = await registry.getTwin(device.deviceId);
  await registry.updateTwin(device.deviceId, { tags: { a: 1 } }, twin.etag);
  await assert.rejects(registry.updateTwin(device.deviceId, { tags: { a: 2 } }, twin.etag), (err) => {
    assert.equal(err.name, 'InvalidEtagError');
    assert.equal(err.response.statusCode, 412);
    assert.match(JSON.parse(err.responseBody).Message, /^ErrorCode:PreconditionFailed;/);
    return true;
  });
  const { responseBody: after } = await registry.getTwin(device.deviceId);
  assert.deepEqual(after.tags, { a: 1 });
});

test('updateTwin with an empty etag is refused, never a wildcard', async () => {
  const { device } = await scope.createDevice('n-twin-empty-etag');
  for (const etag of ['""', 'W/""', '""""']) {
    await assert.rejects(registry.updateTwin(device.deviceId, { tags: { a: 1 } }, etag), (err) => {
      assert.equal(err.response.statusCode, 412, etag);
      return true;
    });
  }
  const { responseBody: after } = await registry.getTwin(device.deviceId);
  assert.deepEqual(after.tags ?? {}, {});
  assert.equal(after.version, 1);
});

test('updateTwin refuses keys IoT Hub refuses, and changes nothing', async () => {
  const { device } = await scope.createDevice('n-twin-dollar');
  for (const patch of [{ tags: { $x: 1 } }, { properties: { desired: { $foo: 1 } } }, { properties: { desired: { a: { 'b.c': 1 } } } },
    { properties: { reported: { r: 1 } } }, { deviceId: 'someone-else', tags: { a: 1 } }]) {
    await assert.rejects(registry.updateTwin(device.deviceId, patch, '*'), (err) => {
      assert.equal(err.response.statusCode, 400, JSON.stringify(patch));
      assert.match(JSON.parse(err.responseBody).Message, /^ErrorCode:ArgumentInvalid;/);
      return true;
    });
  }
  const { responseBody: after } = await registry.getTwin(device.deviceId);
  assert.equal(after.version, 1);
  assert.equal(after.properties.desired.$version, 1);
});

test('updateTwin with the "*" etag always applies', async () => {
  const { device } = await scope.createDevice('n-twin-star');
  const { responseBody: twin } = await registry.updateTwin(device.deviceId, { tags: { k: 'v' } }, '*');
  assert.deepEqual(twin.tags, { k: 'v' });
});

test('getTwin of an unknown device is DeviceNotFoundError', async () => {
  await assert.rejects(registry.getTwin(uniqueId('n-twin-nobody')), { name: 'DeviceNotFoundError' });
});
