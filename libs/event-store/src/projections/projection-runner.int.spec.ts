import type Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import { expectedState, type EventStore } from '../event-store.port';
import { SqliteEventStore } from '../sqlite/sqlite-event-store';
import { newEvents } from '../testing/test-events';
import { waitFor } from '@ledger/contracts/testing';
import { ProjectionRunner, type Projection, type ProjectionRunnerOptions } from './projection-runner';
import { openProjectionDb, openRebuildDb, PROJECTION_WAL_AUTOCHECKPOINT_PAGES, PROJECTION_WAL_SIZE_LIMIT_BYTES, REBUILD_PAGE_SIZE_BYTES } from './sqlite-projection-db';

const WAIT_MS = 10_000;

/** Records every event of `orders-` and `refunds-` streams as a row; throws on the event `failOn` picks. */
function itemsProjection(failOn: (event: RecordedEvent) => boolean = () => false) {
  const applied: bigint[] = [];
  const projection: Projection = {
    name: 'items',
    streamPrefixes: ['orders-', 'refunds-'],
    setup(db) {
      db.exec('CREATE TABLE IF NOT EXISTS items (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, n INTEGER NOT NULL)');
    },
    apply(db, event) {
      applied.push(event.position);
      if (failOn(event)) throw new Error(`apply failed on position ${event.position}`);
      // The primary key turns a second apply of one event into an error, so a double apply cannot hide.
      db.prepare('INSERT INTO items (position, stream_id, n) VALUES (?, ?, ?)').run(event.position, event.streamId, (event.data as { n: number }).n);
    },
  };
  return { projection, applied };
}

function rows(db: Database.Database): { position: number; stream_id: string; n: number }[] {
  return db.prepare('SELECT position, stream_id, n FROM items ORDER BY position').all() as { position: number; stream_id: string; n: number }[];
}

function storedCheckpoint(db: Database.Database): bigint | undefined {
  const row = db.prepare('SELECT position FROM checkpoints WHERE name = ?').safeIntegers(true).get('items') as { position: bigint } | undefined;
  return row?.position;
}

describe('ProjectionRunner', () => {
  let dir: string;
  let store: SqliteEventStore;
  const dbs: Database.Database[] = [];
  const runners: ProjectionRunner[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-projection-runner-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite') });
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
    for (const db of dbs.splice(0)) db.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function openDb(name = 'projection.sqlite'): Database.Database {
    const db = openProjectionDb(join(dir, name));
    dbs.push(db);
    return db;
  }

  function closeDb(db: Database.Database): void {
    dbs.splice(dbs.indexOf(db), 1);
    db.close();
  }

  function runner(db: Database.Database, projection: Projection, options: Partial<ProjectionRunnerOptions> = {}): ProjectionRunner {
    const created = new ProjectionRunner({ store, db, projection, ...options });
    runners.push(created);
    return created;
  }

  async function append(streamId: string, count: number, firstN = 0): Promise<bigint> {
    const result = await store.append(streamId, newEvents(count, (index) => ({ n: firstN + index })), expectedState.any);
    return result.position;
  }

  async function caughtUp(projectionRunner: ProjectionRunner): Promise<void> {
    expect(await projectionRunner.waitUntil(await store.headPosition(), WAIT_MS)).toBe(true);
  }

  it('applies only the streams of its prefixes, in position order, and checkpoints the last one applied', async () => {
    await append('orders-1', 2, 0); // positions 1-2
    await append('other-1', 2, 100); // 3-4
    await append('refunds-1', 1, 2); // 5
    const db = openDb();
    const { projection } = itemsProjection();
    const projectionRunner = runner(db, projection);
    await projectionRunner.start();
    await caughtUp(projectionRunner);
    await append('other-2', 3, 200); // 6-8: the newest events are not ours
    await caughtUp(projectionRunner);

    expect(rows(db)).toEqual([
      { position: 1, stream_id: 'orders-1', n: 0 },
      { position: 2, stream_id: 'orders-1', n: 1 },
      { position: 5, stream_id: 'refunds-1', n: 2 },
    ]);
    expect(projectionRunner.position()).toBe(5n);
    expect(storedCheckpoint(db)).toBe(5n);
    // Readiness sees the runner past other streams' events, though its checkpoint stays at its own last one.
    expect(projectionRunner.processedThrough()).toBe(8n);
    expect(projectionRunner.caughtUp(8n)).toBe(true);
  });

  it('goes live: events appended after start are applied, and waitUntil answers read-your-writes', async () => {
    const db = openDb();
    const { projection } = itemsProjection();
    const projectionRunner = runner(db, projection);
    await projectionRunner.start();
    for (let round = 0; round < 5; round++) {
      const position = await append('orders-live', 3, round * 3);
      expect(await projectionRunner.waitUntil(position, WAIT_MS)).toBe(true);
      expect(rows(db)).toHaveLength((round + 1) * 3);
    }
    expect(projectionRunner.position()).toBe(15n);
  });

  it('waitUntil a position past events of other streams looks at once, not at the next idle poll', async () => {
    const db = openDb();
    const { projection } = itemsProjection();
    const projectionRunner = runner(db, projection, { idlePollMs: 600_000 });
    await projectionRunner.start();
    await caughtUp(projectionRunner);
    const elsewhere = await append('shipments-1', 2);
    expect(await projectionRunner.waitUntil(elsewhere, 2_000)).toBe(true);
    expect(projectionRunner.processedThrough()).toBeGreaterThanOrEqual(elsewhere);
  });

  it('rolls back the whole batch, checkpoint included, when apply throws mid-batch; a restart resumes and ends equal to a rebuild', async () => {
    const healthy = await append('orders-1', 4, 0); // positions 1-4, applied in their own batch
    let failing = true;
    const faulty = itemsProjection((event) => failing && (event.data as { n: number }).n === 7);
    let db = openDb();
    const first = runner(db, faulty.projection);
    await first.start();
    expect(await first.waitUntil(healthy, WAIT_MS)).toBe(true);
    const batchEnd = await append('orders-1', 6, 4); // positions 5-10, one append, so one page; n=7 is position 8

    await expect(first.closed).rejects.toThrow('apply failed on position 8');
    await expect(first.waitUntil(batchEnd, WAIT_MS)).rejects.toThrow('apply failed on position 8');
    expect(first.caughtUp(batchEnd)).toBe(false);
    expect(faulty.applied).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]); // 5-7 were applied, then undone with the batch
    expect(rows(db).map((row) => row.position)).toEqual([1, 2, 3, 4]);
    expect(storedCheckpoint(db)).toBe(4n);
    expect(first.position()).toBe(4n);

    // "Restart the process": a new handle on the same file, a new runner, the fault gone.
    closeDb(db);
    failing = false;
    db = openDb();
    const second = runner(db, faulty.projection);
    await second.start();
    await append('orders-2', 2, 10); // 11-12
    await caughtUp(second);
    expect(faulty.applied.slice(8)).toEqual([5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n]); // resumed after the checkpoint

    const rebuiltDb = openDb('rebuilt.sqlite');
    const rebuilt = runner(rebuiltDb, itemsProjection().projection);
    await rebuilt.start();
    await caughtUp(rebuilt);
    expect(rows(db)).toHaveLength(12);
    expect(rows(db)).toEqual(rows(rebuiltDb));
    expect(storedCheckpoint(db)).toBe(12n);
    expect(storedCheckpoint(rebuiltDb)).toBe(12n);
  });

  it('commits in batches of batchMax: a failure loses only its own batch', async () => {
    await append('orders-1', 10, 0); // positions 1-10, all there before the runner starts
    const faulty = itemsProjection((event) => event.position === 8n);
    const db = openDb();
    const projectionRunner = runner(db, faulty.projection, { batchMax: 3 });
    await projectionRunner.start();
    await expect(projectionRunner.closed).rejects.toThrow('apply failed on position 8');
    // Batches [1-3], [4-6] committed; [7-9] failed at 8 and left nothing.
    expect(rows(db).map((row) => row.position)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(storedCheckpoint(db)).toBe(6n);
  });

  it('resumes from its checkpoint after a restart, applying each event once', async () => {
    await append('orders-1', 5, 0);
    const counting = itemsProjection();
    let db = openDb();
    const first = runner(db, counting.projection);
    await first.start();
    await caughtUp(first);
    await first.stop();
    await expect(first.closed).resolves.toBeUndefined();
    closeDb(db);

    await append('orders-1', 3, 5); // 6-8, while the projection is down
    db = openDb();
    const second = runner(db, counting.projection);
    await second.start();
    await caughtUp(second);
    expect(counting.applied).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    expect(rows(db)).toHaveLength(8);
    expect(second.position()).toBe(8n);
  });

  /** Projects positions 1-4 into a fresh db and stops; hands back that db and a store that always reads from the start, as after a redelivery. */
  async function checkpointedAt4(): Promise<{ db: Database.Database; redelivering: EventStore }> {
    await append('orders-1', 4, 0);
    const db = openDb();
    const first = runner(db, itemsProjection().projection);
    await first.start();
    await caughtUp(first);
    await first.stop();
    const redelivering: EventStore = Object.create(store) as EventStore;
    redelivering.readAll = (options) => store.readAll({ ...options, afterPosition: 0n });
    return { db, redelivering };
  }

  it('skips events at or below the stored checkpoint when the store hands them out again', async () => {
    const { db, redelivering } = await checkpointedAt4();
    await append('orders-1', 2, 4); // 5-6
    const counting = itemsProjection();
    const second = runner(db, counting.projection, { store: redelivering });
    await second.start();
    await caughtUp(second);
    expect(counting.applied).toEqual([5n, 6n]);
    expect(rows(db).map((row) => row.position)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('hands a projection with applyBatch each page at once, without the events at or below the checkpoint', async () => {
    const { db, redelivering } = await checkpointedAt4();
    await append('orders-1', 5, 4); // 5-9
    const items = itemsProjection();
    const pages: bigint[][] = [];
    const batched: Projection = {
      ...items.projection,
      applyBatch(batchDb, events) {
        pages.push(events.map((event) => event.position));
        for (const event of events) items.projection.apply(batchDb, event);
      },
    };
    const second = runner(db, batched, { store: redelivering });
    await second.start();
    await caughtUp(second);
    // One page read from position 0: 1-9, of which 1-4 were applied before.
    expect(pages).toEqual([[5n, 6n, 7n, 8n, 9n]]);
    expect(items.applied).toEqual([5n, 6n, 7n, 8n, 9n]);
    expect(rows(db).map((row) => row.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(storedCheckpoint(db)).toBe(9n);
  });

  it('keeps applying after its file was locked by another connection for a while (SQLITE_BUSY at a page), readiness false meanwhile', async () => {
    const db = openProjectionDb(join(dir, 'projection.sqlite'), { busyTimeoutMs: 0 });
    dbs.push(db);
    let rolledBack = 0;
    const { projection } = itemsProjection();
    const projectionRunner = runner(db, { ...projection, rolledBack: () => void rolledBack++ });
    await projectionRunner.start();
    await caughtUp(projectionRunner);
    // Another process (a second host, an operator's sqlite3 shell) holds the file's write lock.
    const other = openDb();
    other.exec('BEGIN IMMEDIATE');
    const position = await append('orders-1', 3);
    await waitFor('a page refused by the lock', () => rolledBack > 0, { timeoutMs: WAIT_MS });
    expect(projectionRunner.caughtUp(position)).toBe(false);
    other.exec('COMMIT');
    // It stopped for good at the refused page: not ready until the process restarted.
    expect(await projectionRunner.waitUntil(position, WAIT_MS)).toBe(true);
    expect(rows(db).map((row) => row.position)).toEqual([1, 2, 3]);
    expect(storedCheckpoint(db)).toBe(3n);
  });

  it('keeps applying after a read of the store failed (an I/O error)', async () => {
    await append('orders-1', 2);
    let failures = 0;
    const flaky: EventStore = Object.create(store) as EventStore;
    flaky.readAll = async (options) => {
      if (failures++ === 0) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' });
      return store.readAll(options);
    };
    const db = openDb();
    const projectionRunner = runner(db, itemsProjection().projection, { store: flaky });
    await projectionRunner.start();
    // It stopped for good at the failed read.
    await caughtUp(projectionRunner);
    expect(failures).toBeGreaterThan(1);
    expect(rows(db).map((row) => row.position)).toEqual([1, 2]);
  });

  it('refuses to start from a checkpoint beyond the store\'s head (its file was built from another store): it would skip the events up to it', async () => {
    await append('orders-1', 5);
    const db = openDb();
    const first = runner(db, itemsProjection().projection);
    await first.start();
    await caughtUp(first);
    await first.stop();
    const otherStore = new SqliteEventStore({ file: join(dir, 'other-events.sqlite') });
    try {
      await otherStore.append('orders-2', newEvents(2), expectedState.any);
      const second = runner(db, itemsProjection().projection, { store: otherStore });
      await expect(second.start()).rejects.toThrow("projection items: checkpoint 5 is beyond the event store's head 2");
      await expect(second.closed).rejects.toThrow('beyond the event store');
      expect(second.caughtUp(2n)).toBe(false);
      await second.stop();
    } finally {
      await otherStore.close();
    }
  });

  it('still stops on an error of its own apply (it would fail the same way again)', async () => {
    await append('orders-1', 2);
    const projectionRunner = runner(openDb(), itemsProjection((event) => event.position === 2n).projection);
    await projectionRunner.start();
    await expect(projectionRunner.closed).rejects.toThrow('apply failed on position 2');
  });

  it('waitUntil answers false at its deadline and after stop; start runs once', async () => {
    const db = openDb();
    const projectionRunner = runner(db, itemsProjection().projection);
    await projectionRunner.start();
    await expect(projectionRunner.start()).rejects.toThrow('start() on a running runner');
    expect(await projectionRunner.waitUntil(1_000n, 20)).toBe(false);
    const pending = projectionRunner.waitUntil(1_000n, WAIT_MS);
    await projectionRunner.stop();
    expect(await pending).toBe(false);
    expect(projectionRunner.caughtUp(0n)).toBe(false);
    expect(() => projectionRunner.waitUntil(1n, -1)).toThrow(RangeError);
  });

  it('opens its file in WAL mode, synchronous=NORMAL, checkpointing every PROJECTION_WAL_AUTOCHECKPOINT_PAGES pages', () => {
    const db = openDb();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(PROJECTION_WAL_AUTOCHECKPOINT_PAGES);
    expect(db.pragma('journal_size_limit', { simple: true })).toBe(PROJECTION_WAL_SIZE_LIMIT_BYTES);
  });

  it('opens a rebuild file for a bulk load (rollback journal, no fsync, exclusive lock), and only a fresh one', () => {
    const db = openRebuildDb(join(dir, 'rebuilt.sqlite'), 8 * 1024);
    dbs.push(db);
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(db.pragma('synchronous', { simple: true })).toBe(0);
    expect(db.pragma('locking_mode', { simple: true })).toBe('exclusive');
    expect(db.pragma('cache_size', { simple: true })).toBe(-8 * 1024);
    // A failed page is rolled back to its savepoint inside the bulk transaction.
    const { projection } = itemsProjection((event) => event.position === 2n);
    projection.setup(db);
    expect(db.pragma('page_size', { simple: true })).toBe(REBUILD_PAGE_SIZE_BYTES);
    db.exec('BEGIN');
    const page = db.transaction(() => {
      for (const position of [1n, 2n]) projection.apply(db, { position, streamId: 'orders-1', data: { n: 0 } } as unknown as RecordedEvent);
    });
    expect(() => page()).toThrow('apply failed on position 2');
    db.exec('COMMIT');
    expect(rows(db)).toEqual([]);
    const live = openDb();
    live.exec('CREATE TABLE t (x)');
    expect(() => openRebuildDb(join(dir, 'projection.sqlite'), 8 * 1024)).toThrow('not a fresh file');
    expect(() => openRebuildDb(join(dir, 'other.sqlite'), 10)).toThrow(RangeError);
  });
});
