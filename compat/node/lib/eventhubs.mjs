// The hub's Event Hubs-compatible endpoint as @azure/event-hubs sees it:
// connection strings, and subscriptions whose events are taken with
// bounded waits. The runner set NODE_EXTRA_CA_CERTS, which the AMQPS
// connection (rhea over Node's tls) trusts like every other.
import { EventHubConsumerClient } from '@azure/event-hubs';
import { SERVICE_CONNECTION_STRING, withTimeout } from './hub.mjs';

// The hub name for a hub reached by address or `localhost`; the plain hub
// name is accepted as the entity too.
export const HUB_NAME = 'iothub-emulator';
export const EVENT_HUB_NAME = `iothub-ehub-${HUB_NAME}`;
export const PARTITION_IDS = ['0', '1', '2', '3'];
export const EXTRA_CONSUMER_GROUP = process.env.COMPAT_EXTRA_CONSUMER_GROUP || 'compat-extra';
export const OWNER_KEY = /SharedAccessKey=([^;]+)/.exec(SERVICE_CONNECTION_STRING)[1];

export function eventHubsConnectionString({
  host = 'localhost', entity = EVENT_HUB_NAME, developmentEmulator = false, keyName = 'iothubowner', key = OWNER_KEY,
} = {}) {
  const cs = `Endpoint=sb://${host}/;SharedAccessKeyName=${keyName};SharedAccessKey=${key};EntityPath=${entity}`;
  return developmentEmulator ? `${cs};UseDevelopmentEmulator=true` : cs;
}

export const TLS_CS = eventHubsConnectionString();
export const PLAIN_CS = eventHubsConnectionString({ developmentEmulator: true });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function deviceOf(event) {
  return event.systemProperties?.['iothub-connection-device-id'];
}

// One client.subscribe(...) whose events and errors are collected; nextFrom
// waits, bounded, for a device's next event and fails at once on an error
// (none is expected from an emulator on loopback unless a test asks).
export class Subscription {
  constructor(client, { partitionId, ...options } = {}) {
    this.client = client;
    this.closed = false;
    this.items = [];
    this.taken = 0;
    this.errors = [];
    this.initialized = [];
    const handlers = {
      processEvents: async (events, context) => {
        for (const event of events) this.items.push({ partitionId: context.partitionId, event });
      },
      processError: async (err, context) => { this.errors.push({ partitionId: context.partitionId, err }); },
      processInitialize: async (context) => { this.initialized.push(context.partitionId); },
    };
    const opts = { skipParsingBodyAsJson: true, maxWaitTimeInSeconds: 1, ...options };
    this.subscription = partitionId === undefined
      ? client.subscribe(handlers, opts)
      : client.subscribe(partitionId, handlers, opts);
  }

  failOnErrors() {
    if (this.errors.length) {
      const list = this.errors.map(({ partitionId, err }) => `partition ${partitionId}: ${err.name}: ${err.message}`);
      throw new Error(`the subscription reported errors: ${list.join('; ')}`);
    }
  }

  async nextFrom(deviceId, ms = 20_000, what = 'event') {
    const deadline = Date.now() + ms;
    for (;;) {
      this.failOnErrors();
      while (this.taken < this.items.length) {
        const item = this.items[this.taken++];
        if (deviceOf(item.event) === deviceId) return item;
      }
      if (Date.now() > deadline) throw new Error(`no ${what} from ${deviceId} within ${ms} ms`);
      await sleep(50);
    }
  }

  async takeFrom(deviceId, count, ms = 20_000) {
    const deadline = Date.now() + ms;
    const got = [];
    while (got.length < count) {
      got.push(await this.nextFrom(deviceId, Math.max(100, deadline - Date.now()), `event ${got.length + 1} of ${count}`));
    }
    return got;
  }

  async waitError(ms = 30_000) {
    const deadline = Date.now() + ms;
    while (!this.errors.length) {
      if (Date.now() > deadline) throw new Error(`the subscription reported no error within ${ms} ms`);
      await sleep(50);
    }
    return this.errors[0];
  }

  // Stops the subscription and closes its client (Event Hubs allows five
  // readers per partition and consumer group, so tests close as they go).
  async close() {
    if (this.closed) return;
    this.closed = true;
    await withTimeout(this.subscription.close(), 20_000, 'subscription.close');
    await withTimeout(this.client.close(), 20_000, 'EventHubConsumerClient.close');
  }
}

// Consumer clients and subscriptions of one test, closed by cleanup().
export class EventHubsScope {
  constructor() {
    this.clients = [];
    this.subscriptions = [];
  }

  consumer(connectionString = TLS_CS, consumerGroup = '$Default', options = {}) {
    const client = new EventHubConsumerClient(consumerGroup, connectionString, options);
    this.clients.push(client);
    return client;
  }

  subscribe(options = {}, { connectionString = TLS_CS, consumerGroup = '$Default', clientOptions } = {}) {
    const client = new EventHubConsumerClient(consumerGroup, connectionString, clientOptions || {});
    const subscription = new Subscription(client, options);
    this.subscriptions.push(subscription);
    return subscription;
  }

  async cleanup() {
    for (const s of this.subscriptions) await s.close().catch(() => {});
    for (const c of this.clients) await withTimeout(c.close(), 20_000, 'EventHubConsumerClient.close').catch(() => {});
  }
}
