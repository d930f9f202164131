// Helpers shared by the Node compatibility tests. The runner (run.mjs) has
// started the emulator and set NODE_EXTRA_CA_CERTS before these tests start.
import { randomUUID } from 'node:crypto';
import iothub from 'azure-iothub';
import deviceSdk from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';

export const { Registry } = iothub;
export const { Client } = deviceSdk;
export const { Mqtt } = deviceMqtt;

// The emulator's well-known hub (documented in the project README).
export const SERVICE_CONNECTION_STRING =
  'HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw=';

export function uniqueId(prefix) {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 10)}`;
}

export function deviceConnectionString(deviceId, key) {
  return `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${key}`;
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

  client(connectionString) {
    const client = Client.fromConnectionString(connectionString, Mqtt);
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
