// Device-to-cloud telemetry from Client/ModuleClient.sendEvent, read back
// through the emulator's events endpoint.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Message, newRegistry, readEvents, Scope, waitEvents, withTimeout } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

async function open(client) {
  await withTimeout(client.open(), 30_000, 'client.open');
  return client;
}

function send(client, message) {
  return withTimeout(client.sendEvent(message), 20_000, 'sendEvent');
}

test('sendEvent with system and application properties', async () => {
  const { device, connectionString } = await scope.createDevice('n-t-props');
  const client = await open(scope.client(connectionString));
  const body = JSON.stringify({ temperature: 21.5, unit: '°C' });
  const message = new Message(body);
  message.messageId = 'msg-0001';
  message.correlationId = 'corr-42';
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  message.properties.add('alert', 'true');
  message.properties.add('with space', 'a&b=c/d');
  message.properties.add('ünï', 'çødé');
  await send(client, message);

  const [got] = await waitEvents(device.deviceId, 1);
  assert.equal(got.deviceId, device.deviceId);
  assert.ok(!got.moduleId);
  assert.equal(Buffer.from(got.body, 'base64').toString('utf8'), body);
  assert.equal(got.bodyText, body);
  assert.equal(got.systemProperties['message-id'], 'msg-0001');
  assert.equal(got.systemProperties['correlation-id'], 'corr-42');
  assert.equal(got.systemProperties['content-type'], 'application/json');
  assert.equal(got.systemProperties['content-encoding'], 'utf-8');
  assert.equal(got.systemProperties['iothub-connection-device-id'], device.deviceId);
  assert.deepEqual(got.properties, { alert: 'true', 'with space': 'a&b=c/d', 'ünï': 'çødé' });
  assert.ok(Number.isInteger(got.sequenceNumber) && got.sequenceNumber > 0);
  assert.ok(!Number.isNaN(Date.parse(got.enqueuedTime)));
});

test('messages keep their order; paging by sequence number', async () => {
  const { device, connectionString } = await scope.createDevice('n-t-order');
  const client = await open(scope.client(connectionString));
  for (let i = 0; i < 4; i++) await send(client, new Message(`n=${i}`));
  const got = await waitEvents(device.deviceId, 4);
  assert.deepEqual(got.map((m) => m.bodyText), ['n=0', 'n=1', 'n=2', 'n=3']);
  const first = await readEvents(device.deviceId, { maxCount: 3 });
  assert.deepEqual(first.messages.map((m) => m.bodyText), ['n=0', 'n=1', 'n=2']);
  const rest = await readEvents(device.deviceId, { fromSequenceNumber: first.nextSequenceNumber });
  assert.deepEqual(rest.messages.map((m) => m.bodyText), ['n=3']);
});

test('ModuleClient.sendEvent is tagged with the module', async () => {
  const { device } = await scope.createDevice('n-t-moddev');
  const { module, connectionString } = await scope.createModule(device.deviceId, 'n-t-mod');
  const client = await open(scope.moduleClient(connectionString));
  const message = new Message(Buffer.from([0, 1, 2, 254, 255]));
  message.messageId = 'mod-1';
  await send(client, message);
  const [got] = await waitEvents(device.deviceId, 1, { moduleId: module.moduleId });
  assert.equal(got.moduleId, module.moduleId);
  assert.equal(got.systemProperties['iothub-connection-module-id'], module.moduleId);
  assert.equal(got.systemProperties['message-id'], 'mod-1');
  assert.deepEqual([...Buffer.from(got.body, 'base64')], [0, 1, 2, 254, 255]);
  assert.equal(got.bodyText, undefined, 'a binary body has no text form');
});

test('ModuleClient.sendOutputEvent names its output without the trailing slash', async () => {
  // The SDK publishes to devices/D/modules/M/messages/events/%24.on=temperature/.
  const { device } = await scope.createDevice('n-t-outdev');
  const { module, connectionString } = await scope.createModule(device.deviceId, 'n-t-out');
  const client = await open(scope.moduleClient(connectionString));
  const message = new Message(JSON.stringify({ t: 21.5 }));
  message.properties.add('unit', 'C');
  await withTimeout(client.sendOutputEvent('temperature', message), 15_000, 'sendOutputEvent');
  const [got] = await waitEvents(device.deviceId, 1, { moduleId: module.moduleId });
  assert.equal(got.systemProperties['iothub-outputname'], 'temperature');
  assert.equal(got.properties.unit, 'C');
});
