// Crash safety of the wallet-ledger: a child process runs the service under load (top-ups and
// transfers, many across shards) and is SIGKILLed several times at random moments, restarting
// on the same data dir each time. Every command the client saw acknowledged must be in the
// ledger exactly once, with the outcome it was told; a retried key must get the same reply;
// nothing unacknowledged may be half-applied; and after a last restart the transfer saga must
// settle every cross-shard transfer, with money summing to zero and nobody overdrawn.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock, type TransactionView } from '@ledger/contracts';
import { spawnTs, waitFor } from '@ledger/contracts/testing';
import { SqliteEventStore } from '@ledger/event-store';
import { postedBalance, type LedgerShardState } from '@ledger/ledger';
import { auditLedger, readLedgerStreams } from './testing/ledger-audit';
import { startHarness, tempDataDir } from './testing/wallet-ledger.harness';
import {
  LOAD_SHARDS,
  loadCommand,
  loadKey,
  loadShards,
  readAcks,
  type Ack,
  type ReplayCheck,
} from './testing/wallet-ledger-load.child';

const KILLS = 4;
/** New acknowledgements the child must have made before it is killed: random in this range. */
const ACKS_BEFORE_KILL_MIN = 1;
const ACKS_BEFORE_KILL_MAX = 1_500;
const WAIT_MS = 30_000;
const CHILD = join(__dirname, 'testing/wallet-ledger-load.child.ts');

/** Lines written so far (counted, not parsed: the child may be half way through one). */
function linesIn(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  let lines = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

function readLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/** Per transit pair: credited at the source minus debited at the destination (in flight). */
function transitInFlight(states: readonly LedgerShardState[]): bigint[] {
  const amounts: bigint[] = [];
  states.forEach((state, src) => {
    for (const account of state.accounts.values()) {
      const match = /^sys:transit-to-(\d+):([A-Z]{3}):(\d+)$/.exec(account.id);
      if (!match) continue;
      const dst = Number(match[1]);
      const landed = states[dst].accounts.get(`sys:transit-from-${src}:${match[2]}:${dst}`);
      amounts.push(postedBalance(account) - (landed === undefined ? 0n : postedBalance(landed)));
    }
  });
  return amounts;
}

describe('wallet-ledger after SIGKILLs under load', () => {
  let dataDir: string;
  let acksFile: string;
  let replaysFile: string;

  beforeEach(() => {
    dataDir = tempDataDir();
    acksFile = join(dataDir, 'acks.jsonl');
    replaysFile = join(dataDir, 'replays.jsonl');
  });

  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`loses no acknowledged command, applies none twice, and settles every transfer, across ${KILLS} kills`, async () => {
    expect(loadShards().size).toBe(LOAD_SHARDS); // the load crosses every shard
    const thresholds: number[] = [];
    for (let round = 0; round < KILLS; round++) {
      const before = linesIn(acksFile);
      const wanted = ACKS_BEFORE_KILL_MIN + Math.floor(Math.random() * (ACKS_BEFORE_KILL_MAX - ACKS_BEFORE_KILL_MIN + 1));
      thresholds.push(wanted);
      const child = spawnTs(CHILD, [dataDir, acksFile, replaysFile]);
      try {
        await waitFor(
          `round ${round}: ${wanted} new acknowledgements (kills after ${thresholds.join(', ')})`,
          () => linesIn(acksFile) >= before + wanted || child.process.exitCode !== null,
          { timeoutMs: WAIT_MS, intervalMs: 2 },
        ).catch((error: unknown) => {
          throw new Error(`${String(error)}\nchild stderr:\n${child.stderr().slice(-4_000)}`);
        });
        expect({ round, exitCode: child.process.exitCode, stderr: child.stderr() }).toEqual({ round, exitCode: null, stderr: '' });
        child.process.kill('SIGKILL');
        expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
      } finally {
        child.process.kill('SIGKILL');
      }
    }

    const acks = readAcks(acksFile);
    const commands = acks.filter((ack) => ack.index >= 0);
    expect(commands.length).toBeGreaterThan(KILLS);
    // Each key acknowledged once: the child never sends an acknowledged key as a new command.
    expect(new Set(acks.map((ack) => ack.key)).size).toBe(acks.length);

    // Retries after each restart answered with the first reply.
    const replays = readLines<ReplayCheck>(replaysFile);
    expect(replays.length).toBeGreaterThan(0);
    for (const replay of replays) expect({ key: replay.key, reply: replay.again }).toEqual({ key: replay.key, reply: replay.first });

    // A last restart, in this process: the saga settles what the kills left in flight, and the
    // acknowledged commands still answer with their first reply.
    const h = await startHarness({ dataDir, clock: new ManualClock(Date.now()) });
    try {
      const states = () => Array.from({ length: LOAD_SHARDS }, (_, shard) => h.ledger.service.writer(shard)!.currentState);
      await waitFor('the saga settling every cross-shard transfer', () => transitInFlight(states()).every((amount) => amount === 0n), { timeoutMs: WAIT_MS });
      const sample = commands.filter((_, n) => n % Math.max(1, Math.floor(commands.length / 50)) === 0);
      for (const ack of sample) expect({ key: ack.key, reply: await h.send(loadCommand(ack.index), ack.key) }).toEqual({ key: ack.key, reply: ack.reply });
    } finally {
      await h.close();
    }

    // The store, read from the outside.
    const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite') });
    try {
      const audit = auditLedger(await readLedgerStreams(store, LOAD_SHARDS));
      expect(audit.problems).toEqual([]);
      expect([...audit.unsettledOutLegs]).toEqual([]);
      expect([...audit.inFlight.values()].every((amount) => amount === 0n)).toBe(true);

      // Every acknowledged command: exactly one event, carrying the outcome the client was told.
      const wrong: string[] = [];
      for (const ack of acks) wrong.push(...ackProblems(ack, audit.eventsByKey.get(ack.key) ?? []));
      expect(wrong).toEqual([]);

      // The load did what it is for: transfers (many across shards, settled above), some refused.
      const outcomes = new Map<string, number>();
      for (const ack of commands) {
        const name = ack.reply.ok ? (ack.reply.value as TransactionView).kind : ack.reply.error.code;
        outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
      }
      expect([...outcomes.keys()].sort()).toEqual(expect.arrayContaining(['insufficient_funds', 'top_up', 'transfer']));
      const crossShard = [...audit.eventsByKey.keys()].filter((key) => key.startsWith('transfer-in:')).length;
      expect(crossShard).toBeGreaterThan(0);

      if (process.env.LEDGER_CRASH_STATS) {
        // Sent but never answered (abandoned at a kill): applied whole or not at all; both happen.
        const highest = Math.max(...commands.map((ack) => ack.index));
        const acked = new Set(acks.map((ack) => ack.key));
        const abandoned = Array.from({ length: highest + 1 }, (_, index) => loadKey(index)).filter((key) => !acked.has(key));
        const applied = abandoned.filter((key) => audit.eventsByKey.has(key)).length;
        console.log(JSON.stringify({ thresholds, acks: acks.length, replays: replays.length, outcomes: [...outcomes], crossShard, abandoned: abandoned.length, applied }));
      }
    } finally {
      await store.close();
    }
  }, 120_000);
});

/** What is wrong between an acknowledgement and the events its key has in the ledger. */
function ackProblems(ack: Ack, events: readonly { type: string; data: unknown }[]): string[] {
  if (events.length !== 1) return [`${ack.key}: acknowledged, but in ${events.length} events`];
  const [event] = events;
  const data = event.data as { entryId?: string; accountId?: string; error?: { code: string } };
  if (!ack.reply.ok) {
    return event.type === 'ledger.CommandRejected.v1' && data.error?.code === ack.reply.error.code
      ? []
      : [`${ack.key}: acknowledged as ${ack.reply.error.code}, recorded as ${event.type}`];
  }
  if (ack.index < 0) return event.type === 'ledger.AccountOpened.v1' ? [] : [`${ack.key}: acknowledged an opening, recorded as ${event.type}`];
  const value = ack.reply.value as TransactionView;
  return event.type === 'ledger.EntryPosted.v1' && data.entryId === value.id
    ? []
    : [`${ack.key}: acknowledged ${value.kind} ${value.id}, recorded as ${event.type} ${String(data.entryId)}`];
}
