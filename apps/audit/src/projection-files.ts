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
  readonly projection: Projection;
  readonly applier: ProjectionApplier;
  failed: boolean;
}

interface RebuiltFile {
  readonly file: string;
  readonly db: Database.Database;
  readonly targets: readonly Target[];
  /** Rolled back once (a page failed): from then on each page in its own savepoint, so a failure names its event. */
  careful: boolean;
}

/** Events to read again for files whose transaction was rolled back: positions in (afterPosition, throughPosition]. */
export interface RebuildRedo {
  readonly files: ReadonlySet<string>;
  readonly afterPosition: bigint;
  readonly throughPosition: bigint;
}

/**
 * Rebuilds every known projection file into `outDir` from pages of events fed in position order.
 * Pages are applied straight into transactions of REBUILD_COMMIT_EVENTS, without a savepoint each
 * (a savepoint copies aside every page it touches: most of a bulk load's I/O). When a page fails,
 * its file's transaction rolls back to the last commit and `takeRedo` names what to feed again
 * (`feedAgain`), a page per savepoint, so the event the projection could not apply is named.
 */
export class ProjectionRebuild {
  private readonly files: RebuiltFile[] = [];
  private uncommittedEvents = 0;
  /** Position of the last event fed before the last commit (what a rollback goes back to). */
  private committedThrough = 0n;
  /** Position of the last event fed. */
  private fedThrough = 0n;
  private readonly rolledBack = new Set<string>();
  /** Where the redo of the files rolled back starts (the last commit when the first of them rolled back). */
  private redoAfter = 0n;
  readonly failures: RebuildFailure[] = [];

  constructor(
    outDir: string,
    private readonly commitEvents: number = REBUILD_COMMIT_EVENTS,
  ) {
    for (const { file, projections } of PROJECTION_FILES) {
      // A fresh scratch file nobody reads before the rebuild ends: bulk-load settings (see openRebuildDb).
      const db = openRebuildDb(join(outDir, file), REBUILD_CACHE_KIB);
      const targets = projections.map((projection) => ({ projection, applier: projectionApplier(db, projection), failed: false }));
      this.files.push({ file, db, targets, careful: false });
    }
  }

  /** Applies one page (position order, after every page fed before) to every projection it concerns. */
  feed(page: readonly RecordedEvent[]): void {
    if (page.length === 0) return;
    for (const file of this.files) this.apply(file, page);
    this.fedThrough = page[page.length - 1].position;
    this.uncommittedEvents += page.length;
    if (this.uncommittedEvents >= this.commitEvents) this.commit();
  }

  /** The events to feed again (with `feedAgain`) since files were rolled back, once; undefined when none were. */
  takeRedo(): RebuildRedo | undefined {
    if (this.rolledBack.size === 0) return undefined;
    const redo = { files: new Set(this.rolledBack), afterPosition: this.redoAfter, throughPosition: this.fedThrough };
    this.rolledBack.clear();
    return redo;
  }

  /** Applies a page of a redo (see `takeRedo`) again, to the files rolled back only. */
  feedAgain(redo: RebuildRedo, page: readonly RecordedEvent[]): void {
    for (const file of this.files) if (redo.files.has(file.file)) this.apply(file, page);
  }

  private apply(file: RebuiltFile, page: readonly RecordedEvent[]): void {
    if (!file.db.inTransaction) file.db.exec('BEGIN');
    for (const target of file.targets) {
      if (target.failed) continue;
      const prefixes = target.projection.streamPrefixes;
      const events = page.filter((event) => prefixes.some((prefix) => event.streamId.startsWith(prefix)));
      if (events.length === 0) continue;
      if (!file.careful) {
        try {
          target.applier.applyInTransaction(events);
        } catch {
          this.rollBack(file);
          return;
        }
        continue;
      }
      try {
        target.applier.applyBatch(events);
      } catch {
        // The page rolled back whole (its savepoint): apply it again one event at a time to name the one that fails.
        this.failOn(file.file, target, events);
      }
    }
  }

  /** Back to the last commit, every projection of the file told; its pages since then are fed again, carefully. */
  private rollBack(file: RebuiltFile): void {
    if (file.db.inTransaction) file.db.exec('ROLLBACK');
    for (const target of file.targets) target.applier.rolledBack();
    file.careful = true;
    // Taken now: a commit of the other files at the end of this page moves `committedThrough` on.
    if (this.rolledBack.size === 0) this.redoAfter = this.committedThrough;
    this.rolledBack.add(file.file);
  }

  private commit(): void {
    for (const { db } of this.files) if (db.inTransaction) db.exec('COMMIT');
    this.uncommittedEvents = 0;
    this.committedThrough = this.fedThrough;
  }

  private failOn(file: string, target: Target, events: readonly RecordedEvent[]): void {
    target.failed = true;
    for (const event of events) {
      try {
        target.applier.applyBatch([event]);
      } catch (error) {
        this.failures.push({ file, projection: target.projection.name, event, message: (error as Error).message });
        return;
      }
    }
    this.failures.push({ file, projection: target.projection.name, event: events[0], message: 'the page failed as a whole, but no single event of it did' });
  }

  /** Commits what is applied (a failed target's rows stay as far as they got) and closes the files. */
  close(): void {
    try {
      this.commit();
    } finally {
      for (const { db } of this.files) if (db.open) db.close();
    }
  }
}
