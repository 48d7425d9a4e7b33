// The projection files of a data dir (apps/host/src/host.ts names them), rebuilt from the store
// with each service's own projection code and libs/event-store's `projectionApplier` (the
// runner's batch and checkpoint code), into a fresh directory.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { RecordedEvent } from '@ledger/contracts';
import { openRebuildDb, projectionApplier, type Projection, type ProjectionApplier } from '@ledger/event-store';
import { walletLedgerProjection } from '../../wallet-ledger/src/projections/wallet-ledger.projection';
import { identityUsersProjection } from '../../identity/src/projections/identity-users.projection';
import { cardIssuerProjection } from '../../card-issuer/src/projections/card-issuer.projection';

export const EVENT_STORE_FILE = 'events.sqlite';
/** SQLite page cache of each rebuilt file. */
export const REBUILD_CACHE_KIB = 128 * 1024;
/**
 * Events per transaction of a rebuilt file (each page inside is a savepoint): a commit writes
 * every page it dirtied, and the hot ones (each account's last history and line leaves) are the
 * same from page to page, so fewer commits write them fewer times.
 */
export const REBUILD_COMMIT_EVENTS = 200_000;

export interface ProjectionFile {
  /** File name in the data dir. */
  readonly file: string;
  readonly projections: readonly Projection[];
}

/** Every projection file the audit knows how to rebuild. */
export const PROJECTION_FILES: readonly ProjectionFile[] = [
  { file: 'wallet-ledger.sqlite', projections: [walletLedgerProjection] },
  { file: 'identity.sqlite', projections: [identityUsersProjection] },
  { file: 'card-issuer.sqlite', projections: [cardIssuerProjection] },
];

/** SQLite files of a data dir that are not projections, and why they are not compared. */
const OTHER_SQLITE_FILES: Readonly<Record<string, string>> = {
  [EVENT_STORE_FILE]: 'the event store itself',
  'wallet-ledger-snapshots.sqlite': "the shard writers' snapshots (a start-up cache, not a projection)",
  'snapshots.sqlite': "the shard writers' snapshots (a start-up cache, not a projection)",
};

/** What the audit does with each SQLite file of the data dir: notes for the files it skips. */
export function dataDirNotes(dataDir: string): string[] {
  const known = new Set(PROJECTION_FILES.map((each) => each.file));
  const notes: string[] = [];
  for (const name of readdirSync(dataDir).sort()) {
    if (!name.endsWith('.sqlite') || known.has(name)) continue;
    const why = OTHER_SQLITE_FILES[name];
    if (why === undefined) notes.push(`${name}: unknown file, skipped (no projection code for it in this audit)`);
    else if (name !== EVENT_STORE_FILE) notes.push(`${name}: ${why}, not compared`);
  }
  for (const { file } of PROJECTION_FILES) if (!existsSync(join(dataDir, file))) notes.push(`${file}: not in the data dir, rebuilt but not compared`);
  return notes;
}

/** A projection whose rebuild failed: the event it failed on, and why. */
export interface RebuildFailure {
  readonly file: string;
  readonly projection: string;
  readonly event: RecordedEvent;
  readonly message: string;
}

interface Target {
  readonly file: string;
  readonly projection: Projection;
  readonly applier: ProjectionApplier;
  failed: boolean;
}

/** Rebuilds every known projection file into `outDir` from pages of events fed in position order. */
export class ProjectionRebuild {
  private readonly dbs: Database.Database[] = [];
  private readonly targets: Target[] = [];
  private uncommittedEvents = 0;
  readonly failures: RebuildFailure[] = [];

  constructor(outDir: string) {
    for (const { file, projections } of PROJECTION_FILES) {
      // A fresh scratch file nobody reads before the rebuild ends: bulk-load settings (see openRebuildDb).
      const db = openRebuildDb(join(outDir, file), REBUILD_CACHE_KIB);
      this.dbs.push(db);
      for (const projection of projections) this.targets.push({ file, projection, applier: projectionApplier(db, projection), failed: false });
    }
  }

  /**
   * Applies one page (position order) to every projection it concerns: each page is one
   * savepoint (the applier's transaction, nested) inside a transaction of up to REBUILD_COMMIT_EVENTS.
   */
  feed(page: readonly RecordedEvent[]): void {
    for (const db of this.dbs) if (!db.inTransaction) db.exec('BEGIN');
    for (const target of this.targets) {
      if (target.failed) continue;
      const prefixes = target.projection.streamPrefixes;
      const events = page.filter((event) => prefixes.some((prefix) => event.streamId.startsWith(prefix)));
      if (events.length === 0) continue;
      try {
        target.applier.applyBatch(events);
      } catch {
        // The page rolled back whole: apply it again one event at a time to name the one that fails.
        this.failOn(target, events);
      }
    }
    this.uncommittedEvents += page.length;
    if (this.uncommittedEvents >= REBUILD_COMMIT_EVENTS) this.commit();
  }

  private commit(): void {
    for (const db of this.dbs) if (db.inTransaction) db.exec('COMMIT');
    this.uncommittedEvents = 0;
  }

  private failOn(target: Target, events: readonly RecordedEvent[]): void {
    target.failed = true;
    for (const event of events) {
      try {
        target.applier.applyBatch([event]);
      } catch (error) {
        this.failures.push({ file: target.file, projection: target.projection.name, event, message: (error as Error).message });
        return;
      }
    }
    this.failures.push({ file: target.file, projection: target.projection.name, event: events[0], message: 'the page failed as a whole, but no single event of it did' });
  }

  /** Commits what is applied (a failed target's rows stay as far as they got) and closes the files. */
  close(): void {
    try {
      this.commit();
    } finally {
      for (const db of this.dbs) if (db.open) db.close();
    }
  }
}
