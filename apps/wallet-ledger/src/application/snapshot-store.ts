// Where shard writers keep their snapshots: a cache to start fast, never a source of truth
// (delete the file and the writer folds its whole stream instead).
import Database from 'better-sqlite3';
import type { LedgerSnapshot } from '@ledger/ledger';

export interface StoredSnapshot {
  /** The last stream revision the snapshot includes. */
  readonly revision: bigint;
  /** The chain hash of the stream's event at `revision` when it was taken (null: none, an empty stream): the writer uses it only on a stream still holding that event. */
  readonly lastEventHash: string | null;
  /**
   * The snapshot's parts in order, read and parsed one at a time as they are iterated (once,
   * synchronously; see `fromSnapshotParts`); iterating throws if the stored snapshot is incomplete.
   */
  readonly parts: Iterable<LedgerSnapshot>;
}

/** The revision a stored snapshot names, as the writer reads it (the audit holds a snapshot against its stream at this one); throws when it names none. */
export function snapshotRevisionOf(text: string): bigint {
  return BigInt(text);
}

export interface SnapshotStore {
  load(shard: number): Promise<StoredSnapshot | undefined>;
  /** Keeps `parts` (one snapshot in order, see `snapshotParts`) in place of the last; reads them all before its first await. */
  save(shard: number, revision: bigint, lastEventHash: string | null, parts: Iterable<LedgerSnapshot>): Promise<void>;
  close(): Promise<void>;
}

export class SqliteSnapshotStore implements SnapshotStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // One head row per shard (its body names how many parts follow), the parts in their own rows.
    this.db.exec('CREATE TABLE IF NOT EXISTS ledger_snapshots (shard INTEGER PRIMARY KEY, revision TEXT NOT NULL, body TEXT NOT NULL)');
    this.db.exec('CREATE TABLE IF NOT EXISTS ledger_snapshot_parts (shard INTEGER NOT NULL, part INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (shard, part))');
  }

  async load(shard: number): Promise<StoredSnapshot | undefined> {
    const row = this.db.prepare('SELECT revision, body FROM ledger_snapshots WHERE shard = ?').get(shard) as
      | { revision: string; body: string }
      | undefined;
    if (row === undefined) return undefined;
    const head = JSON.parse(row.body) as LedgerSnapshot | { parts: number; lastEventHash?: unknown };
    // A head without `parts` is a whole snapshot of an earlier format: the writer refuses it and folds the stream.
    if (!('parts' in head)) return { revision: snapshotRevisionOf(row.revision), lastEventHash: null, parts: [head] };
    const expected = head.parts;
    const lastEventHash = typeof head.lastEventHash === 'string' ? head.lastEventHash : null;
    const bodies = this.db.prepare('SELECT body FROM ledger_snapshot_parts WHERE shard = ? ORDER BY part').pluck();
    function* parts(): Generator<LedgerSnapshot> {
      let count = 0;
      for (const body of bodies.iterate(shard) as IterableIterator<string>) {
        count++;
        yield JSON.parse(body) as LedgerSnapshot;
      }
      if (count !== expected) throw new Error(`snapshot of shard ${shard}: ${count} of ${expected} parts`);
    }
    return { revision: snapshotRevisionOf(row.revision), lastEventHash, parts: parts() };
  }

  async save(shard: number, revision: bigint, lastEventHash: string | null, parts: Iterable<LedgerSnapshot>): Promise<void> {
    const insertPart = this.db.prepare('INSERT INTO ledger_snapshot_parts (shard, part, body) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM ledger_snapshot_parts WHERE shard = ?').run(shard);
      let count = 0;
      for (const part of parts) insertPart.run(shard, count++, JSON.stringify(part));
      this.db
        .prepare('INSERT INTO ledger_snapshots (shard, revision, body) VALUES (?, ?, ?) ON CONFLICT(shard) DO UPDATE SET revision = excluded.revision, body = excluded.body')
        .run(shard, revision.toString(), JSON.stringify({ parts: count, lastEventHash }));
    })();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** For tests and for running without snapshots. */
export class InMemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<number, { revision: bigint; lastEventHash: string | null; bodies: string[] }>();
  async load(shard: number): Promise<StoredSnapshot | undefined> {
    const stored = this.snapshots.get(shard);
    return stored && { revision: stored.revision, lastEventHash: stored.lastEventHash, parts: stored.bodies.map((body) => JSON.parse(body) as LedgerSnapshot) };
  }
  async save(shard: number, revision: bigint, lastEventHash: string | null, parts: Iterable<LedgerSnapshot>): Promise<void> {
    this.snapshots.set(shard, { revision, lastEventHash, bodies: Array.from(parts, (part) => JSON.stringify(part)) });
  }
  async close(): Promise<void> {}
}
