// `npm run bench:store`: appends/s and events/s of the SQLite event store (synchronous=FULL) for
// batches of 1, 100 and 1,000 events, next to raw better-sqlite3 inserts of the same rows into
// the same table, one transaction per batch, in the same run. Prints figures; never fails a build.
import { openRawEventInserter } from './raw-inserts';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7, type NewEvent } from '@ledger/contracts';
import { expectedState as expected } from '../src/event-store.port';
import { sealEvents } from '../src/hash-chain';
import { SqliteEventStore } from '../src/sqlite/sqlite-event-store';

const BATCH_SIZES = [1, 100, 1_000] as const;
/** Wall time each measurement may take; six measurements keep the run under ~30 s. */
const RUN_BUDGET_MS = 4_000;
const RUN_EVENTS_MAX = 300_000;
const WARMUP_BATCHES = 3;
const STREAM_ID = 'ledger-0';

interface Measurement {
  readonly batches: number;
  readonly events: number;
  readonly timedMs: number;
}

/** A journal entry shaped payload, about the size the ledger writes. */
function journalEvents(count: number, sequence: number): NewEvent[] {
  return Array.from({ length: count }, (_, index) => {
    const eventId = uuidv7.next();
    return {
      eventId,
      type: 'ledger.EntryPosted.v1',
      schemaVersion: 1,
      data: {
        entryId: eventId,
        transferId: `t-${sequence}-${index}`,
        currency: 'USD',
        postings: [
          { account: '01a20f1a-0b61-7000-8acd-f781f0d462f6', side: 'debit', amount: '1050' },
          { account: '01a20f1a-0b61-7001-a32c-372e24aa6ef6', side: 'credit', amount: '1050' },
        ],
      },
      metadata: { correlationId: eventId, causationId: eventId, actor: 'bench', idempotencyKey: `bench:${sequence}:${index}`, occurredAt: new Date().toISOString() },
    };
  });
}

async function measureStore(file: string, batchSize: number): Promise<Measurement> {
  const store = new SqliteEventStore({ file, synchronous: 'FULL' });
  try {
    let revision = -1n;
    const appendBatch = async (sequence: number): Promise<number> => {
      const events = journalEvents(batchSize, sequence);
      const startedNs = process.hrtime.bigint();
      const result = await store.append(STREAM_ID, events, revision < 0n ? expected.noStream : expected.revision(revision));
      const elapsedNs = process.hrtime.bigint() - startedNs;
      revision = result.nextExpectedRevision;
      return Number(elapsedNs) / 1e6;
    };
    for (let warmup = 0; warmup < WARMUP_BATCHES; warmup++) await appendBatch(-1 - warmup);
    return await timeBatches(batchSize, appendBatch);
  } finally {
    await store.close();
  }
}

async function measureRawInserts(file: string, batchSize: number): Promise<Measurement> {
  const raw = await openRawEventInserter(file);
  let next = 0;
  let prevHash = '0'.repeat(64);
  const insertRows = async (sequence: number): Promise<number> => {
    // The same rows the store would write, built outside the timed part: raw SQLite is the floor.
    const sealed = sealEvents(prevHash, journalEvents(batchSize, sequence));
    prevHash = sealed[sealed.length - 1].metadata.hash;
    const recordedAt = new Date().toISOString();
    const rows = sealed.map((event) => {
      next++;
      return [next, STREAM_ID, next - 1, event.eventId, event.type, event.schemaVersion, JSON.stringify(event.data), JSON.stringify(event.metadata), recordedAt];
    });
    const startedNs = process.hrtime.bigint();
    raw.insertBatch(rows);
    return Number(process.hrtime.bigint() - startedNs) / 1e6;
  };
  try {
    for (let warmup = 0; warmup < WARMUP_BATCHES; warmup++) await insertRows(-1 - warmup);
    return await timeBatches(batchSize, insertRows);
  } finally {
    raw.close();
  }
}

/** Runs `batch` until the wall-time budget or the event cap is spent; sums the timed parts. */
async function timeBatches(batchSize: number, batch: (sequence: number) => Promise<number>): Promise<Measurement> {
  const deadline = Date.now() + RUN_BUDGET_MS;
  let batches = 0;
  let timedMs = 0;
  while (Date.now() < deadline && batches * batchSize < RUN_EVENTS_MAX) {
    timedMs += await batch(batches);
    batches++;
  }
  return { batches, events: batches * batchSize, timedMs };
}

function perSecond(count: number, ms: number): string {
  return Math.round((count * 1000) / ms).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ledger-bench-'));
  const startedMs = Date.now();
  const memory = new Database(':memory:');
  const sqliteVersion = (memory.prepare('SELECT sqlite_version() AS version').get() as { version: string }).version;
  memory.close();
  console.log(`event store bench: SQLite ${sqliteVersion}, Node ${process.version}, WAL, synchronous=FULL, files in ${dir}`);
  console.log(`(each figure: up to ${RUN_BUDGET_MS / 1000} s or ${RUN_EVENTS_MAX.toLocaleString('en-US')} events; only the append / insert transaction is timed)\n`);
  const header = ['batch', 'store appends/s', 'store events/s', 'raw txns/s', 'raw rows/s', 'store/raw'];
  const rows: string[][] = [];
  try {
    for (const batchSize of BATCH_SIZES) {
      const store = await measureStore(join(dir, `store-${batchSize}.sqlite`), batchSize);
      const raw = await measureRawInserts(join(dir, `raw-${batchSize}.sqlite`), batchSize);
      rows.push([
        batchSize.toLocaleString('en-US'),
        perSecond(store.batches, store.timedMs),
        perSecond(store.events, store.timedMs),
        perSecond(raw.batches, raw.timedMs),
        perSecond(raw.events, raw.timedMs),
        `${Math.round((100 * (store.events / store.timedMs)) / (raw.events / raw.timedMs))}%`,
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padStart(widths[column])).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log(`\nstore = the adapter's append (expectation check, hash chain, JSON, inserts, stream head, commit);`);
  console.log(`raw = prepared INSERTs of the same pre-built rows in one transaction per batch. Total ${((Date.now() - startedMs) / 1000).toFixed(1)} s.`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
