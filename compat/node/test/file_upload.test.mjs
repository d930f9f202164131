// File upload with azure-iot-device: Client.uploadToBlob (the SAS from the
// hub, the upload with @azure/storage-blob to the emulator's built-in blob
// endpoint, the notify), the blob read back with @azure/storage-blob, and
// the notification received by azure-iothub's getFileNotificationReceiver.
// @azure/storage-blob trusts the emulator's CA through NODE_EXTRA_CA_CERTS,
// which the runner set.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, test } from 'node:test';
import { BlockBlobClient } from '@azure/storage-blob';
import {
  Inbox, newRegistry, Scope, SERVICE_CONNECTION_STRING, ServiceClient, withTimeout,
} from '../lib/hub.mjs';

const registry = newRegistry();
let scope;
let service;
beforeEach(() => { scope = new Scope(registry); service = null; });
afterEach(async () => {
  if (service) await withTimeout(service.close(), 15_000, 'service client close').catch(() => {});
  await scope.cleanup();
});

// The notifications of deviceId, each completed; others are abandoned for
// whoever waits for them.
async function notifications(deviceId) {
  service = ServiceClient.fromConnectionString(SERVICE_CONNECTION_STRING);
  await withTimeout(service.open(), 30_000, 'service Client.open');
  const { result: receiver } = await withTimeout(service.getFileNotificationReceiver(), 30_000, 'getFileNotificationReceiver');
  const inbox = new Inbox();
  receiver.on('message', (msg) => {
    const n = JSON.parse(msg.data.toString('utf8'));
    if (n.deviceId === deviceId) {
      receiver.complete(msg, () => {});
      inbox.push(n);
    } else {
      receiver.abandon(msg, () => {});
    }
  });
  return inbox;
}

test('uploadToBlob: the blob lands in the built-in endpoint and the service receives its notification', async () => {
  const { device, connectionString } = await scope.createDevice('n-fu');
  const inbox = await notifications(device.deviceId);
  const client = scope.client(connectionString);
  const name = `logs/${randomUUID()}.txt`;
  const data = Buffer.from('file upload from the Node SDK\n'.repeat(2000));

  await withTimeout(client.uploadToBlob(name, Readable.from([data]), data.length), 60_000, 'uploadToBlob');

  const n = await inbox.next(15_000, 'file upload notification');
  assert.equal(n.blobName, `${device.deviceId}/${name}`);
  assert.equal(n.blobSizeInBytes, data.length);
  assert.match(n.blobUri, new RegExp(`^https://.+/fileuploads/${device.deviceId}/logs/`));
  assert.ok(n.lastUpdatedTime && n.enqueuedTimeUtc, JSON.stringify(n));

  // Read it back with a SAS for the same blob, and end that upload as failed.
  const info = await withTimeout(client.getBlobSharedAccessSignature(name), 30_000, 'getBlobSharedAccessSignature');
  assert.equal(info.blobName, `${device.deviceId}/${name}`);
  const blob = new BlockBlobClient(`https://${info.hostName}/${info.containerName}/${info.blobName}${info.sasToken}`);
  const got = await withTimeout(blob.downloadToBuffer(), 30_000, 'downloadToBuffer');
  assert.ok(got.equals(data), `downloaded ${got.length} bytes, want the ${data.length} uploaded`);
  await withTimeout(client.notifyBlobUploadStatus(info.correlationId, false, 500, 'not uploaded'), 30_000, 'notifyBlobUploadStatus');
});
