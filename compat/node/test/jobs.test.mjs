// Scheduled jobs (jobs v2): azure-iothub's JobClient scheduling direct
// methods and twin updates over a query condition, on real device clients,
// and the per-device rows in devices.jobs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import iothub from 'azure-iothub';
import { newRegistry, Scope, SERVICE_CONNECTION_STRING, waitUntil, withTimeout } from '../lib/hub.mjs';

const jobClient = iothub.JobClient.fromConnectionString(SERVICE_CONNECTION_STRING);
const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

const jobId = (prefix) => `${prefix}-${randomUUID().slice(0, 10)}`;

function hubError(err) {
  const body = JSON.parse(err.responseBody);
  return { status: err.response.statusCode, code: /^ErrorCode:([A-Za-z]+);/.exec(body.Message)?.[1] };
}

async function onlineDevice(prefix) {
  const { device, connectionString } = await scope.createDevice(prefix);
  const client = scope.client(connectionString);
  await withTimeout(client.open(), 30_000, 'client.open');
  client.onDeviceMethod('reboot', (request, response) => {
    response.send(200, { ran: request.methodName, payload: request.payload }).catch(() => {});
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await withTimeout(client.getTwin(), 20_000, 'getTwin'); // the SUBSCRIBE has been handled
  return device;
}

async function finished(id) {
  let job;
  await waitUntil(async () => {
    ({ jobStatus: job } = await jobClient.getJob(id));
    return ['completed', 'failed', 'cancelled'].includes(job.status);
  }, 20_000, `job ${id} finished`);
  return job;
}

test('scheduleDeviceMethod reaches online devices and fails offline ones', async () => {
  const online = await onlineDevice('n-j-on');
  const { device: offline } = await scope.createDevice('n-j-off');
  const id = jobId('n-method');
  const { jobStatus: created } = await jobClient.scheduleDeviceMethod(id, `deviceId IN ['${online.deviceId}', '${offline.deviceId}']`,
    { methodName: 'reboot', payload: { delay: 1 }, responseTimeoutInSeconds: 10 }, new Date(), 60);
  assert.equal(created.jobId, id);
  assert.equal(created.type, 'scheduleDeviceMethod');
  const job = await finished(id);
  assert.equal(job.status, 'completed');
  assert.deepEqual({ ...job.deviceJobStatistics },
    { deviceCount: 2, succeededCount: 1, failedCount: 1, runningCount: 0, pendingCount: 0 });

  const { result: rows, message } = await registry.createQuery(`SELECT * FROM devices.jobs WHERE jobId = '${id}'`).next();
  assert.equal(message.headers['x-ms-item-type'], 'DeviceJob');
  const byDevice = Object.fromEntries(rows.map((r) => [r.deviceId, r]));
  assert.equal(byDevice[online.deviceId].status, 'completed');
  assert.deepEqual(byDevice[online.deviceId].outcome.deviceMethodResponse,
    { status: 200, payload: { ran: 'reboot', payload: { delay: 1 } } });
  assert.equal(byDevice[offline.deviceId].status, 'failed');
  assert.equal(byDevice[offline.deviceId].error.code, 'DeviceNotOnline');
});

test('scheduleTwinUpdate writes tags and desired properties', async () => {
  const { device } = await scope.createDevice('n-j-twin');
  const id = jobId('n-twin');
  await jobClient.scheduleTwinUpdate(id, `deviceId = '${device.deviceId}'`,
    { etag: '*', tags: { fleet: 'green' }, properties: { desired: { interval: 3 } } }, new Date(), 60);
  const job = await finished(id);
  assert.equal(job.status, 'completed');
  const { responseBody: twin } = await registry.getTwin(device.deviceId);
  assert.equal(twin.tags.fleet, 'green');
  assert.equal(twin.properties.desired.interval, 3);
});

test('cancelJob, createQuery filters and errors', async () => {
  const { device } = await scope.createDevice('n-j-cancel');
  const id = jobId('n-later');
  const later = new Date(Date.now() + 3_600_000);
  const { jobStatus: created } = await jobClient.scheduleDeviceMethod(id, `deviceId = '${device.deviceId}'`, { methodName: 'reboot' }, later, 60);
  assert.equal(created.status, 'scheduled');
  const { jobStatus: cancelled } = await jobClient.cancelJob(id);
  assert.equal(cancelled.status, 'cancelled');

  const query = jobClient.createQuery('scheduleDeviceMethod', 'cancelled');
  const listed = [];
  while (query.hasMoreResults) {
    const { result } = await query.next();
    listed.push(...result);
  }
  assert.ok(listed.some((j) => j.jobId === id));
  assert.ok(listed.every((j) => j.status === 'cancelled' && j.type === 'scheduleDeviceMethod'));

  await assert.rejects(jobClient.getJob(jobId('n-missing')),
    (err) => { assert.deepEqual(hubError(err), { status: 404, code: 'JobNotFound' }); return true; });
  await assert.rejects(jobClient.scheduleDeviceMethod(id, `deviceId = '${device.deviceId}'`, { methodName: 'reboot' }),
    (err) => { assert.deepEqual(hubError(err), { status: 400, code: 'ArgumentInvalid' }); return true; });
});
