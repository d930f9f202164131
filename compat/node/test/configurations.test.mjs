// Automatic device management: azure-iothub's Registry creating, reading,
// listing, updating and removing configurations, and the hub writing a
// configuration's content into the desired properties of the device twins
// it targets (the highest priority winning).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import { newRegistry, Scope, waitUntil, withTimeout } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
let created;
beforeEach(() => { scope = new Scope(registry); created = []; });
afterEach(async () => {
  for (const id of created) await registry.removeConfiguration(id).catch(() => {});
  await scope.cleanup();
});

const unique = (prefix) => `${prefix}-${randomUUID().slice(0, 10)}`;

function hubError(err) {
  const body = JSON.parse(err.responseBody);
  return { status: err.response.statusCode, code: /^ErrorCode:([A-Za-z]+);/.exec(body.Message)?.[1] };
}

function configuration(id, fleet, settings, priority = 1, queries = {}) {
  created.push(id);
  return {
    id,
    labels: { fleet },
    content: { deviceContent: { 'properties.desired.settings': settings } },
    targetCondition: `tags.fleet = '${fleet}'`,
    priority,
    metrics: { queries },
  };
}

async function taggedDevice(prefix, tags) {
  const made = await scope.createDevice(prefix);
  const { responseBody: twin } = await registry.getTwin(made.device.deviceId);
  await registry.updateTwin(made.device.deviceId, { tags }, twin.etag);
  return made;
}

async function settings(deviceId) {
  const { responseBody: twin } = await registry.getTwin(deviceId);
  return twin.properties.desired.settings;
}

test('configurations: create, get, list, update with etag, remove', async () => {
  const id = unique('n-cfg-crud');
  const { responseBody: made } = await registry.addConfiguration(configuration(id, unique('fleet'), { rate: 1 }));
  assert.equal(made.id, id);
  assert.equal(made.schemaVersion, '1.0');
  assert.ok(made.etag);
  assert.deepEqual(made.content.deviceContent, { 'properties.desired.settings': { rate: 1 } });

  const { responseBody: got } = await registry.getConfiguration(id);
  assert.equal(got.etag, made.etag);
  const { responseBody: all } = await registry.getConfigurations();
  assert.ok(all.some((c) => c.id === id));

  const { responseBody: updated } = await registry.updateConfiguration({ ...got, priority: 4, labels: { changed: 'yes' } });
  assert.equal(updated.priority, 4);
  assert.deepEqual(updated.labels, { changed: 'yes' });
  assert.notEqual(updated.etag, made.etag);

  await assert.rejects(registry.updateConfiguration({ ...got, priority: 5 }), (err) => {
    assert.deepEqual(hubError(err), { status: 412, code: 'PreconditionFailed' });
    return true;
  });
  await assert.rejects(registry.updateConfiguration({ ...got, content: { deviceContent: { 'properties.desired.x': 1 } } }, true), (err) => {
    assert.deepEqual(hubError(err), { status: 400, code: 'ArgumentInvalid' });
    return true;
  });
  await registry.removeConfiguration(id);
  await assert.rejects(registry.getConfiguration(id), (err) => {
    assert.deepEqual(hubError(err), { status: 404, code: 'IotHubNotFound' });
    return true;
  });
});

test('configurations: content reaches a connected device as a desired patch', async () => {
  const fleet = unique('fleet');
  const { device, connectionString } = await taggedDevice('n-cfg-dev', { fleet });
  const client = scope.client(connectionString);
  await withTimeout(client.open(), 30_000, 'client.open');
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  const patches = [];
  twin.on('properties.desired', (delta) => patches.push(delta));

  const id = unique('n-cfg-apply');
  await registry.addConfiguration(configuration(id, fleet, { rate: 7 }, 1,
    { reported: 'SELECT deviceId FROM devices WHERE properties.reported.rate = 7' }));
  await waitUntil(() => patches.some((p) => p.settings?.rate === 7), 15_000, 'desired patch received');
  assert.deepEqual(await settings(device.deviceId), { rate: 7 });

  await withTimeout(new Promise((resolve, reject) => twin.properties.reported.update({ rate: 7 }, (err) => (err ? reject(err) : resolve()))), 20_000, 'report');
  let got;
  await waitUntil(async () => {
    ({ responseBody: got } = await registry.getConfiguration(id));
    return got.metrics.results.reported === 1;
  }, 15_000, 'custom metric counted');
  assert.deepEqual(got.systemMetrics.results, { targetedCount: 1, appliedCount: 1 });
});

test('configurations: the higher priority wins', async () => {
  const fleet = unique('fleet');
  const { device } = await taggedDevice('n-cfg-prio', { fleet });
  const high = unique('n-cfg-high');
  const low = unique('n-cfg-low');
  await registry.addConfiguration(configuration(high, fleet, { rate: 100 }, 10));
  await registry.addConfiguration(configuration(low, fleet, { rate: 1 }, 1));
  await waitUntil(async () => (await settings(device.deviceId))?.rate === 100, 15_000, 'higher priority applied');
  let got;
  await waitUntil(async () => {
    ({ responseBody: got } = await registry.getConfiguration(low));
    return got.systemMetrics.results.targetedCount === 1;
  }, 15_000, 'low priority counted');
  assert.equal(got.systemMetrics.results.appliedCount, 0);
});

function deployment(version) {
  return {
    modulesContent: {
      $edgeAgent: { 'properties.desired': { schemaVersion: '1.1', runtime: { type: 'docker' }, modules: { sim: { version } } } },
      $edgeHub: { 'properties.desired': { schemaVersion: '1.1', routes: { up: 'FROM /messages/* INTO $upstream' } } },
    },
  };
}

test('an IoT Edge deployment writes $edgeAgent and $edgeHub and shows as applied', async () => {
  const { device } = await scope.createDevice('n-edge', { capabilities: { iotEdge: true } });
  const { responseBody: modules } = await registry.getModulesOnDevice(device.deviceId);
  assert.ok(['$edgeAgent', '$edgeHub'].every((m) => modules.some((x) => x.moduleId === m)), JSON.stringify(modules));
  const fleet = unique('edgefleet');
  const { responseBody: twin } = await registry.getTwin(device.deviceId);
  await registry.updateTwin(device.deviceId, { tags: { fleet } }, twin.etag);
  const id = unique('n-deploy');
  created.push(id);
  await registry.addConfiguration({ id, content: deployment('1.0'), targetCondition: `tags.fleet = '${fleet}'`, priority: 1 });

  // The configurations property says Applied once the sweep has written
  // every module of the deployment.
  const agent = await waitUntil(async () => {
    const { responseBody: t } = await registry.getModuleTwin(device.deviceId, '$edgeAgent');
    return t.configurations?.[id]?.status === 'Applied' ? t : undefined;
  }, 20_000, 'the deployment applied on $edgeAgent');
  assert.deepEqual(agent.properties.desired.modules, { sim: { version: '1.0' } });
  assert.deepEqual(agent.configurations, { [id]: { status: 'Applied' } });
  const { responseBody: hubTwin } = await registry.getModuleTwin(device.deviceId, '$edgeHub');
  assert.deepEqual(hubTwin.properties.desired.routes, { up: 'FROM /messages/* INTO $upstream' });
  await waitUntil(async () => {
    const { responseBody: c } = await registry.getConfiguration(id);
    return c.systemMetrics.results.appliedCount === 1;
  }, 20_000, 'appliedCount');
});

test('applyConfigurationContentOnDevice sets the modules of one IoT Edge device', async () => {
  const { device } = await scope.createDevice('n-setmod', { capabilities: { iotEdge: true } });
  await registry.applyConfigurationContentOnDevice(device.deviceId, deployment('2.0'));
  const { responseBody: hubTwin } = await registry.getModuleTwin(device.deviceId, '$edgeHub');
  assert.deepEqual(hubTwin.properties.desired.routes, { up: 'FROM /messages/* INTO $upstream' });

  const { device: plain } = await scope.createDevice('n-plain');
  await assert.rejects(registry.applyConfigurationContentOnDevice(plain.deviceId, deployment('2.0')),
    (err) => hubError(err).status === 400 && hubError(err).code === 'ArgumentInvalid');
});
