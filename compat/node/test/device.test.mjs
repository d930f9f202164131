// Device side over MQTT/TLS with azure-iot-device's Client and the Mqtt transport.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { deviceConnectionString, newRegistry, Scope, uniqueId, userProps, withTimeout } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

async function openClient(connectionString) {
  const client = scope.client(connectionString);
  await withTimeout(client.open(), 30_000, 'client.open');
  return client;
}

function reportedUpdate(twin, patch) {
  return withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'reported update');
}

test('getTwin returns desired and reported with versions', async () => {
  const { device, connectionString } = await scope.createDevice('n-dc-get');
  await registry.updateTwin(device.deviceId, { properties: { desired: { mode: 'eco' } } }, '*');
  const client = await openClient(connectionString);
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  assert.equal(twin.properties.desired.mode, 'eco');
  assert.equal(twin.properties.desired.$version, 2);
  assert.equal(twin.properties.reported.$version, 1);
});

test('reported update reaches the service and bumps $version', async () => {
  const { device, connectionString } = await scope.createDevice('n-dc-rep');
  const { responseBody: before } = await registry.getTwin(device.deviceId);
  const client = await openClient(connectionString);
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  await reportedUpdate(twin, { firmware: '1.2.3', connectivity: { type: 'cellular' } });

  const { responseBody: after } = await registry.getTwin(device.deviceId);
  assert.deepEqual(userProps(after.properties.reported), { firmware: '1.2.3', connectivity: { type: 'cellular' } });
  assert.equal(after.properties.reported.$version, before.properties.reported.$version + 1);
  assert.ok(after.version > before.version);

  await reportedUpdate(twin, { firmware: null });
  const { responseBody: last } = await registry.getTwin(device.deviceId);
  assert.deepEqual(userProps(last.properties.reported), { connectivity: { type: 'cellular' } });
  assert.equal(last.properties.reported.$version, before.properties.reported.$version + 2);
});

test('desired change from the service raises properties.desired', async () => {
  const { device, connectionString } = await scope.createDevice('n-dc-des');
  const client = await openClient(connectionString);
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');

  const events = [];
  let notify = () => {};
  twin.on('properties.desired', (delta) => { events.push(delta); notify(); });
  // Adding the listener subscribes, with no completion callback: let the
  // SUBSCRIBE go out, then a twin round trip behind it on the same connection
  // guarantees the subscription is in place before the service changes anything.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await withTimeout(client.getTwin(), 20_000, 'getTwin');

  const { responseBody: updated } = await registry.updateTwin(
    device.deviceId, { properties: { desired: { fan: { speed: 3 } } } }, '*');
  const expected = updated.properties.desired.$version;
  const matching = () => events.find((e) => e.$version === expected);
  await withTimeout(new Promise((resolve) => {
    notify = () => { if (matching()) resolve(); };
    notify();
  }), 15_000, 'desired notification');
  assert.deepEqual(matching().fan, { speed: 3 });
  assert.deepEqual(twin.properties.desired.fan, { speed: 3 });
});

test('an invalid reported patch is refused and changes nothing', async () => {
  const { device, connectionString } = await scope.createDevice('n-dc-badrep');
  const client = await openClient(connectionString);
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  await reportedUpdate(twin, { ok: 1 });
  const { responseBody: before } = await registry.getTwin(device.deviceId);
  // Keys may not contain spaces. The SDK ignores the response status and
  // fails only on a JSON body with an errorCode.
  await assert.rejects(reportedUpdate(twin, { 'bad key': 1, ok: 2 }), (err) => {
    assert.ok(!/did not finish/.test(err.message), err.message);
    return true;
  });
  const { responseBody: after } = await registry.getTwin(device.deviceId);
  assert.deepEqual(after.properties.reported, before.properties.reported);
});

test('wrong key is refused with CONNACK not authorized', async () => {
  const { device } = await scope.createDevice('n-dc-badkey');
  const wrong = Buffer.from('not-the-key-of-this-device-0123').toString('base64');
  const client = scope.client(deviceConnectionString(device.deviceId, wrong));
  await assert.rejects(withTimeout(client.open(), 30_000, 'client.open'), /Connection refused: Not authorized/);
});

test('unknown device is refused with CONNACK not authorized', async () => {
  const key = Buffer.alloc(32, 7).toString('base64');
  const client = scope.client(deviceConnectionString(uniqueId('n-dc-nobody'), key));
  await assert.rejects(withTimeout(client.open(), 30_000, 'client.open'), /Connection refused: Not authorized/);
});
