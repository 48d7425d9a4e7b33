// Where shard writers keep their snapshots: a cache to start fast, never a source of truth
// (delete the file and the writer folds its whole stream instead).
import Database from 'better-sqlite3';
import type { LedgerSnapshot } from '@ledger/ledger';

export interface StoredSnapshot {
  /** The last stream revision the snapshot includes. */
  readonly revision: bigint;
  readonly snapshot: LedgerSnapshot;
}

export interface SnapshotStore {
  load(shard: number): Promise<StoredSnapshot | undefined>;
  save(shard: number, revision: bigint, snapshot: LedgerSnapshot): Promise<void>;
  close(): Promise<void>;
}

export class SqliteSnapshotStore implements SnapshotStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS ledger_snapshots (shard INTEGER PRIMARY KEY, revision TEXT NOT NULL, body TEXT NOT NULL)');
  }

  async load(shard: number): Promise<StoredSnapshot | undefined> {
    const row = this.db.prepare('SELECT revision, body FROM ledger_snapshots WHERE shard = ?').get(shard) as
      | { revision: string; body: string }
      | undefined;
    if (row === undefined) return undefined;
    return { revision: BigInt(row.revision), snapshot: JSON.parse(row.body) as LedgerSnapshot };
  }

  async save(shard: number, revision: bigint, snapshot: LedgerSnapshot): Promise<void> {
    this.db
      .prepare('INSERT INTO ledger_snapshots (shard, revision, body) VALUES (?, ?, ?) ON CONFLICT(shard) DO UPDATE SET revision = excluded.revision, body = excluded.body')
      .run(shard, revision.toString(), JSON.stringify(snapshot));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** For tests and for running without snapshots. */
export class InMemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<number, { revision: bigint; body: string }>();
  async load(shard: number): Promise<StoredSnapshot | undefined> {
    const stored = this.snapshots.get(shard);
    return stored && { revision: stored.revision, snapshot: JSON.parse(stored.body) as LedgerSnapshot };
  }
  async save(shard: number, revision: bigint, snapshot: LedgerSnapshot): Promise<void> {
    this.snapshots.set(shard, { revision, body: JSON.stringify(snapshot) });
  }
  async close(): Promise<void> {}
}
