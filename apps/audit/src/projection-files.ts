// The projection files of a data dir (apps/host/src/host.ts names them), rebuilt from the store
// with each service's own projection code and libs/event-store's `projectionApplier` (the
// runner's batch and checkpoint code), into a fresh directory.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { RecordedEvent } from '@ledger/contracts';
import { openRebuildDb, projectionApplier, type Projection, type ProjectionApplier } from '@ledger/event-store';
import { shardOfStream, walletLedgerProjection } from '../../wallet-ledger/src/projections/wallet-ledger.projection';
import { identityUsersProjection } from '../../identity/src/projections/identity-users.projection';
import { cardIssuerProjection } from '../../card-issuer/src/projections/card-issuer.projection';
import { SNAPSHOT_FILES } from './snapshot-check';

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
  /**
   * When the file's rows split by stream into independent parts (no row of one part depends on
   * another part's events): the part of `count` a stream's events go to. Such a file can be
   * rebuilt part by part in parallel, then merged (`mergeRebuildParts`).
   */
  readonly partOfStream?: (streamId: string, count: number) => number;
}

/** Every projection file the audit knows how to rebuild. */
export const PROJECTION_FILES: readonly ProjectionFile[] = [
  // A ledger shard's events only touch the shard's own accounts (verify checks it); `ledger-meta` has no rows.
  { file: 'wallet-ledger.sqlite', projections: [walletLedgerProjection], partOfStream: (streamId, count) => (shardOfStream(streamId) ?? 0) % count },
  { file: 'identity.sqlite', projections: [identityUsersProjection] },
  { file: 'card-issuer.sqlite', projections: [cardIssuerProjection] },
];

/** verify holds them against the streams (./snapshot-check.ts), not as projections. */
const SNAPSHOTS_NOTE = "the shard writers' snapshots, each compared with its stream folded to its revision";

/** SQLite files of a data dir that are not projections, and why they are not compared as such. */
const OTHER_SQLITE_FILES: Readonly<Record<string, string>> = {
  [EVENT_STORE_FILE]: 'the event store itself',
  // @ledger/messaging's DEAD_LETTERS_FILE (not imported: the audit would load the bus and Nest for a name).
  'dead-letters.sqlite': "the bus's dead letters (messages no consumer could handle), not events",
  ...Object.fromEntries(SNAPSHOT_FILES.map((file) => [file, SNAPSHOTS_NOTE])),
};

/** What the audit does with each SQLite file of the data dir: notes for the files it skips. */
export function dataDirNotes(dataDir: string): string[] {
  const known = new Set(PROJECTION_FILES.map((each) => each.file));
  const notes: string[] = [];
  for (const name of readdirSync(dataDir).sort()) {
    if (!name.endsWith('.sqlite') || known.has(name)) continue;
    const why = OTHER_SQLITE_FILES[name];
    if (why === undefined) notes.push(`${name}: unknown file, skipped (no projection code for it in this audit)`);
    else if (why === SNAPSHOTS_NOTE) notes.push(`${name}: ${why}`);
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
  /** The events of this file's part (all of them unless the rebuild is one part of several). */
  readonly inPart: (event: RecordedEvent) => boolean;
  readonly db: Database.Database;
  readonly targets: readonly Target[];
  /** Rolled back once (a page failed): from then on each page in its own savepoint, so a failure names its event. */
  careful: boolean;
  /** The live file's checkpoint, when the rebuild is also kept as it stood there (see `ProjectionRebuild`). */
  readonly through: bigint | undefined;
  /** Its events past `through` (of this part). */
  behind: number;
  /** Kept as it stood at `through` (`checkpointCopyFile`). */
  copied: boolean;
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

  /**
   * `part`: this rebuild is one of `count` (see `RebuildPart`); by default the whole of every file.
   * `through`: for a file of one projection named there, the rebuild as it stands at that position
   * (the live file's checkpoint) is also copied to `checkpointCopyFile`, once one of its events lies
   * beyond it: verify compares a file behind the store (a host killed before its runner caught up)
   * with that copy, and still applies the rest, which the runner applies on start.
   */
  constructor(
    private readonly outDir: string,
    private readonly commitEvents: number = REBUILD_COMMIT_EVENTS,
    part?: RebuildPart,
    through: ReadonlyMap<string, bigint> = new Map(),
  ) {
    for (const { file, projections, partOfStream } of PROJECTION_FILES) {
      const split = part !== undefined && partOfStream !== undefined;
      // Files that do not split are rebuilt whole by the first part.
      if (part !== undefined && !split && part.index !== 0) continue;
      const inPart = split ? (event: RecordedEvent) => partOfStream(event.streamId, part.count) === part.index : () => true;
      // A fresh scratch file nobody reads before the rebuild ends: bulk-load settings (see openRebuildDb).
      // A part's file holds 1/count of the rows, so it gets 1/count of the page cache.
      const db = openRebuildDb(split ? partFile(outDir, file, part.index) : join(outDir, file), split ? Math.floor(REBUILD_CACHE_KIB / part.count) : REBUILD_CACHE_KIB);
      const targets = projections.map((projection) => ({ projection, applier: projectionApplier(db, projection), failed: false }));
      // Several projections of one file have a checkpoint each: no one position to copy it at (none has yet).
      const fileThrough = projections.length === 1 ? through.get(projections[0].name) : undefined;
      this.files.push({ file, inPart, db, targets, careful: false, through: fileThrough, behind: 0, copied: false });
    }
  }

  /** Applies one page (position order, after every page fed before) to every projection it concerns. */
  feed(page: readonly RecordedEvent[]): void {
    if (page.length === 0) return;
    for (const file of this.files) {
      // Counted here: a page fed again after a rollback has the same events.
      const { through } = file;
      if (through !== undefined && page[page.length - 1].position > through) file.behind += this.eventsOf(file, page).filter((event) => event.position > through).length;
      this.apply(file, page);
    }
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

  /** Per file with a `through`: how many of its events lie beyond it (of this part). */
  behind(): Map<string, number> {
    return new Map(this.files.flatMap((file) => (file.through === undefined ? [] : [[file.file, file.behind] as const])));
  }

  /** As applyPage, but the first time an event of the file lies beyond its `through`, copies the file as it stands before it. */
  private apply(file: RebuiltFile, page: readonly RecordedEvent[]): void {
    const { through } = file;
    const beyond = through === undefined || file.copied ? undefined : this.eventsOf(file, page).find((event) => event.position > through);
    if (beyond === undefined) return this.applyPage(file, page);
    const cut = page.indexOf(beyond);
    if (cut > 0) {
      this.applyPage(file, page.slice(0, cut));
      if (this.rolledBack.has(file.file)) return; // its redo comes round to the cut again
    }
    if (file.db.inTransaction) file.db.exec('COMMIT');
    file.db.prepare('VACUUM INTO ?').run(checkpointCopyFile(this.outDir, file.file));
    file.copied = true;
    this.applyPage(file, page.slice(cut));
  }

  /** The events of `page` some projection of `file` follows, of its part. */
  private eventsOf(file: RebuiltFile, page: readonly RecordedEvent[]): RecordedEvent[] {
    return page.filter((event) => file.inPart(event) && file.targets.some(({ projection }) => projection.streamPrefixes.some((prefix) => event.streamId.startsWith(prefix))));
  }

  private applyPage(file: RebuiltFile, page: readonly RecordedEvent[]): void {
    if (!file.db.inTransaction) file.db.exec('BEGIN');
    for (const target of file.targets) {
      if (target.failed) continue;
      const prefixes = target.projection.streamPrefixes;
      const events = page.filter((event) => prefixes.some((prefix) => event.streamId.startsWith(prefix)) && file.inPart(event));
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

/** Where a rebuild keeps a file as it stood at the live file's checkpoint (see ProjectionRebuild), beside the file in `outDir`. */
export function checkpointCopyFile(outDir: string, file: string): string {
  return join(outDir, `${file}.at-checkpoint`);
}

/** One of `count` rebuilds run side by side: files with `partOfStream` get only their part's events. */
export interface RebuildPart {
  readonly index: number;
  readonly count: number;
}

/**
 * Which events part `part` parses as it reads them: those of its own part of a split file, and
 * (the first part) every other one, so each event is parsed at read by exactly one part and an
 * event that is not JSON still fails the read. The others are parsed only if read.
 */
export function partParses(part: RebuildPart): (streamId: string) => boolean {
  return (streamId) => {
    const split = PROJECTION_FILES.find(({ projections, partOfStream }) => partOfStream !== undefined && consumes(projections, streamId));
    return split?.partOfStream === undefined ? part.index === 0 : split.partOfStream(streamId, part.count) === part.index;
  };
}

function consumes(projections: readonly Projection[], streamId: string): boolean {
  return projections.some((projection) => projection.streamPrefixes.some((prefix) => streamId.startsWith(prefix)));
}

/** Where part `index` of a file is rebuilt, beside the file itself in `outDir`. */
function partFile(outDir: string, file: string, index: number): string {
  return join(outDir, partName(file, index));
}

function partName(file: string, index: number): string {
  return `${file}.part-${index}`;
}

/**
 * Merges the parts of every split file (rebuilt by `count` ProjectionRebuilds with a `part` each)
 * into the file itself, created by its projections' own setup, and removes the parts. Each table's
 * rows are copied in key order from a merge of the parts (each already in key order), so the
 * file's B-trees are filled left to right; a checkpoint is the furthest of the parts'.
 */
export function mergeRebuildParts(outDir: string, count: number): void {
  for (const { file, projections, partOfStream } of PROJECTION_FILES) {
    if (partOfStream === undefined) continue;
    const parts = Array.from({ length: count }, (_, index) => partFile(outDir, file, index));
    const db = openRebuildDb(join(outDir, file), REBUILD_CACHE_KIB);
    try {
      for (const projection of projections) projectionApplier(db, projection);
      parts.forEach((part, index) => db.prepare(`ATTACH ? AS part${index}`).run(part));
      const tables = db.prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
      db.exec('BEGIN');
      for (const table of tables) db.exec(mergeSql(db, table, count));
      db.exec('COMMIT');
      for (let index = 0; index < count; index++) db.exec(`DETACH part${index}`);
    } finally {
      db.close();
    }
    for (const part of parts) rmSync(part);
  }
}

/** The INSERT that merges `table` from the attached parts (`part0`...). */
function mergeSql(db: Database.Database, table: string, count: number): string {
  const quoted = `"${table.replaceAll('"', '""')}"`;
  const union = (columns: string) => Array.from({ length: count }, (_, index) => `SELECT ${columns} FROM part${index}.${quoted}`).join(' UNION ALL ');
  // Every part advanced the same projection's checkpoint through its own events: the file's is the furthest.
  if (table === 'checkpoints') return `INSERT INTO main.checkpoints (name, position) SELECT name, MAX(position) FROM (${union('name, position')}) GROUP BY name`;
  const columns = db.prepare(`SELECT name, pk FROM pragma_table_info(?, 'main')`).all(table) as { name: string; pk: number }[];
  const names = columns.map((column) => `"${column.name.replaceAll('"', '""')}"`);
  const key = columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk).map((column) => `"${column.name.replaceAll('"', '""')}"`);
  const list = names.join(', ');
  return `INSERT INTO main.${quoted} (${list}) ${union(list)}${key.length > 0 ? ` ORDER BY ${key.join(', ')}` : ''}`;
}

/** Removes what rebuilds in `count` parts wrote to `outDir` (the files and their parts), before a rebuild starts over. */
export function removeRebuildFiles(outDir: string, count: number): void {
  for (const { file } of PROJECTION_FILES) {
    for (const name of [file, ...Array.from({ length: count }, (_, index) => partName(file, index))]) {
      for (const suffix of ['', '-journal']) rmSync(join(outDir, `${name}${suffix}`), { force: true });
    }
  }
}
