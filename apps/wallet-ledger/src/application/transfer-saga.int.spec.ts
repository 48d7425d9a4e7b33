// The transfer saga on its own, over a real store: which out legs it relays, and which it asks
// about first (those older than the shards remember their keys).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { uuidv7, type LedgerCommandEnvelope } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { expectedState, SqliteEventStore, type EventStore } from '@ledger/event-store';
import { InMemoryCheckpointStore, type CheckpointStore } from '@ledger/messaging';
import { tempDataDir } from '../testing/wallet-ledger.harness';
import { STALE_OUT_LEG_MS, TransferSaga, type TransferLegs } from './transfer-saga';

const T0 = Date.UTC(2026, 0, 1);

function outLeg(transferId: string, atMs: number) {
  const eventId = uuidv7.next();
  return {
    eventId,
    type: 'ledger.EntryPosted.v1',
    schemaVersion: 1,
    data: {
      idempotencyKey: `transfer-${transferId}`,
      fingerprint: '0000000000000000',
      atMs,
      entryId: transferId,
      kind: 'transfer',
      postings: [
        { accountId: `from-${transferId}`, side: 'debit', amount: '100', currency: 'USD' },
        { accountId: 'sys:transit-to-1:USD:0', side: 'credit', amount: '100', currency: 'USD' },
      ],
      references: { transferId, fromWalletId: `from-${transferId}`, toWalletId: `to-${transferId}`, leg: 'out', destinationShard: '1' },
    },
    metadata: { correlationId: eventId, causationId: eventId, actor: 'test', occurredAt: new Date(atMs).toISOString() },
  };
}

describe('transfer saga', () => {
  const dataDir = tempDataDir();
  const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite') });

  afterAll(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('relays fresh out legs without asking; of stale ones, relays only those whose in leg or reversal is not posted', async () => {
    const nowMs = T0 + 2 * STALE_OUT_LEG_MS;
    await store.append(
      'ledger-0',
      [outLeg('stale-settled', T0), outLeg('stale-open', T0), outLeg('fresh', nowMs - 1_000)],
      expectedState.noStream,
    );
    const sent: string[] = [];
    const asked: string[] = [];
    const saga = new TransferSaga({
      store,
      checkpoint: new InMemoryCheckpointStore(),
      send: async (message: LedgerCommandEnvelope) => {
        if (message.type === 'TransferIn') sent.push(message.transferId);
        return { ok: true, value: {} };
      },
      ownsShard: () => true,
      nowMs: () => nowMs,
      isSettled: async (transfer: TransferLegs) => {
        asked.push(transfer.transferId);
        return transfer.transferId === 'stale-settled';
      },
    });
    await saga.start();
    try {
      const head = await store.headPosition();
      await waitFor('the saga to pass every out leg', () => saga.position() >= head);
    } finally {
      await saga.stop();
    }
    expect(asked.sort()).toEqual(['stale-open', 'stale-settled']);
    expect(sent.sort()).toEqual(['fresh', 'stale-open']);
  });

  /** Runs a saga of `shard` (in legs accepted, no leg stale) until the out leg `transferId` is relayed; returns what it relayed. */
  async function relayedUntil(transferId: string, shard: number, deps: { store?: EventStore; checkpoint?: CheckpointStore }): Promise<string[]> {
    const sent: string[] = [];
    const saga = new TransferSaga({
      store: deps.store ?? store,
      checkpoint: deps.checkpoint ?? new InMemoryCheckpointStore(),
      send: async (message: LedgerCommandEnvelope) => {
        if (message.type === 'TransferIn') sent.push(message.transferId);
        return { ok: true, value: {} };
      },
      ownsShard: (owned) => owned === shard,
      nowMs: () => T0,
      isSettled: async () => false,
    });
    await saga.start();
    try {
      await waitFor(`the out leg ${transferId} relayed`, () => sent.includes(transferId));
    } finally {
      await saga.stop();
    }
    return sent;
  }

  it('keeps relaying when saving its checkpoint fails for a while (the store briefly gone)', async () => {
    const stream = 'ledger-2';
    // Enough events after the last checkpoint for the saga to save one, then an out leg.
    const filler = Array.from({ length: 300 }, () => {
      const eventId = uuidv7.next();
      return { eventId, type: 'ledger.AccountFrozen.v1', schemaVersion: 1, data: { accountId: 'w' }, metadata: { correlationId: eventId, causationId: eventId, actor: 'test', occurredAt: new Date(T0).toISOString() } };
    });
    await store.append(stream, [...filler, outLeg('after-failed-save', T0)], expectedState.noStream);
    const checkpoint = new InMemoryCheckpointStore();
    let saves = 0;
    const failingOnce = {
      load: (name: string) => checkpoint.load(name),
      save: async (name: string, position: bigint) => {
        if (saves++ === 0) throw new Error('disk I/O error');
        await checkpoint.save(name, position);
      },
    };
    // A handler that threw stopped the subscription: no out leg was relayed again until the process restarted.
    await relayedUntil('after-failed-save', 2, { checkpoint: failingOnce });
    expect(saves).toBeGreaterThan(1);
  });

  it('follows the store again after its subscription failed (a read error), from where it had settled', async () => {
    await store.append('ledger-3', [outLeg('after-failed-read', T0)], expectedState.noStream);
    let subscriptions = 0;
    // The store as is, but its first subscription fails at once, as a read error stops one.
    const flaky = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name) as unknown;
        if (name !== 'subscribe' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return (...args: Parameters<SqliteEventStore['subscribe']>) => {
          if (subscriptions++ > 0) return store.subscribe(...args);
          const closed = Promise.reject(new Error('disk I/O error'));
          return { closed, lastPosition: () => 0n, stop: () => closed.catch(() => undefined) };
        };
      },
    });
    // It only logged the failure: no cross-shard transfer was settled again until the process restarted.
    const sent = await relayedUntil('after-failed-read', 3, { store: flaky });
    expect(sent).toEqual(['after-failed-read']);
  });
});
