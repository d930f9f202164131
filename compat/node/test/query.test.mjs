// Twin queries with paging through Registry.createQuery / Query.nextAsTwin.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { newRegistry, Scope } from '../lib/hub.mjs';

const registry = newRegistry();
const DEVICES = 25;
const PAGE = 10;
const batch = `b${randomUUID().slice(0, 8)}`;
const scope = new Scope(registry);
const ids = new Set();

before(async () => {
  for (let i = 0; i < DEVICES; i++) {
    const { device } = await scope.createDevice('n-q-page');
    await registry.updateTwin(device.deviceId, { tags: { batch } }, '*');
    ids.add(device.deviceId);
  }
});
after(() => scope.cleanup());

test('nextAsTwin follows the continuation token to the last page', async () => {
  const query = registry.createQuery(`SELECT * FROM devices WHERE tags.batch = '${batch}'`, PAGE);
  const seen = [];
  const sizes = [];
  for (let page = 0; page < DEVICES && query.hasMoreResults; page++) { // bounded
    const { result, message } = await query.nextAsTwin();
    assert.equal(message.headers['x-ms-item-type'], 'Twin');
    sizes.push(result.length);
    seen.push(...result.map((t) => t.deviceId));
    if (query.hasMoreResults) assert.ok(query.continuationToken, 'a continuation token is never empty');
  }
  assert.equal(query.hasMoreResults, false, 'the last page carries no continuation token');
  assert.deepEqual(seen.slice().sort(), [...ids].sort(), 'each device exactly once');
  assert.deepEqual(sizes, [10, 10, 5]);
});

test('next with an explicit token gives the same pages', async () => {
  const query = registry.createQuery(`SELECT * FROM devices WHERE tags.batch = '${batch}'`, PAGE);
  const seen = [];
  let token;
  for (let page = 0; page < DEVICES; page++) {
    const { result } = await query.next(token);
    seen.push(...result.map((t) => t.deviceId));
    if (!query.hasMoreResults) break;
    token = query.continuationToken;
  }
  assert.equal(query.hasMoreResults, false);
  assert.deepEqual(seen.slice().sort(), [...ids].sort());
});

test('a malformed query is ArgumentError (400)', async () => {
  const query = registry.createQuery('SELECT * FROM', PAGE);
  await assert.rejects(query.next(), (err) => {
    assert.equal(err.name, 'ArgumentError');
    assert.equal(err.response.statusCode, 400);
    return true;
  });
});
