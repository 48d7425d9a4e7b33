// A writer's batch is one append, and the store refuses an append of more than APPEND_EVENTS_MAX
// events. Commands may open system accounts on demand (a saga leg its transit account, an internal
// entry one per posting), so a batch of commands can carry more events than commands: the writer must cut it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CURRENCIES, ManualClock, UuidV7Generator, type LedgerCommandEnvelope } from '@ledger/contracts';
import { APPEND_EVENTS_MAX, SqliteEventStore } from '@ledger/event-store';
import { InMemorySnapshotStore } from './snapshot-store';
import { ShardWriter } from './shard-writer';

describe('shard writer batches and the store append limit', () => {
  let dir: string;
  let store: SqliteEventStore;
  let writer: ShardWriter | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'writer-batch-limit-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL' });
  });

  afterEach(async () => {
    await writer?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a batch whose commands open more system accounts than one append may carry', async () => {
    const shards = 4_096;
    const clock = new ManualClock();
    // Beyond BATCH_MAX's bound: the writer's own cut is what keeps the append within the store's limit.
    const commands = Math.ceil(APPEND_EVENTS_MAX / 2) + 500;
    writer = new ShardWriter({
      store,
      snapshots: new InMemorySnapshotStore(),
      clock,
      ids: new UuidV7Generator(() => clock.nowMs()),
      shard: 0,
      shards,
      limits: { batchMax: commands, batchWaitMs: 0, queueMax: commands, snapshotEvery: 0, defaultHoldTimeoutMs: 60_000, holdSweepIntervalMs: 3_600_000 },
    });
    await writer.start();
    // Each in leg names another source shard or currency, so it opens a transit account nothing opened yet, then is refused
    // (no such wallet) and the refusal recorded: two events a command.
    const legs: LedgerCommandEnvelope[] = Array.from({ length: commands }, (_, n) => ({
      type: 'TransferIn',
      transferId: `t-${n}`,
      fromWalletId: 'somewhere',
      toWalletId: 'nobody',
      amount: '1',
      currency: CURRENCIES[Math.floor(n / (shards - 1))],
      sourceShard: 1 + (n % (shards - 1)),
      meta: { idempotencyKey: `transfer-in:t-${n}`, actor: 'test' },
    }));
    expect(commands * 2).toBeGreaterThan(APPEND_EVENTS_MAX); // one batch of them would not fit in one append
    const replies = await Promise.all(legs.map((leg) => writer!.submit(leg)));
    expect(replies.filter((reply) => !(!reply.ok && reply.error.code === 'not_found'))).toEqual([]);
    expect(writer.currentState.accounts.size).toBe(commands);
    expect(await store.streamRevision('ledger-0')).toBe(BigInt(2 * commands - 1));
  });
});
