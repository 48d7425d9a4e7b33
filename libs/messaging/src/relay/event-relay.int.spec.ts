import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7, type Json, type NewEvent, type RecordedEvent } from '@ledger/contracts';
import { gate, waitFor } from '@ledger/contracts/testing';
import { expectedState, SqliteEventStore, type EventStore } from '@ledger/event-store';
import { InProcessBus, type BusLogger } from '../in-process/in-process-bus';
import { BusClosedError, QueueFullError, type BusConsumer, type DeliveredMessage, type MessageBus, type OutgoingMessage } from '../message-bus.port';
import { SqliteCheckpointStore, InMemoryCheckpointStore, type CheckpointStore } from './checkpoint-store';
import { EventRelay, RelayFailedError, type EventRelayOptions } from './event-relay';
import { ProcessedEvents } from './idempotent-consumer';
import { decodeIntegrationEvent, INTEGRATION_EVENT_HEADERS, toIntegrationEvent, type IntegrationEvent } from './integration-event';

const TOPIC = 'ledger.events';
const SHARDS = 4;

function newEvent(data: { [key: string]: Json }, type = 'ledger.EntryPosted.v1'): NewEvent {
  const eventId = uuidv7.next();
  return {
    eventId,
    type,
    schemaVersion: 1,
    data,
    metadata: { correlationId: eventId, causationId: eventId, actor: 'test', occurredAt: '2026-01-01T00:00:00.000Z' },
  };
}

const shardOf = (event: RecordedEvent): number => Number(event.streamId.slice('ledger-'.length));

/** Wraps a bus: records what it accepted, and can refuse publishes on demand. */
class RecordingBus implements MessageBus {
  readonly published: OutgoingMessage[][] = [];
  readonly rejections: unknown[] = [];
  /** Thrown by publish while set (a broker outage). */
  outage: Error | undefined;
  /** Thrown one per publish, first to last, before `outage` is looked at. */
  readonly planned: Error[] = [];

  constructor(private readonly inner: MessageBus) {}

  publishedIds(): string[] {
    return this.published.flat().map((message) => message.headers![INTEGRATION_EVENT_HEADERS.eventId]);
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    try {
      const next = this.planned.shift();
      if (next !== undefined) throw next;
      if (this.outage !== undefined) throw this.outage;
      await this.inner.publish(topic, messages);
    } catch (error) {
      this.rejections.push(error);
      throw error;
    }
    if (topic === TOPIC) this.published.push([...messages]);
  }

  createTopic(topic: string, partitions: number): Promise<void> {
    return this.inner.createTopic(topic, partitions);
  }
  partitionCount(topic: string): Promise<number> {
    return this.inner.partitionCount(topic);
  }
  subscribe: MessageBus['subscribe'] = (options) => this.inner.subscribe(options);
  consumed: MessageBus['consumed'] = (topic, signal) => this.inner.consumed(topic, signal);
  isOpen(): boolean {
    return this.inner.isOpen();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The store, calling `onEvent` for every event its subscriptions hand over. */
function watchSubscriptions(store: EventStore, onEvent: () => void): EventStore {
  return {
    append: (...args) => store.append(...args),
    appendMany: (...args) => store.appendMany(...args),
    readStream: (...args) => store.readStream(...args),
    streamRevision: (...args) => store.streamRevision(...args),
    readAll: (...args) => store.readAll(...args),
    headPosition: () => store.headPosition(),
    subscribe: (handler, options) =>
      store.subscribe((event) => {
        onEvent();
        return handler(event);
      }, options),
    close: () => store.close(),
  };
}

interface Consumed {
  readonly consumer: BusConsumer;
  readonly received: DeliveredMessage[];
  events(): IntegrationEvent[];
}

describe('EventRelay', () => {
  let dir: string;
  let store: SqliteEventStore;
  let inProcess: InProcessBus;
  let bus: RecordingBus;
  let relays: EventRelay[];
  let databases: Database.Database[];
  let gates: ReturnType<typeof gate>[];
  const logs: string[] = [];
  const logger: BusLogger = { warn: (message) => logs.push(message), error: (message) => logs.push(message) };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-relay-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL', pollIntervalMs: 10 });
    useBus(new InProcessBus({ logger }));
    relays = [];
    databases = [];
    gates = [];
    logs.length = 0;
  });

  afterEach(async () => {
    for (const opened of gates) opened.open();
    await Promise.all(relays.map((relay) => relay.stop()));
    await inProcess.close();
    await store.close();
    for (const db of databases) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function useBus(created: InProcessBus): void {
    inProcess = created;
    bus = new RecordingBus(created);
  }

  function held(): ReturnType<typeof gate> {
    const created = gate();
    gates.push(created);
    return created;
  }

  function openDb(name: string): Database.Database {
    const db = new Database(join(dir, name));
    databases.push(db);
    return db;
  }

  async function startRelay(options: Partial<EventRelayOptions> = {}): Promise<EventRelay> {
    const relay = await EventRelay.start({
      store,
      bus,
      checkpoints: new InMemoryCheckpointStore(),
      topic: TOPIC,
      topicPartitions: SHARDS,
      streamPrefixes: ['ledger-'],
      keyOf: (event) => String(shardOf(event)),
      partitionOf: shardOf,
      logger,
      ...options,
    });
    relays.push(relay);
    return relay;
  }

  async function consume(groupId: string, handle: (message: DeliveredMessage) => Promise<void> | void = () => undefined): Promise<Consumed> {
    const received: DeliveredMessage[] = [];
    const consumer = await bus.subscribe({
      topics: [TOPIC],
      groupId,
      handler: async (message) => {
        received.push(message);
        await handle(message);
      },
    });
    return { consumer, received, events: () => received.map((message) => decodeIntegrationEvent(message.value)) };
  }

  /** Appends `count` events to shard streams in a fixed interleaving, in appends of 1 to 3 events. */
  async function appendToShards(count: number): Promise<void> {
    for (let n = 0; n < count; ) {
      const shard = (n * 7 + 3) % SHARDS;
      const size = Math.min(1 + (n % 3), count - n);
      await store.append(`ledger-${shard}`, Array.from({ length: size }, (_, i) => newEvent({ n: n + i, amount: '1050' })), expectedState.any);
      n += size;
    }
  }

  async function allEvents(): Promise<RecordedEvent[]> {
    return store.readAll({ maxCount: 1_000 });
  }

  /** Per shard: the event ids the consumer received must be that stream's events, in stream order, each once. */
  async function expectStoreOrderPerKey(events: readonly IntegrationEvent[], received: readonly DeliveredMessage[]): Promise<void> {
    for (let shard = 0; shard < SHARDS; shard++) {
      const stream = await store.readStream(`ledger-${shard}`, { maxCount: 1_000 });
      const ofKey = received.filter((message) => message.key === String(shard));
      expect(new Set(ofKey.map((message) => message.partition))).toEqual(stream.length === 0 ? new Set() : new Set([shard]));
      expect(events.filter((event) => event.streamId === `ledger-${shard}`).map((event) => event.eventId)).toEqual(
        stream.map((event) => event.eventId),
      );
      expect(ofKey.map((message) => decodeIntegrationEvent(message.value).eventId)).toEqual(stream.map((event) => event.eventId));
    }
  }

  it('publishes every appended event, history then live, in store order per key, in bounded batches', async () => {
    const { received, events } = await consume('ledger-view');
    await appendToShards(60);
    const firstSave = held();
    let saves = 0;
    const checkpoints: CheckpointStore = {
      load: async () => 0n,
      save: async () => {
        if (++saves === 1) await firstSave.promise;
      },
    };
    let handedOver = 0;
    const relay = await startRelay({ store: watchSubscriptions(store, () => handedOver++), checkpoints, batchMax: 16 });
    // While the first checkpoint save is held, the relay reads ahead; the next publishes are full batches.
    await waitFor('the first save, and all 60 events read', () => saves === 1 && handedOver === 60);
    firstSave.open();
    await appendToShards(40);

    await relay.waitForPosition(await store.headPosition());
    await waitFor('100 messages', () => received.length === 100);
    await expectStoreOrderPerKey(events(), received);
    expect(events().map((event) => event.eventId).sort()).toEqual((await allEvents()).map((event) => event.eventId).sort());
    const sizes = bus.published.map((batch) => batch.length);
    expect(Math.max(...sizes)).toBe(16);
    expect(sizes.length).toBeLessThan(100 / 2);
    expect(relay.position()).toBe(100n);
  });

  it('waitForPosition answers when the checkpoint moves, not at its deadline (it waits on the relay, it does not poll)', async () => {
    await appendToShards(10);
    const save = held();
    let saves = 0;
    const checkpoints: CheckpointStore = {
      load: async () => 0n,
      save: async () => {
        saves++;
        await save.promise;
      },
    };
    const relay = await startRelay({ checkpoints });
    await waitFor('the first checkpoint save to start', () => saves === 1);
    let reached = false;
    // A deadline far beyond the test's own: only the relay's progress can end this wait in time.
    void relay.waitForPosition(await store.headPosition(), 600_000).then(() => (reached = true));
    expect(reached).toBe(false);
    save.open();
    await waitFor('waitForPosition to answer once the checkpoint is saved', () => reached);
    expect(relay.position()).toBe(10n);
  });

  it('publishes JSON with revision and position as strings, and eventId and type headers', async () => {
    const { received } = await consume('json-check');
    await store.append('ledger-2', [newEvent({ amount: '1050', walletId: 'w-1' }), newEvent({ amount: '7' }, 'ledger.HoldPlaced.v1')], expectedState.noStream);
    const relay = await startRelay({ partitionOf: undefined, keyOf: (event) => event.streamId });
    await relay.waitForPosition(2n);
    await waitFor('2 messages', () => received.length === 2);

    const stored = await allEvents();
    for (const [index, message] of received.entries()) {
      const raw = JSON.parse(message.value.toString('utf8')) as Record<string, unknown>;
      expect(typeof raw.revision).toBe('string');
      expect(typeof raw.position).toBe('string');
      expect(raw).toEqual({
        eventId: stored[index].eventId,
        type: stored[index].type,
        schemaVersion: 1,
        streamId: 'ledger-2',
        revision: String(index),
        position: String(index + 1),
        recordedAt: stored[index].recordedAt,
        data: stored[index].data,
        metadata: stored[index].metadata,
      });
      expect(decodeIntegrationEvent(message.value)).toEqual(toIntegrationEvent(stored[index]));
      expect(message.key).toBe('ledger-2');
      expect(message.headers).toEqual({ eventId: stored[index].eventId, type: stored[index].type });
    }
    expect(() => decodeIntegrationEvent(Buffer.from(JSON.stringify({ ...toIntegrationEvent(stored[0]), position: 1 })))).toThrow(/position/);
  });

  it('relays only the streams of its prefixes and what filter keeps, shaped by map; the checkpoint passes the rest', async () => {
    await store.append('ledger-0', [newEvent({ secret: 'x', amount: '1' })], expectedState.any);
    await store.append('identity-u1', [newEvent({ email: 'a@b.c' }, 'identity.UserRegistered.v1')], expectedState.any);
    await store.append('ledger-1', [newEvent({ secret: 'y', amount: '2' })], expectedState.any);
    await store.append('ledger-meta', [newEvent({ shards: 4 }, 'ledger.ShardsConfigured.v1')], expectedState.any);
    await store.append('cards-c1', [newEvent({ pan: 'tokenized' }, 'cards.CardIssued.v1')], expectedState.any);
    const relay = await startRelay({
      filter: (event) => event.streamId !== 'ledger-meta',
      partitionOf: undefined,
      keyOf: (event) => event.streamId,
      map: (event) => ({ ...toIntegrationEvent(event), data: { amount: (event.data as { amount: string }).amount } }),
    });

    // The head is a cards event this relay never sees: waiting for it must still end.
    await relay.waitForPosition(await store.headPosition());
    const published = bus.published.flat().map((message) => decodeIntegrationEvent(message.value));
    expect(published.map((event) => [event.streamId, event.data])).toEqual([
      ['ledger-0', { amount: '1' }],
      ['ledger-1', { amount: '2' }],
    ]);
    // ledger-meta (position 4) was filtered out, and the checkpoint still moved past it.
    expect(relay.position()).toBe(4n);
  });

  it('resumes from its checkpoint after a restart: events appended while stopped arrive, none twice', async () => {
    const { received, events } = await consume('resume');
    await appendToShards(20);
    const first = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    await first.waitForPosition(20n);
    await first.stop();
    await expect(first.closed).resolves.toBeUndefined();
    expect(first.position()).toBe(20n);
    databases[0].close();

    await appendToShards(15);
    const publishedBefore = bus.published.length;
    const second = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    await second.waitForPosition(35n);
    await waitFor('35 messages', () => received.length === 35);

    const positions = events().map((event) => Number(event.position));
    expect(new Set(positions).size).toBe(35);
    expect(
      bus.published
        .slice(publishedBefore)
        .flat()
        .map((message) => Number(decodeIntegrationEvent(message.value).position)),
    ).toEqual(Array.from({ length: 15 }, (_, i) => 21 + i));
    await expectStoreOrderPerKey(events(), received);
  });

  it('on a bus that forgets (the in-process one) checkpoints only what every consumer group committed: a restart publishes again what a stopped consumer never handled', async () => {
    const handled = new Set<string>();
    const first = await consume('card-issuer', (message) => void handled.add(message.headers.eventId));
    await appendToShards(6);
    const relay = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    await waitFor('the first events handled', () => handled.size === 6);
    // Shutdown in the host's order: the consumer first, its producer's relay after, then the bus with what it held.
    await first.consumer.stop();
    await appendToShards(4);
    await waitFor('more events published', () => bus.publishedIds().length > 6);
    await relay.stop();
    expect(relay.position()).toBeLessThanOrEqual(6n);
    await inProcess.close();
    databases[0].close();

    useBus(new InProcessBus({ logger }));
    await consume('card-issuer', (message) => void handled.add(message.headers.eventId));
    const restarted = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    await restarted.waitForPosition(10n);
    await waitFor('every event handled', () => handled.size === 10);
    expect([...handled].sort()).toEqual((await allEvents()).map((event) => event.eventId).sort());
  });

  it('holds its checkpoint for a consumer group the bus knew before its consumer subscribed (the host starts this relay first)', async () => {
    const consumerGroups = { [TOPIC]: ['card-issuer'] };
    useBus(new InProcessBus({ logger, consumerGroups }));
    await appendToShards(5);
    const relay = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    await waitFor('events published', () => bus.publishedIds().length > 0);
    // The process ends before the consumer subscribed.
    await relay.stop();
    expect(relay.position()).toBe(0n);
    await inProcess.close();
    databases[0].close();

    useBus(new InProcessBus({ logger, consumerGroups }));
    const restarted = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    const { events } = await consume('card-issuer');
    await restarted.waitForPosition(5n);
    await waitFor('every event', () => events().length === 5);
    expect(events().map((event) => event.eventId).sort()).toEqual((await allEvents()).map((event) => event.eventId).sort());
  });

  it('redelivers what it published but did not checkpoint before a crash; the idempotent consumer handles each event once', async () => {
    const handled: string[] = [];
    let processed = new ProcessedEvents({ consumer: 'ledger-view', db: openDb('consumer.sqlite') });
    const handler = async (message: DeliveredMessage): Promise<void> => {
      await processed.handleOnce(message.headers.eventId, () => void handled.push(message.headers.eventId));
    };
    let consumed = await consume('ledger-view', handler);

    await appendToShards(5);
    const durable = new SqliteCheckpointStore(openDb('relay.sqlite'));
    const crashing: CheckpointStore = {
      load: (name) => durable.load(name),
      save: async (name, position) => {
        if (position > 5n) throw new Error('process killed before the checkpoint was written');
        await durable.save(name, position);
      },
    };
    const doomed = await startRelay({ checkpoints: crashing, stallAfterFailures: 1 });
    await doomed.waitForPosition(5n);

    await appendToShards(5);
    await waitFor('the relay stalled on the save', () => doomed.stalled());
    await doomed.stop(); // the process dies
    expect(doomed.position()).toBe(5n);
    expect(await durable.load(TOPIC)).toBe(5n);
    const publishedBeforeCrash = bus.publishedIds();
    const sentUncheckpointed = publishedBeforeCrash.length - 5;
    expect(sentUncheckpointed).toBeGreaterThan(0);
    await waitFor('the consumer to handle what was published', () => handled.length === publishedBeforeCrash.length);

    // The consumer restarts too: its memory is gone, its table is not.
    await consumed.consumer.stop();
    databases.find((db) => db.name.endsWith('consumer.sqlite'))!.close();
    processed = new ProcessedEvents({ consumer: 'ledger-view', db: openDb('consumer.sqlite') });
    consumed = await consume('ledger-view', handler);

    const restarted = await startRelay({ checkpoints: new SqliteCheckpointStore(openDb('relay.sqlite')) });
    await restarted.waitForPosition(10n);
    const stored = (await allEvents()).map((event) => event.eventId);
    // At least once: everything after the durable checkpoint went out again.
    expect(bus.publishedIds().slice(publishedBeforeCrash.length)).toEqual(stored.slice(5));
    await waitFor('the redelivered and the new events', () => consumed.received.length === 5);
    await waitFor('every event handled', () => handled.length === 10);
    expect(handled.sort()).toEqual([...stored].sort());
    expect(consumed.received.filter((message) => publishedBeforeCrash.includes(message.headers.eventId))).toHaveLength(sentUncheckpointed);
  });

  it('moves its checkpoint past an event only once each live consumer of the in-process bus handled it: a crash loses what that bus holds', async () => {
    const slow = held();
    const { received } = await consume('card-issuer.ledger-events', async () => {
      await slow.promise;
    });
    await appendToShards(3);
    const relay = await startRelay();
    await waitFor('the relay to publish the three', () => bus.publishedIds().length === 3 && received.length > 0);
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    // Killed now, the relay would start again from here: the messages the consumer holds are in memory only.
    expect(relay.position()).toBe(0n);
    slow.open();
    await relay.waitForPosition(3n);
    expect(bus.publishedIds()).toHaveLength(3);
  });

  it('waits out a full queue and a slow consumer: delayed, never dropped, never reordered, checkpoint behind', async () => {
    useBus(new InProcessBus({ logger, maxQueueDepth: 3 }));
    const slow = held();
    const { received, events } = await consume('slow', async (message) => {
      if (message.offset === '0') await slow.promise;
      await new Promise((resolve) => setImmediate(resolve));
    });
    await store.append('ledger-1', Array.from({ length: 40 }, (_, n) => newEvent({ n })), expectedState.noStream);
    const relay = await startRelay({ batchMax: 50, retryBackoffMs: 1, retryBackoffMaxMs: 5 });

    // The first batch (all 40) is refused whole; a halved one that fits is queued behind the held message, and the relay waits for it to be handled.
    await waitFor('the bus to push back with the first message held', () => bus.rejections.some((error) => error instanceof QueueFullError) && received.length === 1);
    await waitFor('a batch that fits the queue published', () => bus.published.length > 0);
    expect(received).toHaveLength(1);
    // Nothing is checkpointed past the held message: the in-process bus would forget the rest with its process.
    expect(relay.position()).toBe(0n);
    slow.open();

    await relay.waitForPosition(40n);
    await waitFor('40 messages', () => received.length === 40);
    expect(events().map((event) => event.revision)).toEqual(Array.from({ length: 40 }, (_, n) => String(n)));
    expect(bus.rejections.every((error) => error instanceof QueueFullError)).toBe(true);
    expect(bus.publishedIds()).toHaveLength(40);
  });

  it('retries a failing publish without skipping an event or moving the checkpoint', async () => {
    const { received, events } = await consume('outage');
    bus.outage = new Error('broker unavailable');
    await appendToShards(10);
    const relay = await startRelay({ retryBackoffMs: 1, retryBackoffMaxMs: 5 });

    await waitFor('3 failed publishes', () => bus.rejections.length >= 3);
    expect(relay.position()).toBe(0n);
    bus.outage = undefined;

    await relay.waitForPosition(10n);
    await waitFor('10 messages', () => received.length === 10);
    expect(events().map((event) => Number(event.position)).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    await expectStoreOrderPerKey(events(), received);
  });

  it('never gives up on a failing publish: past stallAfterFailures it reports itself stalled, logs it once, retries at the capped backoff, and recovers in order', async () => {
    const { received, events } = await consume('long-outage');
    bus.outage = new Error('broker unavailable');
    await appendToShards(6);
    const relay = await startRelay({ retryBackoffMs: 1, retryBackoffMaxMs: 5, stallAfterFailures: 3 });
    // Past the old give-up point too (60 failures in a row).
    await waitFor('well past stallAfterFailures', () => bus.rejections.length >= 70);
    expect(relay.stalled()).toBe(true);
    expect(relay.position()).toBe(0n);
    expect(logs.filter((line) => line.includes('stalled at position 0: publish to ledger.events failed 3 times in a row'))).toHaveLength(1);
    // Still running: a relay that had given up would publish nothing more until a restart.
    bus.outage = undefined;
    await relay.waitForPosition(6n);
    expect(relay.stalled()).toBe(false);
    expect(logs.some((line) => line.includes('recovered after'))).toBe(true);
    await waitFor('6 messages', () => received.length === 6);
    await expectStoreOrderPerKey(events(), received);
  });

  it('counts only real failures toward stallAfterFailures: a long full queue followed by one failed publish is no stall', async () => {
    bus.planned.push(...Array.from({ length: 5 }, () => new QueueFullError(TOPIC, 0, 1)), new Error('broker blip'));
    await store.append('ledger-0', [newEvent({ n: 0 })], expectedState.noStream);
    const relay = await startRelay({ retryBackoffMs: 1, retryBackoffMaxMs: 2, stallAfterFailures: 2 });
    await relay.waitForPosition(1n);
    expect(bus.rejections).toHaveLength(6);
    expect(bus.publishedIds()).toHaveLength(1);
    expect(logs.some((line) => line.includes('stalled'))).toBe(false);
  });

  it('stops for good on a closed bus: it never reopens', async () => {
    bus.outage = new BusClosedError('publish');
    await appendToShards(1);
    const relay = await startRelay({ retryBackoffMs: 1, retryBackoffMaxMs: 2 });
    await expect(relay.closed).rejects.toThrow(/stopped at position 0: .*message bus is closed/);
    await expect(relay.waitForPosition(1n)).rejects.toBeInstanceOf(RelayFailedError);
  });

  it('waits out a checkpoint store that is full or locked, without calling it a stall, and goes on once it can save', async () => {
    await appendToShards(3);
    const durable = new SqliteCheckpointStore(openDb('relay.sqlite'));
    let diskFull = true;
    let refusals = 0;
    const filling: CheckpointStore = {
      load: (name) => durable.load(name),
      save: async (name, position) => {
        if (diskFull) {
          refusals++;
          throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        }
        await durable.save(name, position);
      },
    };
    const relay = await startRelay({ checkpoints: filling, retryBackoffMs: 1, retryBackoffMaxMs: 2, stallAfterFailures: 3 });
    await waitFor('more refused saves than stallAfterFailures', () => refusals > 6);
    expect(relay.stalled()).toBe(false);
    diskFull = false; // space freed
    await relay.waitForPosition(3n);
    expect(await durable.load(TOPIC)).toBe(3n);
    await relay.stop();
    await expect(relay.closed).resolves.toBeUndefined();
  });

  it('counts only real checkpoint save failures toward stallAfterFailures: a long full disk followed by one failed save is no stall', async () => {
    await appendToShards(3);
    const refusals = [...Array.from({ length: 5 }, () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })), new Error('disk I/O hiccup')];
    const saved = new InMemoryCheckpointStore();
    const flaky: CheckpointStore = {
      load: (name) => saved.load(name),
      save: async (name, position) => {
        const refusal = refusals.shift();
        if (refusal !== undefined) throw refusal;
        await saved.save(name, position);
      },
    };
    const relay = await startRelay({ checkpoints: flaky, retryBackoffMs: 1, retryBackoffMaxMs: 2, stallAfterFailures: 2 });
    await relay.waitForPosition(3n);
    expect(refusals).toHaveLength(0);
    expect(logs.some((line) => line.includes('stalled'))).toBe(false);
    expect(await saved.load(TOPIC)).toBe(3n);
  });

  it('stops at an event it cannot publish, after publishing everything before it', async () => {
    await store.append('ledger-0', [newEvent({ n: 0 }), newEvent({ n: 1 }), newEvent({ n: 2 }), newEvent({ n: 3 })], expectedState.noStream);
    const relay = await startRelay({
      map: (event) => {
        if (event.revision === 2n) throw new Error('no public shape for this event');
        return toIntegrationEvent(event);
      },
    });
    await expect(relay.closed).rejects.toThrow(/stopped at position 2: event \S+ at position 3 cannot be published.*no public shape/);
    expect(relay.position()).toBe(2n);
    expect(bus.publishedIds()).toHaveLength(2);
  });

  it('stop() is prompt even in a long backoff, and nothing is published after it', async () => {
    bus.outage = new Error('broker unavailable');
    await appendToShards(3);
    const relay = await startRelay({ retryBackoffMs: 60_000, retryBackoffMaxMs: 60_000 });
    await waitFor('a failed publish', () => bus.rejections.length === 1);

    const startedMs = Date.now();
    await relay.stop();
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    await expect(relay.closed).resolves.toBeUndefined();
    bus.outage = undefined;
    await expect(relay.waitForPosition(3n)).rejects.toThrow(/stopped at position 0/);
    expect(bus.rejections).toHaveLength(1);
    expect(bus.published).toHaveLength(0);
  });

  it('refuses to start from a checkpoint beyond the store (a store restored without its checkpoints)', async () => {
    await appendToShards(2);
    const checkpoints = new InMemoryCheckpointStore();
    await checkpoints.save(TOPIC, 3n);
    await expect(startRelay({ checkpoints })).rejects.toThrow(/checkpoint 3 is beyond the store's head 2/);
  });

  it('stops by itself when its store closes', async () => {
    const relay = await startRelay();
    await store.close();
    await expect(relay.closed).resolves.toBeUndefined();
    expect(logs.some((line) => line.includes('subscription ended'))).toBe(true);
  });
});
