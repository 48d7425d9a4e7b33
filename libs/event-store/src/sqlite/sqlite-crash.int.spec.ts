// Crash safety: a writer killed with SIGKILL in the middle of its appends leaves only whole
// batches, gap-free revisions and positions, intact hash chains, and a store that takes appends.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import { expectedState as expected } from '../event-store.port';
import { verifyChain } from '../hash-chain';
import { CRASH_STREAMS } from '../testing/crash-appender.child';
import { newEvent } from '../testing/test-events';
import { spawnTs } from '@ledger/contracts/testing';
import { waitFor } from '@ledger/contracts/testing';
import { SqliteEventStore } from './sqlite-event-store';

const BATCH_SIZE = 50;
const KILLS = 5;
/** Batches the child must have committed in a round before it is killed. */
const BATCHES_BEFORE_KILL = 10;
const WAIT_MS = 20_000;

describe('SqliteEventStore after a SIGKILL mid-append', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-crash-'));
    file = join(dir, 'events.sqlite');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Committed events, read by a short-lived connection so none is open when the child dies. */
  function committedEvents(): number {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
      return (db.prepare('SELECT count(*) AS count FROM events').get() as { count: number }).count;
    } catch {
      return 0; // not created yet
    } finally {
      db?.close();
    }
  }

  async function readEverything(store: SqliteEventStore): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    for (let page = await store.readAll(); page.length > 0; page = await store.readAll({ afterPosition: page[page.length - 1].position })) events.push(...page);
    return events;
  }

  it(`keeps every batch whole across ${KILLS} kills`, async () => {
    for (let round = 0; round < KILLS; round++) {
      const before = committedEvents();
      const child = spawnTs(join(__dirname, '../testing/crash-appender.child.ts'), [file, String(BATCH_SIZE)]);
      try {
        await waitFor(
          `round ${round}: the child committing ${BATCHES_BEFORE_KILL} batches`,
          () => committedEvents() >= before + BATCHES_BEFORE_KILL * BATCH_SIZE || child.process.exitCode !== null,
          { timeoutMs: WAIT_MS },
        );
        expect(child.stderr()).toBe('');
        child.process.kill('SIGKILL');
        expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
      } finally {
        child.process.kill('SIGKILL');
      }

      const store = new SqliteEventStore({ file, readBatchMax: 10_000 });
      try {
        const events = await readEverything(store);
        expect(events.length).toBeGreaterThan(before);
        expect(events.length % BATCH_SIZE).toBe(0);
        expect(events.map((event) => event.position)).toEqual(events.map((_, index) => BigInt(index + 1)));
        expect(await store.headPosition()).toBe(BigInt(events.length));

        // Every batch is whole: K events in a row, indexes 0..K-1, one stream, one commit.
        for (let start = 0; start < events.length; start += BATCH_SIZE) {
          const batch = events.slice(start, start + BATCH_SIZE);
          const first = batch[0].data as { writer: number; batch: number };
          batch.forEach((event, index) => {
            expect(event.data).toEqual({ writer: first.writer, batch: first.batch, index });
            expect(event.streamId).toBe(batch[0].streamId);
            expect(event.recordedAt).toBe(batch[0].recordedAt);
          });
        }

        for (const streamId of CRASH_STREAMS) {
          const stream = events.filter((event) => event.streamId === streamId);
          expect(stream.map((event) => event.revision)).toEqual(stream.map((_, index) => BigInt(index)));
          expect(verifyChain(stream)).toBeUndefined();
          // The streams table agrees with the events it heads.
          expect(await store.streamRevision(streamId)).toBe(stream.length === 0 ? undefined : stream[stream.length - 1].revision);
        }

        // Appendable at the right revision, with a whole batch the next round checks too.
        const stream = CRASH_STREAMS[round % CRASH_STREAMS.length];
        const revision = await store.streamRevision(stream);
        const probe = Array.from({ length: BATCH_SIZE }, (_, index) => newEvent({ writer: 0, batch: -1 - round, index }));
        const result = await store.append(stream, probe, revision === undefined ? expected.noStream : expected.revision(revision));
        expect(result.position).toBe(BigInt(events.length + BATCH_SIZE));
        expect(verifyChain(await store.readStream(stream, { maxCount: 10_000 }))).toBeUndefined();
      } finally {
        await store.close();
      }
    }
  }, 60_000);
});
