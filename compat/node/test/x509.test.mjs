// X.509 devices: Client.fromConnectionString('...;x509=true') with
// setOptions({ cert, key }) connects with a client certificate and no SAS
// token, for a self-signed device matched by thumbprint and for one whose
// certificate the emulator's trusted CA signed, over Mqtt and MqttWs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, test } from 'node:test';
import { makeDeviceCert, thumbprint } from '../lib/certs.mjs';
import {
  Client, Message, Mqtt, MqttWs, newRegistry, Scope, userProps, waitEvents, waitUntil, withTimeout,
} from '../lib/hub.mjs';

const registry = newRegistry();
const ca = { cert: process.env.COMPAT_X509_CA_CERT, key: process.env.COMPAT_X509_CA_KEY };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iothub-compat-x509-'));
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function x509Client(deviceId, files, transport) {
  const client = Client.fromConnectionString(`HostName=localhost;DeviceId=${deviceId};x509=true`, transport);
  client.setOptions({ cert: fs.readFileSync(files.cert, 'utf8'), key: fs.readFileSync(files.key, 'utf8') });
  scope.clients.push(client);
  return client;
}

// The listener the emulator logged deviceId connecting on (mqtts or wss).
function listenersOf(deviceId) {
  const text = fs.readFileSync(process.env.COMPAT_EMULATOR_LOG, 'utf8');
  return text.split('\n')
    .filter((l) => l.includes('msg="mqtt connected"') && l.includes(` client=${deviceId} `))
    .map((l) => / listener=(\w+)/.exec(l)?.[1]);
}

async function telemetryAndTwin(client, deviceId, listener) {
  await withTimeout(client.open(), 30_000, 'client.open with a certificate');
  const message = new Message('x509 hello');
  message.messageId = 'x1';
  await withTimeout(client.sendEvent(message), 20_000, 'sendEvent');
  const [got] = await waitEvents(deviceId, 1);
  assert.equal(got.bodyText, 'x509 hello');
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  await withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update({ auth: 'x509' }, (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'reported update');
  const { responseBody: after } = await registry.getTwin(deviceId);
  assert.deepEqual(userProps(after.properties.reported), { auth: 'x509' });
  assert.deepEqual(await waitUntil(() => listenersOf(deviceId).length > 0 && listenersOf(deviceId),
    5_000, 'connection logged'), [listener]);
}

for (const [name, transport, listener] of [['Mqtt', Mqtt, 'mqtts'], ['MqttWs', MqttWs, 'wss']]) {
  test(`${name}: self-signed device by SHA-256 thumbprint`, async () => {
    const { device } = await scope.createDevice('n-x509-self', {
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB', secondaryThumbprint: null } },
    });
    const files = makeDeviceCert(dir, device.deviceId);
    // The secondary thumbprint, set after creation, is the one that matches.
    await registry.update({
      deviceId: device.deviceId,
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'AB', secondaryThumbprint: thumbprint(files.cert, 'sha256') } },
    });
    await telemetryAndTwin(x509Client(device.deviceId, files, transport), device.deviceId, listener);
  });

  test(`${name}: CA-signed device`, async () => {
    const { device } = await scope.createDevice('n-x509-ca', { authentication: { type: 'certificateAuthority' } });
    assert.equal(device.authentication.type, 'certificateAuthority');
    const files = makeDeviceCert(dir, device.deviceId, ca);
    await telemetryAndTwin(x509Client(device.deviceId, files, transport), device.deviceId, listener);
  });
}

test('Mqtt: a CA-signed certificate with another CN is refused', async () => {
  const { device } = await scope.createDevice('n-x509-cn', { authentication: { type: 'certificateAuthority' } });
  const files = makeDeviceCert(dir, `${device.deviceId}-other`, ca);
  const client = x509Client(device.deviceId, files, Mqtt);
  await assert.rejects(withTimeout(client.open(), 30_000, 'client.open with a wrong CN'), (err) => {
    assert.match(err.constructor.name, /Unauthorized|NotConnected/, `${err.constructor.name}: ${err.message}`);
    return true;
  });
  const text = fs.readFileSync(process.env.COMPAT_EMULATOR_LOG, 'utf8');
  assert.match(text, new RegExp(`not authorized.*client=${device.deviceId} .*subject CN`));
});
