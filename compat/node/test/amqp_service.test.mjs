// azure-iothub's service Client over AMQP: Client.send (cloud-to-device) on
// AMQPS 5671 and, with the AmqpWs transport, over WebSockets on 443; the
// feedback receiver (/messages/serviceBound/feedback); the file
// notification receiver is in file_upload.test.mjs. rhea trusts the emulator's CA through
// NODE_EXTRA_CA_CERTS, which the runner set. Devices receive over MQTT.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import iothub from 'azure-iothub';
import {
  Inbox, Message, newRegistry, Scope, SERVICE_CONNECTION_STRING, ServiceClient, uniqueId, waitUntil, withTimeout,
} from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
let services;
beforeEach(() => { scope = new Scope(registry); services = []; });
afterEach(async () => {
  for (const service of services) await withTimeout(service.close(), 15_000, 'service client close').catch(() => {});
  await scope.cleanup();
});

function serviceClient(transport) {
  const client = transport
    ? ServiceClient.fromConnectionString(SERVICE_CONNECTION_STRING, transport)
    : ServiceClient.fromConnectionString(SERVICE_CONNECTION_STRING);
  services.push(client);
  return client;
}

// A connected device whose cloud-to-device messages are completed and
// collected; next() waits for the following one.
async function receiving(connectionString) {
  const client = scope.client(connectionString);
  await withTimeout(client.open(), 30_000, 'device open');
  const inbox = new Inbox();
  client.on('message', (msg) => {
    inbox.push(msg);
    client.complete(msg).catch(() => {});
  });
  return () => inbox.next(15_000, 'cloud-to-device message');
}

function props(msg) {
  return Object.fromEntries(msg.properties.propertyList.map(({ key, value }) => [key, value]));
}

function send(service, deviceId, message) {
  return withTimeout(service.send(deviceId, message), 30_000, 'Client.send');
}

test('Client.send over AMQPS: the device receives body, ids, content type and properties', async () => {
  const { device, connectionString } = await scope.createDevice('n-a-send');
  const next = await receiving(connectionString);
  const service = serviceClient();
  await withTimeout(service.open(), 30_000, 'service Client.open');

  const messageId = `amqp-${randomUUID()}`;
  const message = new Message('{"command":"on"}');
  message.messageId = messageId;
  message.correlationId = 'corr-7';
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  message.properties.add('color', 'blue');
  message.properties.add('odd chars', 'a=b&c/d e%f');
  await send(service, device.deviceId, message);

  const msg = await next();
  assert.equal(msg.data.toString('utf8'), '{"command":"on"}');
  assert.equal(msg.messageId, messageId);
  assert.equal(msg.correlationId, 'corr-7');
  assert.equal(msg.contentType, 'application/json');
  assert.equal(msg.contentEncoding, 'utf-8');
  assert.deepEqual(props(msg), { color: 'blue', 'odd chars': 'a=b&c/d e%f' });
});

test('a UUID message id, which the SDK sends as an AMQP uuid, reaches the device as its string', async () => {
  const { device, connectionString } = await scope.createDevice('n-a-uuid');
  const next = await receiving(connectionString);
  const service = serviceClient();
  const messageId = randomUUID();
  const correlationId = randomUUID();
  const message = new Message('uuid ids');
  message.messageId = messageId;
  message.correlationId = correlationId;
  await send(service, device.deviceId, message);
  const msg = await next();
  assert.equal(msg.messageId, messageId);
  assert.equal(msg.correlationId, correlationId);
});

test('Client.send to an unknown device fails with DeviceNotFoundError', async () => {
  const { device, connectionString } = await scope.createDevice('n-a-unknown');
  const next = await receiving(connectionString);
  const service = serviceClient();
  // One good send first: the failure below is the hub refusing, not a
  // connection that never opened.
  await send(service, device.deviceId, new Message('before'));
  assert.equal((await next()).data.toString(), 'before');

  await assert.rejects(send(service, uniqueId('no-such-device'), new Message('lost')), (err) => {
    assert.equal(err.name, 'DeviceNotFoundError', `${err.name}: ${err.message}`);
    return true;
  });
  await send(service, device.deviceId, new Message('after'));
  assert.equal((await next()).data.toString(), 'after');
});

test('getFeedbackReceiver delivers a Success batch naming the completed message', async () => {
  const { device, connectionString } = await scope.createDevice('n-a-fb');
  const next = await receiving(connectionString);
  const service = serviceClient();
  await withTimeout(service.open(), 30_000, 'service Client.open');
  const { result: feedback } = await withTimeout(service.getFeedbackReceiver(), 30_000, 'getFeedbackReceiver');
  const batches = new Inbox();
  const errors = [];
  feedback.on('message', (msg) => {
    batches.push(msg);
    feedback.complete(msg).catch((err) => errors.push(err));
  });
  feedback.on('error', (err) => errors.push(err));

  const messageId = `fb-${randomUUID()}`;
  const message = new Message('ack me');
  message.messageId = messageId;
  message.ack = 'full';
  await send(service, device.deviceId, message);
  const got = await next();
  assert.equal(got.messageId, messageId);
  assert.equal(props(got)['iothub-ack']?.toLowerCase(), 'full');

  // The hub batches feedback; batches for other messages may come first.
  const deadline = Date.now() + 30_000;
  let record;
  while (!record) {
    const left = deadline - Date.now();
    assert.ok(left > 0, `no feedback record for ${messageId} within 30 s`);
    const batch = await batches.next(left, 'a feedback batch');
    assert.equal(batch.contentType, 'application/vnd.microsoft.iothub.feedback.json');
    const records = JSON.parse(batch.data.toString('utf8'));
    assert.ok(Array.isArray(records) && records.length > 0, `a batch is a non-empty JSON array: ${batch.data}`);
    record = records.find((r) => r.originalMessageId === messageId);
  }
  assert.equal(record.deviceId, device.deviceId);
  assert.equal(record.statusCode, 'Success');
  assert.equal(record.deviceGenerationId, device.generationId);
  assert.ok(!Number.isNaN(Date.parse(record.enqueuedTimeUtc)), `enqueuedTimeUtc ${record.enqueuedTimeUtc}`);
  assert.deepEqual(errors, []);
});

test('AmqpWs: Client.send over WebSockets on 443', async () => {
  const { device, connectionString } = await scope.createDevice('n-a-ws');
  const next = await receiving(connectionString);
  const service = serviceClient(iothub.AmqpWs);
  await withTimeout(service.open(), 30_000, 'service Client.open over AmqpWs');
  const message = new Message('over wss');
  message.messageId = 'ws-1';
  message.properties.add('via', '443');
  await send(service, device.deviceId, message);
  const msg = await next();
  assert.equal(msg.data.toString(), 'over wss');
  assert.equal(msg.messageId, 'ws-1');
  assert.deepEqual(props(msg), { via: '443' });
});

test('messages sent while the device is offline are queued and counted', async () => {
  const { device, connectionString } = await scope.createDevice('n-a-off');
  const service = serviceClient();
  for (let i = 0; i < 2; i++) {
    const message = new Message(`m${i}`);
    message.properties.add('i', String(i));
    await send(service, device.deviceId, message);
  }
  const { responseBody } = await registry.get(device.deviceId);
  assert.equal(responseBody.cloudToDeviceMessageCount, 2);
  const next = await receiving(connectionString);
  const got = [await next(), await next()];
  assert.deepEqual(got.map((m) => m.data.toString()), ['m0', 'm1']);
  assert.deepEqual(got.map((m) => props(m).i), ['0', '1']);
  await waitUntil(async () => (await registry.get(device.deviceId)).responseBody.cloudToDeviceMessageCount === 0,
    10_000, 'cloudToDeviceMessageCount back to 0');
});
