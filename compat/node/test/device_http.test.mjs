// The device-facing HTTPS endpoints through azure-iot-device-http's Http
// transport: telemetry (one message and a batch) and cloud-to-device
// messages received by polling, completed, abandoned and rejected.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import deviceHttp from 'azure-iot-device-http';
import {
  allFeedback, Inbox, Message, newRegistry, Scope, sendC2D, waitEvents, waitUntil, withTimeout,
} from '../lib/hub.mjs';

const { Http } = deviceHttp;
const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

async function httpClient(connectionString) {
  const client = scope.client(connectionString, Http);
  await withTimeout(client.open(), 15_000, 'client.open');
  return client;
}

test('sendEvent and sendEventBatch reach the hub with their properties', async () => {
  const { device, connectionString } = await scope.createDevice('n-http-d2c');
  const client = await httpClient(connectionString);
  const msg = new Message('{"temperature":21}');
  msg.messageId = `m-${randomUUID()}`;
  msg.correlationId = 'corr-1';
  msg.contentType = 'application/json';
  msg.contentEncoding = 'utf-8';
  msg.properties.add('color', 'blue green');
  await withTimeout(client.sendEvent(msg), 15_000, 'sendEvent');

  const batch = ['one', 'two'].map((b, i) => {
    const m = new Message(b);
    m.properties.add('n', String(i));
    return m;
  });
  await withTimeout(client.sendEventBatch(batch), 15_000, 'sendEventBatch');

  const got = await waitEvents(device.deviceId, 3);
  assert.equal(got[0].bodyText, '{"temperature":21}');
  assert.equal(got[0].systemProperties['message-id'], msg.messageId);
  assert.equal(got[0].systemProperties['correlation-id'], 'corr-1');
  assert.equal(got[0].systemProperties['content-type'], 'application/json');
  assert.equal(got[0].systemProperties['content-encoding'], 'utf-8');
  assert.deepEqual(got[0].properties, { color: 'blue green' });
  assert.equal(got[0].systemProperties['iothub-connection-device-id'], device.deviceId);
  assert.deepEqual(got.slice(1).map((m) => [m.bodyText, m.properties.n]), [['one', '0'], ['two', '1']]);
});

test('a wrong key is refused', async () => {
  const { connectionString } = await scope.createDevice('n-http-bad');
  const bad = connectionString.replace(/SharedAccessKey=.*/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  const client = await httpClient(bad);
  await assert.rejects(withTimeout(client.sendEvent(new Message('x')), 15_000, 'sendEvent'), (err) => {
    assert.equal(err.response.statusCode, 401);
    return true;
  });
});

test('cloud-to-device messages are polled, abandoned, rejected and completed', async () => {
  const { device, connectionString } = await scope.createDevice('n-http-c2d');
  const ids = ['complete', 'abandon', 'reject'].map((what) => `${what}-${randomUUID()}`);
  for (const [i, messageId] of ids.entries()) {
    await sendC2D(device.deviceId, {
      body: `body ${i}`, messageId, correlationId: `corr-${i}`, ack: 'full', properties: { k: `v${i}` },
    });
  }
  const client = scope.client(connectionString, Http);
  client.setOptions({ http: { receivePolicy: { interval: 1 } } });
  const inbox = new Inbox();
  client.on('message', (msg) => inbox.push(msg));
  await withTimeout(client.open(), 15_000, 'client.open');

  const first = await inbox.next(15_000, 'first message');
  assert.equal(first.data.toString(), 'body 0');
  assert.equal(first.messageId, ids[0]);
  assert.equal(first.correlationId, 'corr-0');
  assert.equal(first.to, `/devices/${device.deviceId}/messages/deviceBound`);
  assert.ok(first.expiryTimeUtc);
  assert.ok(first.lockToken);
  const appProps = Object.fromEntries(first.properties.propertyList.map(({ key, value }) => [key, value]));
  // The transport keeps the header's name, prefix included.
  assert.equal(appProps['iothub-app-k'], 'v0');
  await withTimeout(client.complete(first), 15_000, 'complete');

  const second = await inbox.next(15_000, 'second message');
  assert.equal(second.messageId, ids[1]);
  await withTimeout(client.abandon(second), 15_000, 'abandon');
  const again = await inbox.next(15_000, 'abandoned message again');
  assert.equal(again.messageId, ids[1]);
  assert.notEqual(again.lockToken, second.lockToken);
  await withTimeout(client.complete(again), 15_000, 'complete');

  const third = await inbox.next(15_000, 'third message');
  assert.equal(third.messageId, ids[2]);
  await withTimeout(client.reject(third), 15_000, 'reject');
  // A stale lock token is refused.
  await assert.rejects(withTimeout(client.complete(third), 15_000, 'complete again'), (err) => {
    assert.equal(err.response.statusCode, 412);
    return true;
  });

  const records = await waitUntil(async () => {
    const mine = (await allFeedback()).filter((r) => ids.includes(r.originalMessageId));
    return mine.length === 3 ? mine : null;
  }, 10_000, 'three feedback records');
  const status = Object.fromEntries(records.map((r) => [r.originalMessageId, r.statusCode]));
  assert.deepEqual(status, { [ids[0]]: 'Success', [ids[1]]: 'Success', [ids[2]]: 'Rejected' });
});


