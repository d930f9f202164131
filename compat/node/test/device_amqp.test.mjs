// Device side over AMQP with azure-iot-device's Client and the Amqp (AMQPS,
// 5671) and AmqpWs (AMQP over WebSockets, 443) transports: telemetry,
// cloud-to-device outcomes, a direct method from the service client, and
// the twin.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import deviceAmqp from 'azure-iot-device-amqp';
import { makeDeviceCert, thumbprint } from '../lib/certs.mjs';
import {
  allFeedback, Client, Inbox, Message, newRegistry, Scope, sendC2D, SERVICE_CONNECTION_STRING, ServiceClient,
  serviceRequest, userProps, waitEvents, waitUntil, withTimeout,
} from '../lib/hub.mjs';

const { Amqp, AmqpWs } = deviceAmqp;
const registry = newRegistry();
const service = ServiceClient.fromConnectionString(SERVICE_CONNECTION_STRING);
const ca = { cert: process.env.COMPAT_X509_CA_CERT, key: process.env.COMPAT_X509_CA_KEY };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iothub-compat-amqp-x509-'));
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function open(connectionString, transport) {
  const client = scope.client(connectionString, transport);
  await withTimeout(client.open(), 30_000, 'client.open');
  return client;
}

// The links the emulator holds for the device (GET /emulator/clients).
async function links(deviceId) {
  const { json } = await serviceRequest('GET', '/emulator/clients');
  const mine = (json || []).filter((c) => c.deviceId === deviceId && !c.moduleId);
  return mine.flatMap((c) => c.subscriptions);
}

for (const [name, transport] of [['Amqp', Amqp], ['AmqpWs', AmqpWs]]) {
  describe(`device over ${name}`, () => {
    test('sendEvent: the message and its properties reach the events endpoint', async () => {
      const { device, connectionString } = await scope.createDevice(`n-da-t-${name}`);
      const client = await open(connectionString, transport);
      const msg = new Message(JSON.stringify({ temperature: 21.5 }));
      msg.messageId = 'amqp-msg-1';
      msg.correlationId = 'corr-amqp';
      msg.contentType = 'application/json';
      msg.contentEncoding = 'utf-8';
      msg.properties.add('alert', 'true');
      await withTimeout(client.sendEvent(msg), 20_000, 'sendEvent');

      const [got] = await waitEvents(device.deviceId, 1);
      assert.equal(got.bodyText, JSON.stringify({ temperature: 21.5 }));
      assert.equal(got.systemProperties['message-id'], 'amqp-msg-1');
      assert.equal(got.systemProperties['correlation-id'], 'corr-amqp');
      assert.equal(got.systemProperties['content-type'], 'application/json');
      assert.equal(got.systemProperties['content-encoding'], 'utf-8');
      assert.equal(got.systemProperties['iothub-connection-device-id'], device.deviceId);
      assert.deepEqual(got.properties, { alert: 'true' });
    });

    test('cloud-to-device: complete, reject and abandon settle the shared queue', async () => {
      const { device, connectionString } = await scope.createDevice(`n-da-c-${name}`);
      const client = await open(connectionString, transport);
      const inbox = new Inbox();
      client.on('message', (msg) => inbox.push(msg));
      const next = () => inbox.next(15_000, 'cloud-to-device message');
      const ids = ['done', 'refused', 'again'].map((k) => `${k}-${randomUUID()}`);
      for (const [i, messageId] of ids.entries()) {
        await sendC2D(device.deviceId, { body: `m${i}`, messageId, ack: 'full', properties: { i: String(i) } });
      }

      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(await next());
      const byId = Object.fromEntries(seen.map((m) => [m.messageId, m]));
      assert.deepEqual(Object.keys(byId).sort(), [...ids].sort());
      assert.equal(byId[ids[0]].data.toString(), 'm0');
      assert.equal(byId[ids[0]].to, `/devices/${device.deviceId}/messages/deviceBound`);
      await client.complete(byId[ids[0]]);
      await client.reject(byId[ids[1]]);
      await client.abandon(byId[ids[2]]);

      // The abandoned one comes back; completing it ends it.
      const again = await next();
      assert.equal(again.messageId, ids[2]);
      await client.complete(again);

      const records = await waitUntil(async () => {
        const mine = (await allFeedback()).filter((r) => ids.includes(r.originalMessageId));
        return mine.length === 3 ? mine : null;
      }, 15_000, 'feedback for the three messages');
      const status = Object.fromEntries(records.map((r) => [r.originalMessageId, r.statusCode]));
      assert.deepEqual(status, { [ids[0]]: 'Success', [ids[1]]: 'Rejected', [ids[2]]: 'Success' });
      const { responseBody } = await registry.get(device.deviceId);
      assert.equal(responseBody.cloudToDeviceMessageCount, 0);
    });

    test('a direct method from the service client reaches the handler', async () => {
      const { device, connectionString } = await scope.createDevice(`n-da-m-${name}`);
      const client = await open(connectionString, transport);
      const seen = [];
      client.onDeviceMethod('reboot', (request, response) => {
        seen.push(request);
        response.send(201, { echo: request.payload }).catch(() => {});
      });
      await waitUntil(async () => (await links(device.deviceId)).includes('methods/devicebound'), 15_000, 'methods links attached');

      // The connect timeout covers the method link that may still be attaching.
      const { result } = await service.invokeDeviceMethod(device.deviceId, {
        methodName: 'reboot', payload: { delay: 5 }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10,
      });
      assert.deepEqual(result, { status: 201, payload: { echo: { delay: 5 } } });
      assert.equal(seen.length, 1);
      assert.equal(seen[0].methodName, 'reboot');
      assert.ok(seen[0].requestId);
    });

    test('twin: get, reported update, desired notification', async () => {
      const { device, connectionString } = await scope.createDevice(`n-da-tw-${name}`);
      await registry.updateTwin(device.deviceId, { properties: { desired: { mode: 'eco' } } }, '*');
      const client = await open(connectionString, transport);
      const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
      assert.equal(twin.properties.desired.mode, 'eco');
      assert.equal(twin.properties.desired.$version, 2);

      await withTimeout(new Promise((resolve, reject) => {
        twin.properties.reported.update({ firmware: '2.0' }, (err) => (err ? reject(err) : resolve()));
      }), 20_000, 'reported update');
      const { responseBody: after } = await registry.getTwin(device.deviceId);
      assert.deepEqual(userProps(after.properties.reported), { firmware: '2.0' });

      const deltas = new Inbox();
      twin.on('properties.desired', (delta) => deltas.push(delta));
      // The listener's first call carries the desired section from getTwin.
      const first = await deltas.next(15_000, 'initial desired properties');
      assert.equal(first.mode, 'eco');
      // Subscribing is asynchronous: retry the service update until one
      // notification arrives.
      let delta;
      for (let i = 0; i < 20 && !delta; i++) {
        await registry.updateTwin(device.deviceId, { properties: { desired: { fan: `on-${i}` } } }, '*');
        delta = await deltas.next(1_000, 'desired notification').catch(() => null);
      }
      assert.ok(delta, 'a desired notification arrived');
      assert.match(delta.fan, /^on-/);
      assert.ok(delta.$version > 2);
    });

    for (const kind of ['selfSigned', 'certificateAuthority']) {
      test(`X.509 (${kind}): telemetry and twin with a client certificate, no token`, async () => {
        const { device } = await scope.createDevice(`n-da-x-${name}`, kind === 'selfSigned'
          ? { authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB', secondaryThumbprint: null } } }
          : { authentication: { type: 'certificateAuthority' } });
        const files = makeDeviceCert(dir, device.deviceId, kind === 'selfSigned' ? undefined : ca);
        if (kind === 'selfSigned') {
          await registry.update({
            deviceId: device.deviceId,
            authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumbprint(files.cert, 'sha1'), secondaryThumbprint: null } },
          });
        }
        const client = Client.fromConnectionString(`HostName=localhost;DeviceId=${device.deviceId};x509=true`, transport);
        client.setOptions({ cert: fs.readFileSync(files.cert, 'utf8'), key: fs.readFileSync(files.key, 'utf8') });
        scope.clients.push(client);
        await withTimeout(client.open(), 30_000, 'client.open with a certificate');
        await withTimeout(client.sendEvent(new Message('x509 over amqp')), 20_000, 'sendEvent');
        const [got] = await waitEvents(device.deviceId, 1);
        assert.equal(got.bodyText, 'x509 over amqp');
        const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
        assert.equal(twin.properties.reported.$version, 1);
      });
    }
  });
}

test('ModuleClient over Amqp: telemetry, twin and a module method', async () => {
  const { device } = await scope.createDevice('n-da-mod');
  const { module, connectionString } = await scope.createModule(device.deviceId, 'mod');
  const client = scope.moduleClient(connectionString, Amqp);
  await withTimeout(client.open(), 30_000, 'module client open');
  await withTimeout(client.sendEvent(new Message('from the module')), 20_000, 'sendEvent');
  const [got] = await waitEvents(device.deviceId, 1, { moduleId: module.moduleId });
  assert.equal(got.bodyText, 'from the module');
  assert.equal(got.systemProperties['iothub-connection-module-id'], module.moduleId);

  const twin = await withTimeout(client.getTwin(), 20_000, 'module getTwin');
  await withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update({ role: 'module' }, (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'module reported update');
  const { responseBody: modTwin } = await registry.getModuleTwin(device.deviceId, module.moduleId);
  assert.deepEqual(userProps(modTwin.properties.reported), { role: 'module' });

  client.onMethod('modping', (request, response) => { response.send(200, { module: true }).catch(() => {}); });
  const { result } = await service.invokeDeviceMethod(device.deviceId, module.moduleId, {
    methodName: 'modping', payload: {}, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10,
  });
  assert.deepEqual(result, { status: 200, payload: { module: true } });
});
