// Starts the identity service on a temp data dir with the embedded adapters, and a client that
// reaches it only through the bus, as the gateway does.
import type Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import {
  IDENTITY_TOPICS,
  ManualClock,
  UuidV7Generator,
  type IdentityCommandEnvelope,
  type IdentityCommandMessage,
  type Reply,
} from '@ledger/contracts';
import { openProjectionDb, SqliteEventStore } from '@ledger/event-store';
import { BusClientProxy, InProcessBus, keyed } from '@ledger/messaging';
import { loadIdentityConfig } from '../identity.config';
import { startIdentity, type RunningIdentity } from '../identity.app';

export interface IdentityHarness {
  readonly dataDir: string;
  readonly clock: ManualClock;
  readonly store: SqliteEventStore;
  readonly bus: InProcessBus;
  /** The service's own SQLite file (the users projection). */
  readonly db: Database.Database;
  readonly identity: RunningIdentity;
  /** Sends a command with `key` as its idempotency key (a fresh one when absent). */
  send<T = unknown>(message: IdentityCommandMessage, key?: string): Promise<Reply<T>>;
  /** Sends exactly this envelope (for malformed ones). */
  sendRaw<T = unknown>(envelope: unknown): Promise<Reply<T>>;
  /** Stops everything; the data dir stays for a restart unless `remove`. */
  close(options?: { remove?: boolean }): Promise<void>;
}

/** Cheap argon2 so tests stay fast; production defaults are OWASP's. */
export const FAST_ARGON2_ENV = { IDENTITY_ARGON2_MEMORY_KIB: '1024', IDENTITY_ARGON2_ITERATIONS: '1', IDENTITY_ARGON2_PARALLELISM: '1' };

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'identity-'));
}

let keys = 0;

export async function startIdentityHarness(options: { dataDir?: string; env?: Record<string, string>; clock?: ManualClock } = {}): Promise<IdentityHarness> {
  const dataDir = options.dataDir ?? tempDataDir();
  const clock = options.clock ?? new ManualClock();
  const config = loadIdentityConfig({ ...FAST_ARGON2_ENV, IDENTITY_PARTITIONS: '2', ...options.env });
  const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite'), nowMs: () => clock.nowMs() });
  const bus = new InProcessBus({ logger: { warn: () => undefined, error: () => undefined } });
  const db = openProjectionDb(join(dataDir, 'identity.sqlite'));
  const ids = new UuidV7Generator(() => clock.nowMs());
  const identity = await startIdentity({ config, store, bus, db, clock, ids, dataDir }).catch(async (error: unknown) => {
    await bus.close();
    db.close();
    await store.close();
    throw error;
  });
  const proxy = new BusClientProxy(bus, { clientId: 'test-gateway', requestTimeoutMs: 10_000 });
  await proxy.connect();
  const sendRaw = <T>(envelope: unknown) => firstValueFrom(proxy.send<Reply<T>>(IDENTITY_TOPICS.commands, keyed(routingKey(envelope), envelope)));
  return {
    dataDir,
    clock,
    store,
    bus,
    db,
    identity,
    send: <T>(message: IdentityCommandMessage, key = `key-${++keys}`) =>
      sendRaw<T>({ ...message, meta: { idempotencyKey: key, actor: 'test-gateway' } } satisfies IdentityCommandEnvelope),
    sendRaw,
    async close({ remove = false } = {}) {
      await proxy.close();
      await identity.close();
      await bus.close();
      db.close();
      await store.close();
      if (remove) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What the gateway keys a request by: the user when it knows them, else the email, so one user's requests share a partition. */
function routingKey(envelope: unknown): string {
  const message = (envelope ?? {}) as { userId?: unknown; email?: unknown };
  if (typeof message.userId === 'string') return message.userId;
  if (typeof message.email === 'string') return message.email.toLowerCase();
  return 'anonymous';
}
