// Opens a projection's own SQLite file (DESIGN.md §10: one per service under DATA_DIR, never a source of truth).
import Database from 'better-sqlite3';

/** How long a writer waits for another connection's write lock before failing with SQLITE_BUSY. */
export const PROJECTION_BUSY_TIMEOUT_MS_DEFAULT = 5_000;

/**
 * WAL pages before SQLite copies them back into the file (its default is 1,000). A projection
 * batch rewrites the same hot pages (account rows, index pages) over and over; checkpointing
 * every 10,000 pages copies each of them once per 10,000 instead of after almost every batch.
 */
export const PROJECTION_WAL_AUTOCHECKPOINT_PAGES = 10_000;
/** What the WAL file is truncated back to after a checkpoint, so it does not stay at its largest. */
export const PROJECTION_WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** What `PRAGMA synchronous` reads back for NORMAL. */
const SYNCHRONOUS_NORMAL = 1;

export interface ProjectionDbOptions {
  readonly busyTimeoutMs?: number;
}

/**
 * A projection database in WAL mode (readers never block the runner's batch commits). `file`
 * may be ':memory:' in tests; the caller owns the handle and closes it.
 */
export function openProjectionDb(file: string, options: ProjectionDbOptions = {}): Database.Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? PROJECTION_BUSY_TIMEOUT_MS_DEFAULT;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 600_000) {
    throw new RangeError(`busyTimeoutMs must be an integer from 0 to 600000, got ${busyTimeoutMs}`);
  }
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const journalMode = db.pragma('journal_mode = WAL', { simple: true });
    if (journalMode !== 'wal' && !db.memory) throw new Error(`projection db ${file}: could not enable WAL (journal_mode is ${String(journalMode)})`);
    // NORMAL, not FULL: power loss may drop the last batches, but the checkpoint commits with its
    // rows, so what survives is consistent and the runner replays the rest from the event store.
    db.pragma('synchronous = NORMAL');
    if (db.pragma('synchronous', { simple: true }) !== SYNCHRONOUS_NORMAL) throw new Error(`projection db ${file}: synchronous=NORMAL did not take`);
    db.pragma(`wal_autocheckpoint = ${PROJECTION_WAL_AUTOCHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${PROJECTION_WAL_SIZE_LIMIT_BYTES}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Caches what `prepare` builds (prepared statements) once per database handle, so one
 * projection or query module can serve several databases (a live one and a rebuild).
 */
export function perDatabase<T>(prepare: (db: Database.Database) => T): (db: Database.Database) => T {
  const cache = new WeakMap<Database.Database, T>();
  return (db) => {
    let prepared = cache.get(db);
    if (prepared === undefined) {
      prepared = prepare(db);
      cache.set(db, prepared);
    }
    return prepared;
  };
}

/**
 * Page size of a rebuilt file (SQLite's default is 4 KiB): a bulk load's inserts land all over its
 * B-trees, and fewer, larger leaves took ~8% off a 1M-event replay's CPU (16, 32 or 64 KiB alike).
 */
export const REBUILD_PAGE_SIZE_BYTES = 16 * 1024;

/** The rebuild's journal: SQLite's rollback journal on disk (so a savepoint can roll a failed page back), never fsynced. */
const REBUILD_JOURNAL_MODE = 'delete';

/**
 * A FRESH projection file that a rebuild fills from position 0 and nobody reads until it is
 * done (the audit CLI's replay): nothing to keep through a crash (the rebuild just runs again),
 * so no fsync, one connection holding the lock for its whole life (the journal file then stays
 * open between transactions, deleted at close), and a fixed page cache of `cacheKib`. The journal
 * stays on disk, not in memory: a journal in memory grew the process by the pages each large
 * transaction touched. Pages of REBUILD_PAGE_SIZE_BYTES. Never for a live projection: those keep
 * `openProjectionDb`'s WAL and synchronous=NORMAL.
 */
export function openRebuildDb(file: string, cacheKib: number): Database.Database {
  if (!Number.isInteger(cacheKib) || cacheKib < 1_024 || cacheKib > 4 * 1024 * 1024) throw new RangeError(`cacheKib must be an integer from 1024 to 4194304, got ${cacheKib}`);
  const db = new Database(file);
  try {
    if (db.prepare('SELECT count(*) AS n FROM sqlite_master').pluck().get() !== 0) throw new Error(`rebuild db ${file}: not a fresh file`);
    // Before anything is written: a fresh file takes its page size then.
    db.pragma(`page_size = ${REBUILD_PAGE_SIZE_BYTES}`);
    if (db.pragma(`journal_mode = ${REBUILD_JOURNAL_MODE}`, { simple: true }) !== REBUILD_JOURNAL_MODE && !db.memory) throw new Error(`rebuild db ${file}: could not set journal_mode ${REBUILD_JOURNAL_MODE}`);
    db.pragma('synchronous = OFF');
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma(`cache_size = -${cacheKib}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
