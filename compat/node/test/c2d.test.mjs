// Cloud-to-device messages sent through the emulator's endpoint (the service
// SDK sends over AMQP) and received with Client.on('message') + complete.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import { allFeedback, Inbox, newRegistry, Scope, sendC2D, waitUntil, withTimeout } from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

// An open client whose messages are completed and collected; next() waits
// for the following one.
async function receiving(connectionString) {
  const client = scope.client(connectionString);
  await withTimeout(client.open(), 30_000, 'client.open');
  const inbox = new Inbox();
  client.on('message', (msg) => {
    inbox.push(msg);
    client.complete(msg).catch(() => {});
  });
  const next = () => inbox.next(15_000, 'cloud-to-device message');
  return { client, inbox: inbox.items, next };
}

function props(msg) {
  return Object.fromEntries(msg.properties.propertyList.map(({ key, value }) => [key, value]));
}

async function c2dCount(deviceId) {
  const { responseBody } = await registry.get(deviceId);
  return responseBody.cloudToDeviceMessageCount;
}

test('message with properties arrives; completing it empties the queue and gives Success feedback', async () => {
  const { device, connectionString } = await scope.createDevice('n-c-props');
  const { next } = await receiving(connectionString);
  const messageId = `c2d-${randomUUID()}`;
  const properties = { color: 'blue', 'odd chars': 'a=b&c/d e%f', 'ünï': 'çødé' };
  await sendC2D(device.deviceId, {
    body: '{"command":"on"}', messageId, correlationId: 'corr-7', contentType: 'application/json',
    contentEncoding: 'utf-8', ack: 'full', properties,
  });

  const msg = await next();
  assert.equal(msg.data.toString('utf8'), '{"command":"on"}');
  assert.equal(msg.messageId, messageId);
  assert.equal(msg.correlationId, 'corr-7');
  assert.equal(msg.contentType, 'application/json');
  assert.equal(msg.contentEncoding, 'utf-8');
  assert.ok(msg.expiryTimeUtc, 'every queued message has an expiry');
  assert.equal(msg.to, `/devices/${device.deviceId}/messages/deviceBound`);
  const { 'iothub-ack': ack, ...user } = props(msg);
  assert.deepEqual(user, properties);
  assert.equal(ack.toLowerCase(), 'full');

  await waitUntil(async () => (await c2dCount(device.deviceId)) === 0, 10_000, 'cloudToDeviceMessageCount back to 0');
  const records = await waitUntil(
    async () => (await allFeedback()).filter((r) => r.originalMessageId === messageId),
    10_000, 'a feedback record for the message');
  assert.equal(records.length, 1);
  assert.equal(records[0].statusCode, 'Success');
  assert.equal(records[0].deviceId, device.deviceId);
  assert.equal(records[0].deviceGenerationId, device.generationId);
});

test('messages queued while offline are delivered in order on connect', async () => {
  const { device, connectionString } = await scope.createDevice('n-c-offline');
  const sent = [];
  for (let i = 0; i < 3; i++) {
    sent.push((await sendC2D(device.deviceId, { body: `m${i}`, properties: { i: String(i) } })).messageId);
  }
  assert.equal(await c2dCount(device.deviceId), 3);

  const { next } = await receiving(connectionString);
  const got = [await next(), await next(), await next()];
  assert.deepEqual(got.map((m) => m.data.toString()), ['m0', 'm1', 'm2']);
  assert.deepEqual(got.map((m) => m.messageId), sent);
  assert.deepEqual(got.map((m) => props(m).i), ['0', '1', '2']);
  await waitUntil(async () => (await c2dCount(device.deviceId)) === 0, 10_000, 'cloudToDeviceMessageCount back to 0');
});

test('a completed message is not delivered again after a reconnect', async () => {
  const { device, connectionString } = await scope.createDevice('n-c-once');
  const { client, inbox, next } = await receiving(connectionString);
  await sendC2D(device.deviceId, { body: 'once' });
  assert.equal((await next()).data.toString(), 'once');
  await waitUntil(async () => (await c2dCount(device.deviceId)) === 0, 10_000, 'cloudToDeviceMessageCount back to 0');

  await withTimeout(client.close(), 15_000, 'client.close');
  await withTimeout(client.open(), 30_000, 'client.open again');
  await sendC2D(device.deviceId, { body: 'second' });
  assert.equal((await next()).data.toString(), 'second');
  assert.deepEqual(inbox.map((m) => m.data.toString()), ['once', 'second']);
});
