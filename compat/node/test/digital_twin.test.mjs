// Digital twins (IoT Plug and Play): azure-iothub's DigitalTwinClient
// against a temperature-controller device announcing its model id, as the
// SDK's PnP samples do.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import iothub from 'azure-iothub';
import { Inbox, newRegistry, Scope, SERVICE_CONNECTION_STRING, withTimeout } from '../lib/hub.mjs';

const { DigitalTwinClient, IoTHubTokenCredentials } = iothub;
const MODEL_ID = 'dtmi:com:example:TemperatureController;2';
const registry = newRegistry();
const digitalTwins = new DigitalTwinClient(new IoTHubTokenCredentials(SERVICE_CONNECTION_STRING));
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

// The error's HTTP status and IoT Hub error code (from the Message field).
function hubError(err) {
  const body = JSON.parse(err.response.body);
  return { status: err.statusCode, code: /^ErrorCode:([A-Za-z]+);/.exec(body.Message)?.[1] };
}

// A connected PnP device: reports a root property and a component, answers
// every command with 200 and {command, payload}, and collects desired patches.
async function pnpDevice(prefix) {
  const { device, connectionString } = await scope.createDevice(prefix);
  const client = scope.client(connectionString);
  await withTimeout(client.setOptions({ modelId: MODEL_ID }), 5_000, 'setOptions');
  await withTimeout(client.open(), 30_000, 'client.open');
  for (const name of ['reboot', 'thermostat1*getMaxMinReport']) {
    client.onDeviceMethod(name, (request, response) => {
      response.send(200, { command: request.methodName, payload: request.payload }).catch(() => {});
    });
  }
  const twin = await withTimeout(client.getTwin(), 20_000, 'getTwin');
  const patches = new Inbox();
  twin.on('properties.desired', (delta) => patches.push(delta));
  await withTimeout(new Promise((resolve, reject) => {
    twin.properties.reported.update({ serialNumber: 'SN-7', thermostat1: { __t: 'c', maxTempSinceLastReboot: 21.5 } },
      (err) => (err ? reject(err) : resolve()));
  }), 20_000, 'reported update');
  return { device, client, patches };
}

test('getDigitalTwin renders the model, properties and components', async () => {
  const { device } = await pnpDevice('n-dt-get');
  const dt = await digitalTwins.getDigitalTwin(device.deviceId);
  assert.equal(dt.$dtId, device.deviceId);
  assert.equal(dt.$metadata.$model, MODEL_ID);
  assert.equal(dt.serialNumber, 'SN-7');
  assert.equal(dt.thermostat1.maxTempSinceLastReboot, 21.5);
  assert.ok(dt.thermostat1.$metadata.maxTempSinceLastReboot.lastUpdateTime);
  assert.equal(dt.thermostat1.__t, undefined);
});

test('updateDigitalTwin writes desired properties the device receives', async () => {
  const { device, patches } = await pnpDevice('n-dt-patch');
  const first = await digitalTwins.getDigitalTwin(device.deviceId);
  // The promise form resolves to the (empty) body: take the response from the callback.
  const response = await withTimeout(new Promise((resolve, reject) => {
    digitalTwins.updateDigitalTwin(device.deviceId, [{ op: 'add', path: '/thermostat1/targetTemperature', value: 42 }],
      first._response.headers.get('etag'), (err, _result, res) => (err ? reject(err) : resolve(res)));
  }), 20_000, 'updateDigitalTwin');
  assert.equal(response.status, 202);
  assert.ok(response.headers.get('etag'));
  // The first desired event carries the whole desired section; wait for the patch.
  let delta;
  await withTimeout((async () => {
    do { delta = await patches.next(10_000); } while (!delta.thermostat1);
  })(), 15_000, 'desired patch');
  assert.deepEqual({ ...delta.thermostat1 }, { __t: 'c', targetTemperature: 42 });
  const dt = await digitalTwins.getDigitalTwin(device.deviceId);
  assert.equal(dt.thermostat1.$metadata.targetTemperature.desiredValue, 42);
});

test('refused patches change nothing', async () => {
  const { device } = await pnpDevice('n-dt-bad');
  const before = await digitalTwins.getDigitalTwin(device.deviceId);
  await assert.rejects(digitalTwins.updateDigitalTwin(device.deviceId, [{ op: 'remove', path: '/nothing' }]),
    (err) => { assert.deepEqual(hubError(err), { status: 400, code: 'ArgumentInvalid' }); return true; });
  await assert.rejects(digitalTwins.updateDigitalTwin(device.deviceId, [{ op: 'add', path: '/x', value: 1 }], '"stale"'),
    (err) => { assert.deepEqual(hubError(err), { status: 412, code: 'PreconditionFailed' }); return true; });
  const after = await digitalTwins.getDigitalTwin(device.deviceId);
  delete before._response; delete after._response;
  assert.deepEqual(after, before);
});

test('invokeCommand and invokeComponentCommand reach the device as direct methods', async () => {
  const { device } = await pnpDevice('n-dt-cmd');
  const root = await digitalTwins.invokeCommand(device.deviceId, 'reboot', { delay: 1 }, { responseTimeoutInSeconds: 10 });
  assert.deepEqual(root._response.parsedBody, { command: 'reboot', payload: { delay: 1 } });
  assert.equal(root._response.headers.get('x-ms-command-statuscode'), '200');
  const comp = await digitalTwins.invokeComponentCommand(device.deviceId, 'thermostat1', 'getMaxMinReport', 'since', { connectTimeoutInSeconds: 5 });
  assert.deepEqual(comp._response.parsedBody, { command: 'thermostat1*getMaxMinReport', payload: 'since' });
});

test('a command to an offline device is 404 DeviceNotOnline', async () => {
  const { device } = await scope.createDevice('n-dt-off');
  await assert.rejects(digitalTwins.invokeCommand(device.deviceId, 'reboot', {}),
    (err) => { assert.deepEqual(hubError(err), { status: 404, code: 'DeviceNotOnline' }); return true; });
});
