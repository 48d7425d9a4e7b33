// A command submitted while the writer's drain loop is finishing must still be decided. Work that
// arrived after the loop's last look at the queue, and before the loop counted as finished, waited
// for the next command of the shard: its bus request, and the partition behind it, hung.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, UuidV7Generator, type LedgerCommandEnvelope, type Reply } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { SqliteEventStore } from '@ledger/event-store';
import { loadWalletLedgerConfig } from '../wallet-ledger.config';
import { InMemorySnapshotStore } from './snapshot-store';
import { WalletLedgerService } from './wallet-ledger.service';

/** Microtask turns after a batch's replies at which the next command is submitted: covers the drain loop's end. */
const TURNS_MAX = 12;

describe('shard writer queue', () => {
  let dir: string;
  let store: SqliteEventStore;
  let service: WalletLedgerService;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'writer-queue-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL' });
    const clock = new ManualClock();
    const config = loadWalletLedgerConfig({ LEDGER_SHARDS: '1', BATCH_WAIT_MS: '0' });
    service = new WalletLedgerService({ config, store, snapshots: new InMemorySnapshotStore(), clock, ids: new UuidV7Generator(() => clock.nowMs()), ownedShards: [0] });
    await service.start();
  });

  afterEach(async () => {
    await service.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const openWallet = (n: number): LedgerCommandEnvelope => ({
    type: 'OpenWallet',
    walletId: `wallet-${n}`,
    ownerId: 'owner',
    currency: 'USD',
    meta: { idempotencyKey: `open-wallet-${n}`, actor: 'test' },
  });

  it('answers a command submitted at any turn of the end of the previous batch', async () => {
    const answered = new Map<number, Reply<unknown>>();
    for (let turns = 0; turns <= TURNS_MAX; turns++) {
      await service.execute(openWallet(2 * turns)).then(async () => {
        for (let turn = 0; turn < turns; turn++) await Promise.resolve();
        void service.execute(openWallet(2 * turns + 1)).then((reply) => answered.set(turns, reply));
      });
      await waitFor(`the command submitted ${turns} turn(s) after the batch`, () => answered.has(turns), { timeoutMs: 2_000 });
      expect(answered.get(turns)).toMatchObject({ ok: true, value: { id: `wallet-${2 * turns + 1}` } });
    }
  });
});
