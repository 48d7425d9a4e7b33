// `npm run bench:audit`: generates a store of >= 1M valid ledger events (10k wallets on 4 shards:
// top-ups, same- and cross-shard transfers, decided by libs/ledger's `decide` and appended with
// the store's own append path in batches), then runs `replay` and `verify` each in a fresh
// process and prints events/s, RSS at 250k/500k/750k/1M events, and peak RSS. Also prints a
// read-only pass (read and parse every event, nothing else) so the projection's share shows, and
// an insert ceiling: the replayed rows inserted in key order alone, the most a rebuild could write.
// Prints figures; never fails a build. BENCH_DIR picks the disk, BENCH_EVENTS the size,
// BENCH_KEEP=1 keeps the generated data dir for profiling one phase.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Json, LedgerCommandEnvelope, LedgerCommandMessage, NewEvent } from '@ledger/contracts';
import { expectedState, SqliteEventStore } from '@ledger/event-store';
import {
  accountShard,
  decide,
  evolve,
  initialState,
  openSystemAccount,
  systemAccountId,
  transitFromId,
  transitToId,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerShardState,
} from '@ledger/ledger';
import Database from 'better-sqlite3';
import { openRebuildDb } from '@ledger/event-store';
import { insertProjectionRows, walletLedgerProjection } from '../../wallet-ledger/src/projections/wallet-ledger.projection';
import { planCommand, transferSagaKeys } from '../../wallet-ledger/src/domain/wallet-commands';
import { REBUILD_CACHE_KIB } from '../src/projection-files';
import { Findings, Progress } from '../src/findings';
import { rebuildAll } from '../src/rebuild-worker';
import { openSqliteStoreReader } from '../src/sqlite-store-reader';
import { pagesByPosition } from '../src/store-reader.port';
import { verify } from '../src/verify';

const SHARDS = 4;
const WALLETS = 10_000;
const EVENTS_TARGET = Number(process.env.BENCH_EVENTS ?? 1_000_000);
/** Transfers decided per round; each round ends with one append per shard (<= APPEND_EVENTS_MAX). */
const TRANSFERS_PER_ROUND = 12_000;
/** Command time step: the ledger's 24 h idempotency window then holds ~8.6k records, whatever the store's size. */
const COMMAND_STEP_MS = 10_000;
const RSS_SAMPLES = [250_000, 500_000, 750_000, 1_000_000];
const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Generating the store.

class Generator {
  private readonly states = Array.from({ length: SHARDS }, () => initialState());
  private readonly batches: NewEvent[][] = Array.from({ length: SHARDS }, () => []);
  private nowMs = Date.UTC(2026, 0, 1);
  private sequence = 0;
  events = 0;

  constructor(private readonly store: SqliteEventStore) {}

  /** A command as the service sends it, planned into the domain's command as the shard writer plans it (verify re-plans each). */
  send(shard: number, message: LedgerCommandMessage, idempotencyKey: string): LedgerEvent[] {
    const plan = planCommand({ ...message, meta: { idempotencyKey, actor: 'bench' } } as LedgerCommandEnvelope, this.states[shard], {
      shards: SHARDS,
      shard,
      nowMs: this.nowMs + COMMAND_STEP_MS,
      defaultHoldTimeoutMs: 0,
    });
    if ('code' in plan) throw new Error(`bench command refused by its plan: ${plan.code} ${plan.message}`);
    return this.run(shard, plan.command);
  }

  run(shard: number, command: LedgerCommand): LedgerEvent[] {
    this.nowMs += COMMAND_STEP_MS;
    const state: LedgerShardState = this.states[shard];
    const decision = decide(command, state, { nowMs: this.nowMs });
    if (!decision.ok) return [];
    for (const event of decision.events) {
      evolve(state, event);
      const eventId = `bench-${++this.sequence}`;
      this.batches[shard].push({
        eventId,
        type: event.type,
        schemaVersion: 1,
        data: event.data as unknown as Json,
        metadata: { correlationId: eventId, causationId: eventId, actor: 'bench', idempotencyKey: command.idempotencyKey, occurredAt: new Date(this.nowMs).toISOString() },
      });
    }
    return decision.events;
  }

  async flush(): Promise<void> {
    for (let shard = 0; shard < SHARDS; shard++) {
      const batch = this.batches[shard];
      for (let start = 0; start < batch.length; start += 10_000) {
        await this.store.append(`ledger-${shard}`, batch.slice(start, start + 10_000), expectedState.any);
      }
      this.events += batch.length;
      this.batches[shard] = [];
    }
  }

  time(): number {
    return this.nowMs;
  }
}

/** A deterministic PRNG (mulberry32), so every run generates the same store. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function generate(dir: string): Promise<number> {
  // Commits at the generator's time, after every decision of the batch (verify holds commit times to it).
  const store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL', nowMs: (): number => generator.time() });
  const generator: Generator = new Generator(store);
  const meta = { eventId: 'bench-meta', type: 'ledger.ShardsConfigured.v1', schemaVersion: 1, data: { shards: SHARDS } };
  await store.append('ledger-meta', [{ ...meta, metadata: { correlationId: 'bench', causationId: 'bench', actor: 'bench', occurredAt: new Date(generator.time()).toISOString() } }], expectedState.noStream);

  const open = (shard: number, accountId: string) => generator.run(shard, openSystemAccount(accountId)!);
  for (let shard = 0; shard < SHARDS; shard++) {
    open(shard, systemAccountId('funding', 'USD', shard));
    for (let other = 0; other < SHARDS; other++) {
      if (other === shard) continue;
      open(shard, transitToId(other, 'USD', shard));
      open(shard, transitFromId(other, 'USD', shard));
    }
  }
  const wallets: { id: string; shard: number }[] = [];
  for (let index = 0; index < WALLETS; index++) {
    const id = `wallet-${index.toString().padStart(6, '0')}`;
    const shard = accountShard(id, SHARDS);
    wallets.push({ id, shard });
    generator.send(shard, { type: 'OpenWallet', walletId: id, ownerId: `owner-${index}`, currency: 'USD' }, `open-wallet:${id}`);
    generator.send(shard, { type: 'TopUp', walletId: id, amount: '1000000' }, `top-${id}`);
  }
  await generator.flush();

  const next = random(7);
  let transfers = 0;
  /** In legs (the saga's TransferIn) decided in the next round, after their out legs are appended. */
  let inLegs: { shard: number; message: LedgerCommandMessage; key: string }[] = [];
  const sendInLegs = () => {
    for (const { shard, message, key } of inLegs) generator.send(shard, message, key);
    inLegs = [];
  };
  while (generator.events < EVENTS_TARGET) {
    sendInLegs();
    for (let i = 0; i < TRANSFERS_PER_ROUND; i++) {
      const from = wallets[Math.floor(next() * WALLETS)];
      const to = wallets[Math.floor(next() * WALLETS)];
      if (from === to) continue;
      const amount = String(1 + Math.floor(next() * 100));
      const [posted] = generator.send(from.shard, { type: 'Transfer', fromWalletId: from.id, toWalletId: to.id, amount }, `transfer-${++transfers}`);
      if (posted?.type !== 'ledger.EntryPosted.v1' || posted.data.references.leg !== 'out') continue;
      const { transferId } = posted.data.references;
      inLegs.push({
        shard: to.shard,
        message: { type: 'TransferIn', transferId, fromWalletId: from.id, toWalletId: to.id, amount, currency: 'USD', sourceShard: from.shard },
        key: transferSagaKeys.in(transferId),
      });
    }
    await generator.flush();
  }
  sendInLegs();
  await generator.flush();
  await store.close();
  return generator.events + 1;
}

// ---------------------------------------------------------------------------------------------
// The measured phases, each in its own process so its peak RSS is its own.

interface PhaseResult {
  readonly phase: string;
  readonly events: number;
  readonly ms: number;
  readonly detail: string;
  readonly rssMiB: Record<string, number>;
  readonly peakRssMiB: number;
  readonly violations: number;
}

function sampler(): { observe: (events: number) => void; samples: Record<string, number> } {
  const samples: Record<string, number> = {};
  let next = 0;
  return {
    samples,
    observe(events) {
      if (next < RSS_SAMPLES.length && events >= RSS_SAMPLES[next]) {
        samples[`${RSS_SAMPLES[next] / 1000}k`] = Math.round(process.memoryUsage().rss / MIB);
        next++;
      }
    },
  };
}

async function phase(name: string, dir: string): Promise<PhaseResult> {
  const reader = openSqliteStoreReader(join(dir, 'events.sqlite'));
  const { observe, samples } = sampler();
  const progress = new Progress((line) => process.stderr.write(`  ${name} ${line}\n`));
  const started = performance.now();
  let events = 0;
  let detail = '';
  let violations = 0;
  try {
    if (name === 'read') {
      for await (const page of pagesByPosition(reader)) {
        events += page.length;
        observe(events);
      }
    } else if (name === 'ceiling') {
      events = Number(await reader.headPosition());
      const rows = insertCeiling(join(dir, 'replayed', 'wallet-ledger.sqlite'), join(dir, 'ceiling.sqlite'));
      detail = `${rows} history and line rows inserted in key order into a fresh file, nothing else: the most one CPU's rebuild could reach`;
    } else if (name === 'replay') {
      const findings = new Findings();
      const out = join(dir, 'replayed');
      mkdirSync(out);
      // What `replay` runs (on a worker thread): RSS is the process's, sampled as the worker reports progress.
      const stats = await rebuildAll(reader, join(dir, 'events.sqlite'), out, findings, progress, (rebuilt) => observe((events = rebuilt)));
      events = stats.events;
      violations = findings.count;
      detail = `rebuild ${Math.round(stats.rebuildMs)} ms`;
    } else {
      const result = await verify(reader, join(dir, 'events.sqlite'), dir, progress, (read) => {
        events = read;
        observe(read);
      });
      violations = result.findings.count;
      detail = `chains ${Math.round(result.chainMs)} ms, log pass (invariants + rebuild) ${Math.round(result.logMs)} ms, compare ${Math.round(result.compareMs)} ms`;
      if (!result.findings.clean) process.stderr.write(`${result.findings.toText().slice(0, 2000)}\n`);
    }
  } finally {
    await reader.close();
  }
  return { phase: name, events, ms: performance.now() - started, detail, rssMiB: samples, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), violations };
}

/** Rows per chunk the ceiling copies (bounded memory). */
const CEILING_CHUNK_ROWS = 8_192;

/**
 * The insert ceiling: the replayed file's history rows and lines, read in primary-key order (the
 * cheapest order for a B-tree) and inserted with the projection's own statements into a fresh file
 * with the rebuild's bulk-load settings. No reading of events, parsing or projection logic.
 */
function insertCeiling(replayedFile: string, ceilingFile: string): number {
  const source = new Database(replayedFile, { readonly: true });
  const target = openRebuildDb(ceilingFile, REBUILD_CACHE_KIB);
  let rows = 0;
  try {
    walletLedgerProjection.setup(target);
    target.exec('BEGIN');
    for (const table of ['account_balances_history', 'transaction_lines'] as const) {
      let chunk: unknown[][] = [];
      for (const row of source.prepare(`SELECT * FROM ${table}`).raw().iterate() as IterableIterator<unknown[]>) {
        chunk.push(row);
        if (chunk.length === CEILING_CHUNK_ROWS) {
          rows += chunk.length;
          insertProjectionRows(target, table, chunk);
          chunk = [];
        }
      }
      rows += chunk.length;
      insertProjectionRows(target, table, chunk);
    }
    target.exec('COMMIT');
  } finally {
    target.close();
    source.close();
  }
  return rows;
}

function runPhase(name: string, dir: string): PhaseResult {
  const child = spawnSync(process.execPath, [__filename, name, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * MIB });
  if (child.status !== 0) throw new Error(`${name} phase failed (exit ${child.status})`);
  return JSON.parse(child.stdout) as PhaseResult;
}

function print(result: PhaseResult): void {
  const rate = Math.round(result.events / (result.ms / 1000));
  const rss = Object.entries(result.rssMiB).map(([at, mib]) => `${at}: ${mib} MiB`).join(', ');
  console.log(
    `${result.phase.padEnd(7)} ${result.events} events in ${(result.ms / 1000).toFixed(1)} s = ${rate.toLocaleString('en-US')} events/s; RSS ${rss}; peak RSS ${result.peakRssMiB} MiB; violations ${result.violations}${result.detail ? `\n        (${result.detail})` : ''}`,
  );
}

async function main(): Promise<void> {
  const [phaseName, phaseDir] = process.argv.slice(2);
  if (phaseName !== undefined) {
    process.stdout.write(JSON.stringify(await phase(phaseName, phaseDir)));
    return;
  }
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ledger-audit-bench-'));
  try {
    const started = performance.now();
    const events = await generate(dir);
    console.log(`audit bench: Node ${process.version}; generated ${events} events (${WALLETS} wallets, ${SHARDS} shards) in ${((performance.now() - started) / 1000).toFixed(1)} s in ${dir}`);
    print(runPhase('read', dir));
    print(runPhase('replay', dir));
    print(runPhase('ceiling', dir));
    // The replayed projection becomes the "live" one, so verify compares a full file too.
    renameSync(join(dir, 'replayed', 'wallet-ledger.sqlite'), join(dir, 'wallet-ledger.sqlite'));
    print(runPhase('verify', dir));
  } finally {
    if (process.env.BENCH_KEEP === '1') console.log(`kept ${dir} (BENCH_KEEP=1): profile a phase with node --cpu-prof ${__filename} replay ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
