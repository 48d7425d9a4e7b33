// Child of the wallet-ledger crash test: runs the service on a data dir (SQLite store, snapshots,
// its SQLite file of projection and checkpoints, in-process bus, the real clock) and drives it
// through the transport with a deterministic sequence of top-ups and transfers (many across
// shards), many at once, until it is killed. It is the client's ledger of what was acknowledged: each definitive reply is
// appended to the acks file, one JSON line, before anything else happens. On start it reads
// that file, re-sends some acknowledged keys (writing what came back to the replays file, for the
// test to compare), and resumes after the highest acknowledged command; commands sent
// but never answered are abandoned, so they must be applied whole or not at all.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, UuidV7Generator, type LedgerCommandEnvelope, type LedgerCommandMessage, type Reply } from '@ledger/contracts';
import { openProjectionDb, SqliteEventStore } from '@ledger/event-store';
import { accountShard } from '@ledger/ledger';
import { BusClientProxy, InProcessBus, LedgerClient } from '@ledger/messaging';
import { SqliteSnapshotStore } from '../application/snapshot-store';
import { startWalletLedger } from '../wallet-ledger.app';
import { loadWalletLedgerConfig } from '../wallet-ledger.config';

export const LOAD_SHARDS = 4;
export const LOAD_WALLETS = 16;
/** Commands the child keeps in flight at once, so the writers commit real batches. */
const IN_FLIGHT = 128;
/** Acknowledged keys re-sent on every start. */
const REPLAYS_PER_START = 24;
const ATTEMPTS_MAX = 5;

export interface Ack {
  readonly key: string;
  /** The command's index in the sequence (-1 for opening a wallet). */
  readonly index: number;
  readonly reply: Reply<unknown>;
}

/** An acknowledged key sent again after a restart, and what came back (the test compares them). */
export interface ReplayCheck {
  readonly key: string;
  readonly first: Reply<unknown>;
  readonly again: Reply<unknown> | { readonly thrown: string };
}

export function loadWalletId(n: number): string {
  return `load-wallet-${n}`;
}

/** The idempotency key of command `index` of the sequence. */
export function loadKey(index: number): string {
  return `load-${index}`;
}

/** Command `index` of the sequence: the same every time, in every process. */
export function loadCommand(index: number): LedgerCommandMessage {
  const random = mulberry32(index);
  const from = Math.floor(random() * LOAD_WALLETS);
  const amount = String(1 + Math.floor(random() * 1_000));
  if (random() < 0.35) return { type: 'TopUp', walletId: loadWalletId(from), amount };
  const to = (from + 1 + Math.floor(random() * (LOAD_WALLETS - 1))) % LOAD_WALLETS;
  return { type: 'Transfer', fromWalletId: loadWalletId(from), toWalletId: loadWalletId(to), amount };
}

export function readAcks(file: string): Ack[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Ack);
}

function mulberry32(seed: number): () => number {
  let a = (seed * 2654435761) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(dataDir: string, acksFile: string, replaysFile: string): Promise<void> {
  const config = loadWalletLedgerConfig({ LEDGER_SHARDS: String(LOAD_SHARDS), SNAPSHOT_EVERY: '500' });
  const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite') });
  const bus = new InProcessBus({ logger: { warn: () => undefined, error: (message) => console.error(message) } });
  await startWalletLedger({
    config,
    store,
    bus,
    snapshots: new SqliteSnapshotStore(join(dataDir, 'snapshots.sqlite')),
    db: openProjectionDb(join(dataDir, 'wallet-ledger.sqlite')),
    clock: systemClock,
    ids: new UuidV7Generator(),
  });
  const proxy = new BusClientProxy(bus, { clientId: 'load', requestTimeoutMs: 30_000 });
  await proxy.connect();
  const client = new LedgerClient(proxy, config.LEDGER_SHARDS);
  const send = (message: LedgerCommandMessage, key: string) =>
    client.command({ ...message, meta: { idempotencyKey: key, actor: 'load' } } as LedgerCommandEnvelope);

  /** Sends until the reply is definitive (not `unavailable`, not a transport failure); undefined if it never was. */
  const definitive = async (message: LedgerCommandMessage, key: string): Promise<Reply<unknown> | undefined> => {
    for (let attempt = 1; attempt <= ATTEMPTS_MAX; attempt++) {
      try {
        const reply = await send(message, key);
        if (reply.ok || reply.error.code !== 'unavailable') return reply;
      } catch {
        // A timeout or a closed client: the outcome is unknown, so ask again with the same key.
      }
    }
    return undefined;
  };
  const acknowledge = (ack: Ack) => appendFileSync(acksFile, `${JSON.stringify(ack)}\n`);

  const acks = readAcks(acksFile);
  const acked = new Map(acks.map((ack) => [ack.key, ack]));

  for (let n = 0; n < LOAD_WALLETS; n++) {
    const key = `open-${n}`;
    if (acked.has(key)) continue;
    const reply = await definitive({ type: 'OpenWallet', walletId: loadWalletId(n), ownerId: `owner-${n}`, currency: 'USD' }, key);
    if (reply === undefined) throw new Error(`could not open ${loadWalletId(n)}`);
    acknowledge({ key, index: -1, reply });
  }

  // Dedupe: the latest acknowledged commands (the ones most likely in the last batches before
  // the kill) and some older ones are sent again; the first reply must come back.
  const commands = acks.filter((ack) => ack.index >= 0);
  const replays = [...commands.slice(-REPLAYS_PER_START / 2), ...spread(commands, REPLAYS_PER_START / 2)];
  await Promise.all(
    replays.map(async (ack) => {
      let again: ReplayCheck['again'];
      try {
        again = await send(loadCommand(ack.index), ack.key);
      } catch (error) {
        again = { thrown: String(error) };
      }
      const check: ReplayCheck = { key: ack.key, first: ack.reply, again };
      appendFileSync(replaysFile, `${JSON.stringify(check)}\n`);
    }),
  );

  let next = commands.reduce((highest, ack) => Math.max(highest, ack.index), -1) + 1;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const key = loadKey(index);
      const reply = await definitive(loadCommand(index), key);
      if (reply !== undefined) acknowledge({ key, index, reply });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

function spread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, n) => items[Math.floor((n * items.length) / count)]);
}

/** The wallets are spread over every shard (the test checks it, so the load crosses shards). */
export function loadShards(): Set<number> {
  return new Set(Array.from({ length: LOAD_WALLETS }, (_, n) => accountShard(loadWalletId(n), LOAD_SHARDS)));
}

if (require.main === module) {
  main(process.argv[2], process.argv[3], process.argv[4]).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
