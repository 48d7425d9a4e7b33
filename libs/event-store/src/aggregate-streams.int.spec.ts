import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '@ledger/contracts';
import { AggregateStreams, type AggregateSnapshot, type AggregateSnapshots } from './aggregate-streams';
import { expectedState } from './event-store.port';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

type Counted = { type: 'test.Counted.v1'; data: { by: number } };

describe('AggregateStreams', () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aggregate-streams-'));
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function counters(cacheMax: number, snapshots?: AggregateSnapshots<number>): AggregateStreams<number, Counted> {
    return new AggregateStreams<number, Counted>(store, uuidv7, {
      ...(snapshots === undefined ? {} : { snapshots }),
      streamPrefix: 'counter-',
      initialState: () => 0,
      evolve: (total, event) => total + event.data.by,
      eventOf: (type, data) => ({ type: type as Counted['type'], data: data as Counted['data'] }),
      cacheMax,
      cacheable: () => true,
    });
  }

  it('folds a stream longer than one read of the store (a store configured to read fewer events than it asks for)', async () => {
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), readBatchMax: 4 });
    const writer = counters(0);
    const origin = { idempotencyKey: 'key', actor: 'test' };
    let loaded = await writer.load('a');
    for (let index = 0; index < 10; index++) loaded = await writer.append('a', loaded, [{ type: 'test.Counted.v1', data: { by: 1 } }], origin, 0);
    const fresh = counters(0);
    expect(await fresh.load('a')).toEqual({ state: 10, revision: 9n, position: 10n });
  });

  it('answers the position of the stream\'s last event, also for a state started from a snapshot with nothing after it', async () => {
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite') });
    const saved = new Map<string, AggregateSnapshot<number>>();
    const snapshots: AggregateSnapshots<number> = { load: async (streamId) => saved.get(streamId), save: async (streamId, snapshot) => void saved.set(streamId, snapshot), everyEvents: 4 };
    const writer = counters(0, snapshots);
    const origin = { idempotencyKey: 'key', actor: 'test' };
    let loaded = await writer.load('b');
    await store.append('other', [writer.newEvent({ type: 'test.Counted.v1', data: { by: 1 } }, origin, 0)], expectedState.any);
    for (let index = 0; index < 8; index++) loaded = await writer.append('b', loaded, [{ type: 'test.Counted.v1', data: { by: 1 } }], origin, 0);
    expect(saved.get('counter-b')?.revision).toBe(7n);
    expect(await counters(0, snapshots).load('b')).toEqual({ state: 8, revision: 7n, position: 9n });
  });
});
