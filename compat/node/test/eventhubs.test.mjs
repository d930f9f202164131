// Device telemetry read back through the hub's Event Hubs-compatible
// endpoint with @azure/event-hubs' EventHubConsumerClient: AMQPS on 5671
// (trusted through NODE_EXTRA_CA_CERTS) and plain AMQP on 5672 with
// UseDevelopmentEmulator=true. Devices send over MQTT.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { earliestEventPosition, latestEventPosition } from '@azure/event-hubs';
import { Message, newRegistry, Scope, waitEvents, withTimeout } from '../lib/hub.mjs';
import {
  EVENT_HUB_NAME, EventHubsScope, EXTRA_CONSUMER_GROUP, HUB_NAME, PARTITION_IDS, PLAIN_CS, eventHubsConnectionString,
} from '../lib/eventhubs.mjs';

const registry = newRegistry();
let scope;
let eh;
beforeEach(() => { scope = new Scope(registry); eh = new EventHubsScope(); });
afterEach(async () => {
  await eh.cleanup();
  await scope.cleanup();
});

async function device(prefix) {
  const { device: d, connectionString } = await scope.createDevice(prefix);
  const client = scope.client(connectionString);
  await withTimeout(client.open(), 30_000, 'device open');
  return { deviceId: d.deviceId, client };
}

function send(client, body, { properties = {}, ...fields } = {}) {
  const message = new Message(body);
  Object.assign(message, fields);
  for (const [k, v] of Object.entries(properties)) message.properties.add(k, v);
  return withTimeout(client.sendEvent(message), 20_000, 'sendEvent');
}

const text = (item) => item.event.body.toString('utf8');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('getEventHubProperties and getPartitionIds', async () => {
  const consumer = eh.consumer();
  const props = await withTimeout(consumer.getEventHubProperties(), 30_000, 'getEventHubProperties');
  assert.equal(props.name, EVENT_HUB_NAME);
  assert.deepEqual(props.partitionIds, PARTITION_IDS);
  assert.ok(props.createdOn instanceof Date && !Number.isNaN(props.createdOn.getTime()), String(props.createdOn));
  assert.deepEqual(await withTimeout(consumer.getPartitionIds(), 30_000, 'getPartitionIds'), PARTITION_IDS);
});

test('subscribe receives device telemetry with its system and application properties', async () => {
  const { deviceId, client } = await device('n-eh-props');
  const sub = eh.subscribe({ startPosition: earliestEventPosition });
  const before = Date.now();
  await send(client, '{"temperature":21.5}', {
    messageId: 'msg-0001', correlationId: 'corr-42', contentType: 'application/json', contentEncoding: 'utf-8',
    properties: { alert: 'true', 'with space': 'a&b=c/d' },
  });

  const item = await sub.nextFrom(deviceId);
  assert.ok(PARTITION_IDS.includes(item.partitionId), item.partitionId);
  const { event } = item;
  assert.equal(text(item), '{"temperature":21.5}');
  assert.deepEqual(event.properties, { alert: 'true', 'with space': 'a&b=c/d' });
  assert.equal(event.messageId, 'msg-0001');
  assert.equal(event.correlationId, 'corr-42');
  assert.equal(event.contentType, 'application/json');
  assert.equal(event.systemProperties['iothub-connection-device-id'], deviceId);
  assert.equal(event.systemProperties.contentEncoding, 'utf-8');
  assert.ok(event.systemProperties['iothub-connection-auth-method'], JSON.stringify(event.systemProperties));
  assert.ok(Number.isInteger(event.sequenceNumber) && event.sequenceNumber >= 0, String(event.sequenceNumber));
  assert.match(String(event.offset), /^\d+$/);
  assert.ok(event.enqueuedTimeUtc instanceof Date);
  assert.ok(event.enqueuedTimeUtc.getTime() >= before - 5_000 && event.enqueuedTimeUtc.getTime() <= Date.now() + 5_000,
    event.enqueuedTimeUtc.toISOString());
});

test("a device's events arrive in order on one partition; getPartitionProperties describes the last", async () => {
  const { deviceId, client } = await device('n-eh-order');
  const consumer = eh.consumer();
  const sub = eh.subscribe({ startPosition: earliestEventPosition });
  for (let i = 0; i < 3; i++) await send(client, `n=${i}`);
  const got = await sub.takeFrom(deviceId, 3);
  assert.deepEqual(got.map(text), ['n=0', 'n=1', 'n=2']);
  assert.equal(new Set(got.map((g) => g.partitionId)).size, 1, 'one partition per device');
  const seqs = got.map((g) => g.event.sequenceNumber);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
  const offsets = got.map((g) => Number(g.event.offset));
  assert.deepEqual(offsets, [...new Set(offsets)].sort((a, b) => a - b));

  const last = got[2].event;
  const props = await withTimeout(consumer.getPartitionProperties(got[2].partitionId), 30_000, 'getPartitionProperties');
  assert.equal(props.eventHubName, EVENT_HUB_NAME);
  assert.equal(props.partitionId, got[2].partitionId);
  assert.equal(props.isEmpty, false);
  assert.equal(props.lastEnqueuedSequenceNumber, last.sequenceNumber);
  assert.equal(String(props.lastEnqueuedOffset), String(last.offset));
  assert.equal(props.lastEnqueuedOnUtc.getTime(), last.enqueuedTimeUtc.getTime());
  assert.ok(props.beginningSequenceNumber >= 0 && props.beginningSequenceNumber <= last.sequenceNumber);
});

test('earliestEventPosition reads from the beginning, latestEventPosition only new events', async () => {
  const { deviceId, client } = await device('n-eh-start');
  await send(client, 'old-0');
  await send(client, 'old-1');
  await waitEvents(deviceId, 2); // both are in the hub's log

  const earliest = eh.subscribe({ startPosition: earliestEventPosition });
  assert.deepEqual((await earliest.takeFrom(deviceId, 2)).map(text), ['old-0', 'old-1']);

  const latest = eh.subscribe({ startPosition: latestEventPosition });
  // @latest is taken when each partition's link attaches, which the SDK
  // does not report: send until a new event arrives, and check that no old
  // one ever does.
  const deadline = Date.now() + 30_000;
  let item;
  for (let i = 0; !item; i++) {
    await send(client, `new-${i}`);
    try {
      item = await latest.nextFrom(deviceId, 1_500);
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
  assert.match(text(item), /^new-/);
});

test('start positions: sequence number, offset (inclusive or not) and enqueued time', async () => {
  const { deviceId, client } = await device('n-eh-pos');
  const first = eh.subscribe({ startPosition: earliestEventPosition });
  for (let i = 0; i < 3; i++) {
    await send(client, `m${i}`);
    await sleep(50); // distinct enqueued times, to the millisecond
  }
  const got = await first.takeFrom(deviceId, 3);
  const { partitionId } = got[0];
  const m1 = got[1].event;
  assert.equal(text(got[1]), 'm1');

  const cases = [
    [{ sequenceNumber: m1.sequenceNumber, isInclusive: true }, 'm1'],
    [{ sequenceNumber: m1.sequenceNumber }, 'm2'],
    [{ offset: m1.offset, isInclusive: true }, 'm1'],
    [{ offset: m1.offset }, 'm2'],
    [{ enqueuedOn: m1.enqueuedTimeUtc }, 'm2'], // always exclusive in this SDK
    [{ enqueuedOn: got[0].event.enqueuedTimeUtc }, 'm1'],
  ];
  await first.close();
  for (const [startPosition, want] of cases) {
    const sub = eh.subscribe({ partitionId, startPosition });
    const item = await sub.nextFrom(deviceId, 20_000, `event from ${JSON.stringify(startPosition)}`);
    assert.equal(text(item), want, JSON.stringify(startPosition));
    assert.equal(item.partitionId, partitionId);
    await sub.close(); // Event Hubs allows five readers per partition and consumer group
  }
});

test('plain AMQP on 5672 with UseDevelopmentEmulator=true', async () => {
  const { deviceId, client } = await device('n-eh-plain');
  const consumer = eh.consumer(PLAIN_CS);
  const props = await withTimeout(consumer.getEventHubProperties(), 30_000, 'getEventHubProperties on 5672');
  assert.equal(props.name, EVENT_HUB_NAME);
  assert.deepEqual(props.partitionIds, PARTITION_IDS);
  const sub = eh.subscribe({ startPosition: earliestEventPosition }, { connectionString: PLAIN_CS });
  await send(client, 'over plain amqp', { properties: { k: 'v' } });
  const item = await sub.nextFrom(deviceId);
  assert.equal(text(item), 'over plain amqp');
  assert.deepEqual(item.event.properties, { k: 'v' });
});

test('the hub name is accepted as the entity', async () => {
  const consumer = eh.consumer(eventHubsConnectionString({ entity: HUB_NAME }));
  assert.deepEqual(await withTimeout(consumer.getPartitionIds(), 30_000, 'getPartitionIds'), PARTITION_IDS);
});

test('consumer groups read independently; an unknown one is refused', async () => {
  const { deviceId, client } = await device('n-eh-cg');
  const subs = [
    eh.subscribe({ startPosition: earliestEventPosition }),
    eh.subscribe({ startPosition: earliestEventPosition }, { consumerGroup: EXTRA_CONSUMER_GROUP }),
  ];
  await send(client, 'for every group');
  for (const sub of subs) assert.equal(text(await sub.nextFrom(deviceId)), 'for every group');

  const unknown = eh.subscribe({ startPosition: earliestEventPosition }, {
    consumerGroup: 'no-such-group', clientOptions: { retryOptions: { maxRetries: 0 } },
  });
  const { err } = await unknown.waitError(30_000);
  // Event Hubs detaches the receiver with amqp:not-found.
  assert.match(`${err.code} ${err.name} ${err.message}`, /not.?found/i);
});
