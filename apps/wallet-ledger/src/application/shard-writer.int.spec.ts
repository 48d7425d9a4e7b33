// One shard writer on its own, against a real store: what its lifecycle promises.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, UuidV7Generator, type LedgerCommandEnvelope, type Reply } from '@ledger/contracts';
import { SqliteEventStore } from '@ledger/event-store';
import { waitFor } from '@ledger/contracts/testing';
import { InMemorySnapshotStore } from './snapshot-store';
import { ShardWriter, type ShardWriterLimits } from './shard-writer';

const LIMITS: ShardWriterLimits = {
  batchMax: 512,
  batchWaitMs: 0,
  queueMax: 1_000,
  snapshotEvery: 0,
  defaultHoldTimeoutMs: 60_000,
  holdSweepIntervalMs: 3_600_000,
};

describe('shard writer', () => {
  let dir: string;
  let store: SqliteEventStore;
  const clock = new ManualClock();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shard-writer-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL' });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function writer(limits: Partial<ShardWriterLimits> = {}): ShardWriter {
    return new ShardWriter({
      store,
      snapshots: new InMemorySnapshotStore(),
      clock,
      ids: new UuidV7Generator(() => clock.nowMs()),
      shard: 0,
      shards: 1,
      limits: { ...LIMITS, ...limits },
    });
  }

  const open = (walletId: string): LedgerCommandEnvelope => ({
    type: 'OpenWallet',
    walletId,
    ownerId: 'owner',
    currency: 'USD',
    meta: { idempotencyKey: `open-${walletId}`, actor: 'test' },
  });

  it.each([0, 200])('finishes what is queued before stop() resolves (BATCH_WAIT_MS %i)', async (batchWaitMs) => {
    const shardWriter = writer({ batchWaitMs });
    await shardWriter.start();
    let reply: Reply<unknown> | undefined;
    const submitted = shardWriter.submit(open('w-1')).then((answer) => (reply = answer));
    // Stopped before its batch was due: the store may close right after stop() resolves.
    await shardWriter.stop();
    expect(reply).toMatchObject({ ok: true, value: { id: 'w-1' } });
    await submitted;
    expect(await store.streamRevision('ledger-0')).toBe(0n);
  });

  it('answers a command submitted as its batch ends, whatever the caller awaited in between', async () => {
    const shardWriter = writer();
    await shardWriter.start();
    // Submitted after drain's last look at the queue but before it let go, a command waited for the next one to arrive.
    for (let ticks = 0; ticks < 20; ticks++) {
      // Wrapped: a promise resolved with a promise would wait for it.
      const { second } = await new Promise<{ second: Promise<Reply<unknown>> }>((resolve) => {
        void shardWriter.submit(open(`first-${ticks}`)).then(async () => {
          for (let tick = 0; tick < ticks; tick++) await Promise.resolve();
          resolve({ second: shardWriter.submit(open(`second-${ticks}`)) });
        });
      });
      let reply: Reply<unknown> | undefined;
      void second.then((answer) => (reply = answer));
      await waitFor(`the command submitted ${ticks} ticks after the first's reply`, () => reply !== undefined, { timeoutMs: 1_000 });
      expect(reply).toMatchObject({ ok: true, value: { id: `second-${ticks}` } });
    }
    await shardWriter.stop();
  });
});
