// Direct methods: the service Client.invokeDeviceMethod against
// Client.onDeviceMethod and ModuleClient.onMethod.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { newRegistry, Scope, SERVICE_CONNECTION_STRING, ServiceClient, withTimeout } from '../lib/hub.mjs';

const registry = newRegistry();
const service = ServiceClient.fromConnectionString(SERVICE_CONNECTION_STRING);
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

async function open(client) {
  await withTimeout(client.open(), 30_000, 'client.open');
  return client;
}

// The SDK subscribes to methods when the handler is set, without a
// completion callback: let the SUBSCRIBE go out, then a twin round trip on
// the same connection proves the hub has handled it.
async function subscribed(client) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await withTimeout(client.getTwin(), 20_000, 'getTwin');
}

// The error's HTTP status and IoT Hub error code (from the Message field).
function hubError(err) {
  const body = JSON.parse(err.responseBody);
  return { status: err.response.statusCode, code: /^ErrorCode:([A-Za-z]+);/.exec(body.Message)?.[1] };
}

test('invokeDeviceMethod round trip: status and payload', async () => {
  const { device, connectionString } = await scope.createDevice('n-m-rt');
  const client = await open(scope.client(connectionString));
  const seen = [];
  client.onDeviceMethod('reboot', (request, response) => {
    seen.push(request);
    response.send(201, { echo: request.payload, method: request.methodName }).catch(() => {});
  });
  await subscribed(client);

  const { result, message } = await service.invokeDeviceMethod(device.deviceId, {
    methodName: 'reboot', payload: { delay: 5, list: [1, 'two'] }, responseTimeoutInSeconds: 10,
  });
  assert.equal(message.statusCode, 200);
  assert.deepEqual(result, { status: 201, payload: { echo: { delay: 5, list: [1, 'two'] }, method: 'reboot' } });
  assert.equal(seen.length, 1);
  assert.ok(seen[0].requestId);
  assert.equal(seen[0].methodName, 'reboot');
});

test('a method with no payload and a handler answering none', async () => {
  const { device, connectionString } = await scope.createDevice('n-m-null');
  const client = await open(scope.client(connectionString));
  const payloads = [];
  client.onDeviceMethod('ping', (request, response) => {
    payloads.push(request.payload);
    response.send(200).catch(() => {});
  });
  await subscribed(client);
  // The SDK sends payload null when none is given.
  const { result } = await service.invokeDeviceMethod(device.deviceId, { methodName: 'ping' });
  assert.deepEqual(payloads, [null]);
  assert.deepEqual(result, { status: 200, payload: null });
});

test('an offline device is 404 DeviceNotOnline', async () => {
  const { device } = await scope.createDevice('n-m-offline');
  await assert.rejects(
    service.invokeDeviceMethod(device.deviceId, { methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 5 }),
    (err) => {
      assert.deepEqual(hubError(err), { status: 404, code: 'DeviceNotOnline' });
      return true;
    },
  );
});

test('an unanswered method is 504 GatewayTimeoutError', async () => {
  const { device, connectionString } = await scope.createDevice('n-m-silent');
  const client = await open(scope.client(connectionString));
  let calls = 0;
  client.onDeviceMethod('hang', () => { calls++; }); // never answers
  await subscribed(client);
  await assert.rejects(
    service.invokeDeviceMethod(device.deviceId, { methodName: 'hang', payload: {}, responseTimeoutInSeconds: 5 }),
    (err) => {
      assert.equal(err.name, 'GatewayTimeoutError');
      assert.deepEqual(hubError(err), { status: 504, code: 'GatewayTimeout' });
      return true;
    },
  );
  assert.equal(calls, 1, 'the SDK does not retry a gateway timeout');
});

test('module method reaches the ModuleClient only', async () => {
  const { device } = await scope.createDevice('n-m-moddev');
  const { module, connectionString } = await scope.createModule(device.deviceId, 'n-m-mod');
  const moduleClient = await open(scope.moduleClient(connectionString));
  moduleClient.onMethod('modping', (request, response) => {
    response.send(200, { module: module.moduleId, got: request.payload }).catch(() => {});
  });
  await subscribed(moduleClient);

  const { result } = await service.invokeDeviceMethod(device.deviceId, module.moduleId, {
    methodName: 'modping', payload: { x: 1 }, responseTimeoutInSeconds: 10,
  });
  assert.deepEqual(result, { status: 200, payload: { module: module.moduleId, got: { x: 1 } } });

  // The device itself is not connected: the module's subscription is not its.
  await assert.rejects(
    service.invokeDeviceMethod(device.deviceId, { methodName: 'modping', payload: {} }),
    (err) => {
      assert.deepEqual(hubError(err), { status: 404, code: 'DeviceNotOnline' });
      return true;
    },
  );
});
