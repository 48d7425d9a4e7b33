// A writer's batch is one append, and the store refuses an append of more than APPEND_EVENTS_MAX
// events. Internal entries may open system accounts on demand (up to one per posting), so a
// batch of BATCH_MAX commands can carry far more events than commands: the writer must cut it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, UuidV7Generator, type LedgerCommandEnvelope } from '@ledger/contracts';
import { APPEND_EVENTS_MAX, SqliteEventStore } from '@ledger/event-store';
import { POSTINGS_MAX } from '@ledger/ledger';
import { loadWalletLedgerConfig } from '../wallet-ledger.config';
import { InMemorySnapshotStore } from './snapshot-store';
import { WalletLedgerService } from './wallet-ledger.service';

describe('shard writer batches and the store append limit', () => {
  let dir: string;
  let store: SqliteEventStore;
  let service: WalletLedgerService | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'writer-batch-limit-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL' });
  });

  afterEach(async () => {
    await service?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a batch whose entries open more system accounts than one append may carry', async () => {
    const shards = 4_096;
    const clock = new ManualClock();
    const config = loadWalletLedgerConfig({ LEDGER_SHARDS: String(shards), BATCH_MAX: '512' });
    service = new WalletLedgerService({ config, store, snapshots: new InMemorySnapshotStore(), clock, ids: new UuidV7Generator(() => clock.nowMs()), ownedShards: [0] });
    await service.start();
    // Each entry moves 1 between POSTINGS_MAX transit accounts of shard 0 that nothing opened yet.
    const pairs = POSTINGS_MAX / 2;
    const entries = Math.ceil(APPEND_EVENTS_MAX / POSTINGS_MAX) + 8;
    // Shard 0's transit accounts: to and from every other shard, in two currencies; an entry keeps to one currency.
    const currencies = ['USD', 'EUR'] as const;
    const perCurrency = 2 * (shards - 1);
    const accountOf = (currency: string, n: number) => (n < shards - 1 ? `sys:transit-to-${n + 1}:${currency}:0` : `sys:transit-from-${n - shards + 2}:${currency}:0`);
    const perEntryCurrency = Math.floor(perCurrency / POSTINGS_MAX);
    expect(entries).toBeLessThanOrEqual(perEntryCurrency * currencies.length);
    const commands: LedgerCommandEnvelope[] = Array.from({ length: entries }, (_, entry) => {
      const currency = currencies[Math.floor(entry / perEntryCurrency)];
      const first = (entry % perEntryCurrency) * POSTINGS_MAX;
      return {
        type: 'PostEntry',
        entryId: `spread-${entry}`,
        kind: 'fee',
        postings: Array.from({ length: POSTINGS_MAX }, (_, index) => ({
          accountId: accountOf(currency, first + index),
          side: index < pairs ? ('debit' as const) : ('credit' as const),
          amount: '1',
          currency,
        })),
        meta: { idempotencyKey: `spread-${entry}`, actor: 'test' },
      };
    });
    expect(entries * (POSTINGS_MAX + 1)).toBeGreaterThan(APPEND_EVENTS_MAX); // one batch of them would not fit in one append
    const replies = await Promise.all(commands.map((command) => service!.execute(command)));
    expect(replies.filter((reply) => !reply.ok)).toEqual([]);
    expect(service.writer(0)!.currentState.accounts.size).toBe(entries * POSTINGS_MAX);
  });
});
