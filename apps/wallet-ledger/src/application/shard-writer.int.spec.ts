// One shard writer on its own, against a real store: what its lifecycle promises.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, UuidV7Generator, type LedgerCommandEnvelope, type Reply } from '@ledger/contracts';
import { SqliteEventStore, type EventStore } from '@ledger/event-store';
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

  function writer(limits: Partial<ShardWriterLimits> = {}, over: EventStore = store): ShardWriter {
    return new ShardWriter({
      store: over,
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

  it('decides nothing against a state a failed append left behind when the reload fails too, and resumes once the store answers', async () => {
    const failing = { append: false, read: false };
    // The store as is, but for appends and stream reads while `failing` says so (a disk gone for a while).
    const flaky = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name) as unknown;
        if (typeof value !== 'function') return value;
        const fails = (name === 'append' && failing.append) || ((name === 'readStream' || name === 'streamRevision') && failing.read);
        return fails ? () => Promise.reject(new Error('disk I/O error')) : value.bind(target);
      },
    });
    const shardWriter = writer({ batchMax: 1 }, flaky);
    await shardWriter.start();
    expect(await shardWriter.submit(open('w-1'))).toMatchObject({ ok: true });
    const topUp = { type: 'TopUp', walletId: 'w-1', amount: '100', meta: { idempotencyKey: 'top-up', actor: 'test' } } as const;
    expect(await shardWriter.submit(topUp)).toMatchObject({ ok: true });
    failing.append = true;
    failing.read = true;
    const withdraw = { type: 'Withdraw', walletId: 'w-1', amount: '100', meta: { idempotencyKey: 'withdraw', actor: 'test' } } as const;
    // The retry waits in the queue behind the first try's batch, whose append fails, and so does the reload after it.
    const [first, retry, other] = await Promise.all([shardWriter.submit(withdraw), shardWriter.submit(withdraw), shardWriter.submit({ ...withdraw, meta: { idempotencyKey: 'withdraw-2', actor: 'test' } })]);
    failing.append = false;
    failing.read = false;
    // Decided against the state with the failed batch in it, the retry was answered as withdrawn (nothing stored), the other refused for funds it had.
    expect([first, retry, other]).toMatchObject([{ ok: false, error: { code: 'unavailable' } }, { ok: false, error: { code: 'unavailable' } }, { ok: false, error: { code: 'unavailable' } }]);
    expect((await store.readStream('ledger-0')).map((event) => event.type)).not.toContain('ledger.CommandRejected.v1');
    // Once the store answers again the writer reloads and takes commands: it stayed stopped until the process restarted.
    let again: Reply<unknown> | undefined;
    await waitFor('the writer to take commands again', async () => {
      again = await shardWriter.submit(withdraw);
      return again.ok;
    }, { timeoutMs: 3_000 });
    expect(again).toMatchObject({ ok: true, value: { kind: 'withdrawal', amount: '100' } });
    expect((await store.readStream('ledger-0')).filter((event) => event.type === 'ledger.EntryPosted.v1')).toHaveLength(2);
    await shardWriter.stop();
  });
});
