// Helpers shared by the Node compatibility tests. The runner (run.mjs) has
// started the emulator and set NODE_EXTRA_CA_CERTS before these tests start.
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import iothub from 'azure-iothub';
import deviceSdk from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';

export const { Registry } = iothub;
export const ServiceClient = iothub.Client;
export const { Client, ModuleClient, Message } = deviceSdk;
export const { Mqtt, MqttWs } = deviceMqtt;

// The emulator's well-known hub (documented in the project README).
export const SERVICE_CONNECTION_STRING =
  'HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=';

export function uniqueId(prefix) {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 10)}`;
}

export function deviceConnectionString(deviceId, key) {
  return `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${key}`;
}

export function moduleConnectionString(deviceId, moduleId, key) {
  return `HostName=localhost;DeviceId=${deviceId};ModuleId=${moduleId};SharedAccessKey=${key}`;
}

export function newRegistry() {
  return Registry.fromConnectionString(SERVICE_CONNECTION_STRING);
}

// Rejects when promise has not settled within ms; the SDKs have operations
// that wait forever for a response that never comes.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Devices and clients created by one test, removed by cleanup() afterwards.
export class Scope {
  constructor(registry) {
    this.registry = registry;
    this.deviceIds = [];
    this.clients = [];
  }

  async createDevice(prefix, extra = {}) {
    const deviceId = uniqueId(prefix);
    const { responseBody: device } = await this.registry.create({ deviceId, ...extra });
    this.deviceIds.push(deviceId);
    return { device, connectionString: deviceConnectionString(deviceId, device.authentication.symmetricKey.primaryKey) };
  }

  // A module on the device, with a fresh id; it goes away with the device.
  async createModule(deviceId, prefix) {
    const moduleId = uniqueId(prefix);
    const { responseBody: module } = await this.registry.addModule({ deviceId, moduleId });
    return { module, connectionString: moduleConnectionString(deviceId, moduleId, module.authentication.symmetricKey.primaryKey) };
  }

  client(connectionString, transport = Mqtt) {
    const client = Client.fromConnectionString(connectionString, transport);
    this.clients.push(client);
    return client;
  }

  moduleClient(connectionString, transport = Mqtt) {
    const client = ModuleClient.fromConnectionString(connectionString, transport);
    this.clients.push(client);
    return client;
  }

  async cleanup() {
    for (const client of this.clients) {
      await withTimeout(client.close(), 15_000, 'client.close').catch(() => {});
    }
    for (const deviceId of this.deviceIds) {
      await this.registry.delete(deviceId).catch(() => {}); // the test may have deleted it
    }
  }
}

// Items that arrive from SDK events (messages, notifications), taken in
// order with a bounded wait; an item that arrives before anyone waits is kept.
export class Inbox {
  constructor() {
    this.items = [];
    this.taken = 0;
    this.waiter = null;
  }

  push(item) {
    this.items.push(item);
    this.waiter?.();
  }

  next(ms, what) {
    if (this.waiter) throw new Error('Inbox.next: one waiter at a time');
    return withTimeout(new Promise((resolve) => {
      this.waiter = () => {
        if (this.taken < this.items.length) {
          this.waiter = null;
          resolve(this.items[this.taken++]);
        }
      };
      this.waiter();
    }), ms, what).finally(() => { this.waiter = null; });
  }
}

// Awaits fn until it returns a truthy value, polling at most timeoutMs.
export async function waitUntil(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not met within ${timeoutMs} ms (last value: ${JSON.stringify(last)})`);
}

// Strips $-prefixed bookkeeping ($version, $metadata) from a property section.
export function userProps(section) {
  return Object.fromEntries(Object.entries(section || {}).filter(([k]) => !k.startsWith('$')));
}

// The emulator's own service endpoints stand in for what IoT Hub does over
// AMQP: reading telemetry back and sending cloud-to-device messages. They
// take the usual service SAS token; NODE_EXTRA_CA_CERTS makes https trust
// the emulator's CA.
const HUB_KEY_NAME = 'iothubowner';
const HUB_KEY = /SharedAccessKey=([^;]+)/.exec(SERVICE_CONNECTION_STRING)[1];

export function serviceRequest(method, path, { query = {}, body } = {}, timeoutMs = 30_000) {
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const token = iothub.SharedAccessSignature.create('localhost', HUB_KEY_NAME, HUB_KEY, expiry).toString();
  const qs = new URLSearchParams(query).toString();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { Authorization: token };
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: 'localhost', port: 443, method, path: qs ? `${path}?${qs}` : path, headers, timeout: timeoutMs,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        if ((res.headers['content-type'] || '').startsWith('application/json') && text) json = JSON.parse(text);
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function okJson(method, path, options, timeoutMs) {
  const res = await serviceRequest(method, path, options, timeoutMs);
  if (res.status !== 200 || res.json === undefined) {
    throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  }
  return res.json;
}

// One page of the device's (or module's) telemetry.
export function readEvents(deviceId, { moduleId, fromSequenceNumber, maxCount, waitSeconds } = {}) {
  const query = { deviceId };
  if (moduleId !== undefined) query.moduleId = moduleId;
  if (fromSequenceNumber !== undefined) query.fromSequenceNumber = String(fromSequenceNumber);
  if (maxCount !== undefined) query.maxCount = String(maxCount);
  if (waitSeconds !== undefined) query.waitSeconds = String(waitSeconds);
  return okJson('GET', '/emulator/messages/events', { query }, ((waitSeconds || 0) + 30) * 1000);
}

// The first `count` messages of the device (or module), long-polling until
// they are there; fails after timeoutMs, or if more than count arrive.
export async function waitEvents(deviceId, count, { moduleId, timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  const got = [];
  let from;
  while (got.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${got.length} of ${count} messages from ${deviceId} within ${timeoutMs} ms: ${JSON.stringify(got)}`);
    const waitSeconds = Math.max(1, Math.min(5, Math.floor(left / 1000)));
    const page = await readEvents(deviceId, { moduleId, fromSequenceNumber: from, waitSeconds });
    got.push(...page.messages);
    from = page.nextSequenceNumber;
  }
  if (got.length !== count) throw new Error(`want ${count} messages from ${deviceId}, got ${got.length}: ${JSON.stringify(got)}`);
  return got;
}

// Queues a cloud-to-device message; returns the queued message.
export function sendC2D(deviceId, fields) {
  return okJson('POST', `/emulator/devices/${encodeURIComponent(deviceId)}/messages/devicebound`, { body: fields });
}

// Every feedback record the hub keeps (not consumed).
export function allFeedback() {
  return okJson('GET', '/emulator/messages/feedback');
}
