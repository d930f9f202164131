// MQTT over WebSockets (wss://localhost:443/$iothub/websocket) with the
// MqttWs transport: telemetry, twin, direct methods, cloud-to-device.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { afterEach, beforeEach, test } from 'node:test';
import {
  Message, MqttWs, newRegistry, Scope, sendC2D, SERVICE_CONNECTION_STRING, ServiceClient, userProps, waitEvents,
  waitUntil, withTimeout,
} from '../lib/hub.mjs';

const registry = newRegistry();
const service = ServiceClient.fromConnectionString(SERVICE_CONNECTION_STRING);
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

// The listeners the emulator logged clientId connecting on (the runner
// passes the log's path): proof the SDK really came over WebSockets.
function listenersOf(clientId) {
  const text = fs.readFileSync(process.env.COMPAT_EMULATOR_LOG, 'utf8');
  return text.split('\n')
    .filter((l) => l.includes('msg="mqtt connected"') && l.includes(` client=${clientId} `))
    .map((l) => / listener=(\w+)/.exec(l)?.[1]);
}

test('MqttWs: telemetry and twin over WebSockets', async () => {
  const { device, connectionString } = await scope.createDevice('n-t-ws');
  await registry.updateTwin(device.deviceId, { properties: { desired: { mode: 'ws' } } }, '*');
  const client = await open(scope.client(connectionString, MqttWs));

  const message = new Message('{"over":"websockets"}');
  message.messageId = 'ws-1';
  message.contentType = 'application/json';
  message.properties.add('transport', 'wss');
  await send(client, message);
  const [got] = await waitEvents(device.deviceId, 1);
  assert.equal(got.bodyText, '{"over":"websockets"}');
  assert.equal(got.systemProperties['message-id'], 'ws-1');
  assert.equal(got.systemProperties['content-type'], 'application/json');
  assert.deepEqual(got.properties, { transport: 'wss' });

  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin over WebSockets');
  assert.equal(twin.properties.desired.mode, 'ws');
  await withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update({ via: 'wss' }, (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'reported update over WebSockets');
  const { responseBody: after } = await registry.getTwin(device.deviceId);
  assert.deepEqual(userProps(after.properties.reported), { via: 'wss' });
  assert.equal(after.connectionState, 'Connected');
  assert.deepEqual(await waitUntil(() => listenersOf(device.deviceId).length > 0 && listenersOf(device.deviceId),
    5_000, 'connection logged'), ['wss']);
});

test('MqttWs: direct method and cloud-to-device message', async () => {
  const { device, connectionString } = await scope.createDevice('n-ws-cmd');
  const client = await open(scope.client(connectionString, MqttWs));
  client.onDeviceMethod('ping', (request, response) => {
    response.send(200, { pong: request.payload }).catch(() => {});
  });
  const inbox = [];
  client.on('message', (msg) => {
    inbox.push(msg);
    client.complete(msg).catch(() => {});
  });
  await new Promise((resolve) => setTimeout(resolve, 100)); // let both SUBSCRIBEs go out
  await withTimeout(client.getTwin(), 20_000, 'getTwin');

  const { result } = await service.invokeDeviceMethod(device.deviceId, {
    methodName: 'ping', payload: 7, responseTimeoutInSeconds: 10,
  });
  assert.deepEqual(result, { status: 200, payload: { pong: 7 } });

  await sendC2D(device.deviceId, { body: 'over wss', messageId: 'wss-c2d', properties: { k: 'v' } });
  const [msg] = await waitUntil(() => inbox.length > 0 && inbox, 15_000, 'cloud-to-device message');
  assert.equal(msg.data.toString(), 'over wss');
  assert.equal(msg.messageId, 'wss-c2d');
  assert.equal(msg.properties.getValue('k'), 'v');
});
