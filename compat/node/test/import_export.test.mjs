// Import and export jobs with azure-iothub's Registry (exportDevicesToBlob,
// importDevicesFromBlob, getJob, listJobs, cancelJob) into and out of a
// container of the emulator's built-in blob endpoint. The container SAS is
// minted as a user would, with @azure/storage-blob and the built-in
// account's well-known key; the blobs are read and written with
// ContainerClient (trusting the CA through NODE_EXTRA_CA_CERTS).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, test } from 'node:test';
import {
  ContainerClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { newRegistry, Scope, waitUntil } from '../lib/hub.mjs';

const ACCOUNT = 'iothubemulator';
const KEY = 'oP5Svw+paQQi5Fx0IQUnHVOrwPuK0V2CTssG850oPg2om4PhV298pdb3HHZuqBh8';

const registry = newRegistry();
let scope;
beforeEach(() => { scope = new Scope(registry); });
afterEach(() => scope.cleanup());

function containerUri(name) {
  const sas = generateBlobSASQueryParameters({
    containerName: name,
    permissions: ContainerSASPermissions.parse('rwl'),
    expiresOn: new Date(Date.now() + 3600_000),
  }, new StorageSharedKeyCredential(ACCOUNT, KEY)).toString();
  return `https://localhost/${ACCOUNT}/${name}?${sas}`;
}

async function finished(jobId) {
  return waitUntil(async () => {
    const job = await registry.getJob(jobId);
    return ['completed', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
  }, 30_000, `job ${jobId} finished`);
}

async function lines(container, blob) {
  const buf = await container.getBlockBlobClient(blob).downloadToBuffer();
  return buf.toString('utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
}

test('exportDevicesToBlob writes every device with its keys and twin', async () => {
  const { device } = await scope.createDevice('n-exp');
  const uri = containerUri(`nexp-${randomUUID().slice(0, 8)}`);
  const job = await registry.exportDevicesToBlob(uri, false);
  assert.ok(job.jobId);
  assert.equal(job.type, 'export');
  const done = await finished(job.jobId);
  assert.equal(done.status, 'completed', done.failureReason);
  assert.equal(done.progress, 100);

  const exported = await lines(new ContainerClient(uri), 'devices.txt');
  const mine = exported.filter((l) => l.id === device.deviceId);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].authentication.symmetricKey.primaryKey, device.authentication.symmetricKey.primaryKey);
  const { responseBody: all } = await registry.listJobs();
  assert.ok(all.some((j) => j.jobId === job.jobId));
});

test('importDevicesFromBlob creates devices and logs what failed', async () => {
  const { device: taken } = await scope.createDevice('n-taken');
  const newId = `n-imported-${randomUUID().slice(0, 8)}`;
  scope.deviceIds.push(newId); // removed with the test's devices
  const uri = containerUri(`nimp-${randomUUID().slice(0, 8)}`);
  const container = new ContainerClient(uri);
  const body = [
    { id: newId, importMode: 'create', tags: { source: 'import' }, properties: { desired: { rate: 9 } } },
    { id: taken.deviceId, importMode: 'create' },
  ].map((l) => JSON.stringify(l)).join('\n');
  await container.getBlockBlobClient('devices.txt').upload(body, Buffer.byteLength(body));

  const job = await registry.importDevicesFromBlob(uri, uri);
  const done = await finished(job.jobId);
  assert.equal(done.status, 'completed', done.failureReason);
  const { responseBody: twin } = await registry.getTwin(newId);
  assert.deepEqual(twin.tags, { source: 'import' });
  assert.equal(twin.properties.desired.rate, 9);
  const errors = await lines(container, 'importErrors.log');
  assert.deepEqual(errors.map((e) => [e.deviceId, e.errorCode]), [[taken.deviceId, 'DeviceAlreadyExists']]);

  // A finished job's cancel returns it as it was.
  const again = await registry.cancelJob(job.jobId);
  assert.equal(again.status, 'completed');
  await assert.rejects(registry.getJob(randomUUID()), (err) => err.response?.statusCode === 404);
});
