// Starts the wallet-ledger on a temp data dir with the embedded adapters, and a client that
// reaches it only through the bus, as any other service does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, UuidV7Generator, type LedgerCommandEnvelope, type LedgerCommandMessage, type Reply } from '@ledger/contracts';
import { openProjectionDb, SqliteEventStore } from '@ledger/event-store';
import { BusClientProxy, InProcessBus, LedgerClient } from '@ledger/messaging';
import { SqliteSnapshotStore } from '../application/snapshot-store';
import { loadWalletLedgerConfig } from '../wallet-ledger.config';
import { startWalletLedger, type RunningWalletLedger } from '../wallet-ledger.app';

export interface Harness {
  readonly dataDir: string;
  readonly clock: ManualClock;
  readonly store: SqliteEventStore;
  /** The bus the ledger serves on: other services under test join it. */
  readonly bus: InProcessBus;
  readonly ledger: RunningWalletLedger;
  readonly client: LedgerClient;
  /** Sends a command with `key` as its idempotency key. */
  send<T = unknown>(message: LedgerCommandMessage, key: string): Promise<Reply<T>>;
  /** Stops everything; the data dir stays for a restart unless `remove`. */
  close(options?: { remove?: boolean }): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'wallet-ledger-'));
}

export async function startHarness(options: { dataDir?: string; env?: Record<string, string>; clock?: ManualClock } = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? tempDataDir();
  const clock = options.clock ?? new ManualClock();
  const config = loadWalletLedgerConfig({ LEDGER_SHARDS: '4', HOLD_SWEEP_INTERVAL_MS: '10', ...options.env });
  const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite'), nowMs: () => clock.nowMs() });
  const bus = new InProcessBus({ logger: { warn: () => undefined, error: () => undefined } });
  const snapshots = new SqliteSnapshotStore(join(dataDir, 'snapshots.sqlite'));
  const db = openProjectionDb(join(dataDir, 'wallet-ledger.sqlite'));
  const ids = new UuidV7Generator(() => clock.nowMs());
  const ledger = await startWalletLedger({ config, store, bus, snapshots, db, clock, ids }).catch(async (error: unknown) => {
    await bus.close();
    await snapshots.close();
    db.close();
    await store.close();
    throw error;
  });
  const proxy = new BusClientProxy(bus, { clientId: 'test-client', requestTimeoutMs: 10_000 });
  await proxy.connect();
  const client = new LedgerClient(proxy, config.LEDGER_SHARDS);
  return {
    dataDir,
    clock,
    store,
    bus,
    ledger,
    client,
    send: <T>(message: LedgerCommandMessage, key: string) =>
      client.command<T>({ ...message, meta: { idempotencyKey: key, actor: 'test' } } as LedgerCommandEnvelope),
    async close({ remove = false } = {}) {
      await proxy.close();
      await ledger.close();
      await bus.close();
      await snapshots.close();
      db.close();
      await store.close();
      if (remove) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
