// Module identities (Registry.addModule/getModule/getModulesOnDevice/
// removeModule), module twins from the service and from ModuleClient, and
// queries over devices.modules.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import { newRegistry, Scope, userProps, withTimeout } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

function hubErrorCode(err) {
  return /^ErrorCode:([A-Za-z]+);/.exec(JSON.parse(err.responseBody).Message)?.[1];
}

async function open(client) {
  await withTimeout(client.open(), 30_000, 'client.open');
  return client;
}

// Collects twin.on('properties.desired') deltas; waitFor(version) resolves
// with the delta carrying that $version.
function desiredEvents(twin) {
  const events = [];
  let wake = () => {};
  twin.on('properties.desired', (delta) => { events.push(delta); wake(); });
  const waitFor = (version) => withTimeout(new Promise((resolve) => {
    wake = () => { const e = events.find((d) => d.$version === version); if (e) resolve(e); };
    wake();
  }), 15_000, `desired notification $version ${version}`);
  return { events, waitFor };
}

// Adding a desired listener subscribes with no completion callback: let the
// SUBSCRIBE go out, then a twin round trip proves the hub has handled it.
async function subscribed(client) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await withTimeout(client.getTwin(), 20_000, 'getTwin');
}

test('addModule, getModule, getModulesOnDevice, removeModule', async () => {
  const { device } = await scope.createDevice('n-mod-crud');
  const { responseBody: created } = await registry.addModule({ deviceId: device.deviceId, moduleId: 'telemetry' });
  assert.equal(created.moduleId, 'telemetry');
  assert.equal(created.deviceId, device.deviceId);
  assert.equal(created.authentication.type, 'sas');
  const keys = created.authentication.symmetricKey;
  assert.ok(Buffer.from(keys.primaryKey, 'base64').length >= 16, keys.primaryKey);
  assert.notEqual(keys.primaryKey, keys.secondaryKey);
  assert.ok(created.etag && created.generationId);
  assert.equal(created.connectionState, 'Disconnected');
  await registry.addModule({ deviceId: device.deviceId, moduleId: 'filter' });

  const { responseBody: got } = await registry.getModule(device.deviceId, 'telemetry');
  assert.equal(got.etag, created.etag);
  assert.equal(got.authentication.symmetricKey.primaryKey, keys.primaryKey);

  const { responseBody: listed } = await registry.getModulesOnDevice(device.deviceId);
  assert.deepEqual(listed.map((m) => m.moduleId).sort(), ['filter', 'telemetry']);

  await registry.removeModule(device.deviceId, 'telemetry');
  await assert.rejects(registry.getModule(device.deviceId, 'telemetry'), (err) => {
    assert.equal(err.response.statusCode, 404);
    assert.equal(hubErrorCode(err), 'ModuleNotFound');
    return true;
  });
  const { responseBody: left } = await registry.getModulesOnDevice(device.deviceId);
  assert.deepEqual(left.map((m) => m.moduleId), ['filter']);
});

test('adding an existing module is 409 ModuleAlreadyExistsOnDevice', async () => {
  const { device } = await scope.createDevice('n-mod-dup');
  const { module } = await scope.createModule(device.deviceId, 'dup');
  await assert.rejects(registry.addModule({ deviceId: device.deviceId, moduleId: module.moduleId }), (err) => {
    assert.equal(err.name, 'DeviceAlreadyExistsError');
    assert.equal(err.response.statusCode, 409);
    assert.equal(hubErrorCode(err), 'ModuleAlreadyExistsOnDevice');
    return true;
  });
});

test('module twin from the service: get and update', async () => {
  const { device } = await scope.createDevice('n-mod-twin');
  const { module } = await scope.createModule(device.deviceId, 'tw');
  const { responseBody: twin } = await registry.getModuleTwin(device.deviceId, module.moduleId);
  assert.equal(twin.deviceId, device.deviceId);
  assert.equal(twin.moduleId, module.moduleId);
  assert.equal(twin.properties.desired.$version, 1);

  const { responseBody: updated } = await registry.updateModuleTwin(device.deviceId, module.moduleId,
    { tags: { role: 'filter' }, properties: { desired: { threshold: 30 } } }, twin.etag);
  assert.deepEqual(updated.tags, { role: 'filter' });
  assert.equal(updated.properties.desired.threshold, 30);
  assert.equal(updated.properties.desired.$version, 2);

  await assert.rejects(
    registry.updateModuleTwin(device.deviceId, module.moduleId, { tags: { x: 1 } }, twin.etag),
    (err) => {
      assert.equal(err.name, 'InvalidEtagError');
      assert.equal(hubErrorCode(err), 'PreconditionFailed');
      return true;
    });
  const { responseBody: deviceTwin } = await registry.getTwin(device.deviceId);
  assert.deepEqual(deviceTwin.tags || {}, {});
  assert.equal(deviceTwin.properties.desired.$version, 1);
});

test('ModuleClient: getTwin, reported update, desired notification', async () => {
  const { device } = await scope.createDevice('n-mod-client');
  const { module, connectionString } = await scope.createModule(device.deviceId, 'mc');
  await registry.updateModuleTwin(device.deviceId, module.moduleId, { properties: { desired: { rate: 5 } } }, '*');
  const client = await open(scope.moduleClient(connectionString));
  const twin = await withTimeout(client.getTwin(), 20_000, 'module getTwin');
  assert.equal(twin.properties.desired.rate, 5);
  assert.equal(twin.properties.desired.$version, 2);

  await withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update({ status: 'running' }, (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'module reported update');
  const { responseBody: serviceView } = await registry.getModuleTwin(device.deviceId, module.moduleId);
  assert.deepEqual(userProps(serviceView.properties.reported), { status: 'running' });
  const { responseBody: deviceTwin } = await registry.getTwin(device.deviceId);
  assert.deepEqual(userProps(deviceTwin.properties.reported), {});

  const { waitFor } = desiredEvents(twin);
  await subscribed(client);
  const { responseBody: updated } = await registry.updateModuleTwin(device.deviceId, module.moduleId,
    { properties: { desired: { rate: 10 } } }, '*');
  const delta = await waitFor(updated.properties.desired.$version);
  assert.equal(delta.rate, 10);
});

test('a device and its module connected at once get only their own desired changes', async () => {
  const { device, connectionString: deviceCs } = await scope.createDevice('n-mod-iso');
  const { module, connectionString: moduleCs } = await scope.createModule(device.deviceId, 'iso');
  const deviceClient = await open(scope.client(deviceCs));
  const moduleClient = await open(scope.moduleClient(moduleCs));
  const deviceTwin = await withTimeout(deviceClient.getTwin(), 20_000, 'device getTwin');
  const moduleTwin = await withTimeout(moduleClient.getTwin(), 20_000, 'module getTwin');
  const toDevice = desiredEvents(deviceTwin);
  const toModule = desiredEvents(moduleTwin);
  await subscribed(deviceClient);
  await subscribed(moduleClient);
  const initial = { device: toDevice.events.length, module: toModule.events.length };

  const { responseBody: d } = await registry.updateTwin(device.deviceId, { properties: { desired: { for: 'device' } } }, '*');
  const { responseBody: m } = await registry.updateModuleTwin(device.deviceId, module.moduleId,
    { properties: { desired: { for: 'module', only: true } } }, '*');
  assert.equal((await toDevice.waitFor(d.properties.desired.$version)).for, 'device');
  assert.equal((await toModule.waitFor(m.properties.desired.$version)).for, 'module');
  // A round trip each: anything misrouted would have arrived by now. (Each
  // getTwin also raises properties.desired with the whole desired section.)
  await withTimeout(deviceClient.getTwin(), 20_000, 'device getTwin');
  await withTimeout(moduleClient.getTwin(), 20_000, 'module getTwin');
  const deviceSaw = toDevice.events.slice(initial.device);
  const moduleSaw = toModule.events.slice(initial.module);
  assert.ok(deviceSaw.every((e) => e.for === 'device' && e.only === undefined), JSON.stringify(deviceSaw));
  assert.ok(moduleSaw.every((e) => e.for === 'module' && e.only === true), JSON.stringify(moduleSaw));
  assert.equal(deviceTwin.properties.desired.only, undefined);
  assert.equal(moduleTwin.properties.desired.for, 'module');
});

test('createQuery over devices.modules returns module twins', async () => {
  const marker = `q${randomUUID().slice(0, 8)}`;
  const { device } = await scope.createDevice('n-mod-query');
  const { device: other } = await scope.createDevice('n-mod-query');
  for (const moduleId of ['a', 'b']) {
    await registry.addModule({ deviceId: device.deviceId, moduleId });
    await registry.updateModuleTwin(device.deviceId, moduleId, { tags: { marker, name: moduleId } }, '*');
  }
  await registry.addModule({ deviceId: other.deviceId, moduleId: 'a' });
  await registry.updateModuleTwin(other.deviceId, 'a', { tags: { marker: 'someone-else' } }, '*');

  const query = registry.createQuery(`SELECT * FROM devices.modules WHERE tags.marker = '${marker}'`, 100);
  const { result, message } = await query.nextAsTwin();
  assert.equal(message.headers['x-ms-item-type'], 'Twin');
  assert.equal(query.hasMoreResults, false);
  assert.deepEqual(result.map((t) => [t.deviceId, t.moduleId]).sort(), [[device.deviceId, 'a'], [device.deviceId, 'b']]);
  assert.deepEqual(Object.fromEntries(result.map((t) => [t.moduleId, t.tags.name])), { a: 'a', b: 'b' });

  const one = registry.createQuery(
    `SELECT * FROM devices.modules WHERE deviceId = '${device.deviceId}' AND moduleId = 'b'`, 100);
  const { result: rows } = await one.nextAsTwin();
  assert.deepEqual(rows.map((t) => t.moduleId), ['b']);
});
