// The Idempotency-Key records against a real store: the first response is written after it went
// out, and a retry in this process that overtakes that write still gets the replay.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, UuidV7Generator } from '@ledger/contracts';
import { gate } from '@ledger/contracts/testing';
import { SqliteEventStore, type EventStore } from '@ledger/event-store';
import { IdempotencyService, type KeyedRequest } from './idempotency.service';

describe('IdempotencyService', () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-idempotency-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL' });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The store, its group commits held while `held` is set. */
  function holdable(inner: EventStore): { store: EventStore; hold(): () => void } {
    let held: Promise<void> | undefined;
    return {
      store: {
        append: (...args) => inner.append(...args),
        appendMany: async (requests) => {
          await held;
          return inner.appendMany(requests);
        },
        readStream: (...args) => inner.readStream(...args),
        streamRevision: (streamId) => inner.streamRevision(streamId),
        readAll: (options) => inner.readAll(options),
        headPosition: () => inner.headPosition(),
        subscribe: (...args) => inner.subscribe(...args),
        close: () => inner.close(),
      },
      hold() {
        const opened = gate();
        held = opened.promise;
        return () => {
          held = undefined;
          opened.open();
        };
      },
    };
  }

  it('a retry that overtakes the write of the first response waits for it and replays it', async () => {
    const clock = new ManualClock();
    const held = holdable(store);
    const service = new IdempotencyService({ store: held.store, clock, ids: new UuidV7Generator(() => clock.nowMs()), windowMs: 86_400_000, leaseMs: 30_000, log: () => undefined });
    const request: KeyedRequest = { caller: 'user:u-1', key: 'k-1', method: 'POST', path: '/v1/transfers', body: { amount: '5' }, correlationId: 'c-1' };
    const first = await service.begin(request);
    if (first.kind !== 'proceed') throw new Error(`expected proceed, got ${first.kind}`);

    const release = held.hold();
    void service.complete(first.reservation, { status: 201, body: { id: 't-1' } }); // the answer goes out now; its record waits
    const retry = service.begin(request);
    release();
    expect(await retry).toEqual({ kind: 'replay', response: { status: 201, body: { id: 't-1' } } });
    await service.settled();
  });
});
