// The shard writers' snapshots (apps/wallet-ledger's SqliteSnapshotStore) against the ledger's
// streams: a writer restarts from its snapshot plus the stream's tail and decides every later
// command on that state, so a snapshot edited (a balance raised, a hold dropped) lets it decide on
// money the stream never gave. Each snapshot is compared, row by row, with the audit's own fold of
// its shard at the snapshot's revision. What the writer itself ignores (another format, parts
// missing, a revision beyond its stream, a chain hash not the stream's event's at its revision, -1
// over a stream with events) is noted, not reported. Memory: one snapshot's state at a time.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, type Json, type RecordedEvent } from '@ledger/contracts';
import { fromSnapshotParts, initialState, snapshotParts, type LedgerShardState, type LedgerSnapshot } from '@ledger/ledger';
import { snapshotRevisionOf } from '../../wallet-ledger/src/application/snapshot-store';
import { shardOfStream } from '../../wallet-ledger/src/projections/wallet-ledger.projection';
import { printable } from './card-number-filter';
import type { Violation } from './findings';
import { isUnavailable, openReadOnly } from './sqlite-store-reader';

/** Snapshot files a data dir may hold: the embedded host's, and the wallet-ledger harness's. */
export const SNAPSHOT_FILES = ['wallet-ledger-snapshots.sqlite', 'snapshots.sqlite'] as const;
/** Rows per part when two states are compared (any size gives the same rows). */
const COMPARE_PART_ROWS = 1_000;

interface Snapshot {
  readonly file: string;
  readonly shard: number;
  readonly revision: bigint;
  /** The chain hash of the event it was taken after, as the writer reads it from the head (null: none). */
  readonly lastEventHash: string | null;
}

type Report = (violation: Omit<Violation, 'check'>) => void;

export class SnapshotCheck {
  /** Per shard, its snapshots (one per file) not yet reached by the fold. */
  private readonly pending = new Map<number, Snapshot[]>();
  /** Snapshots at -1 (saved over an empty stream): the writer uses one only while its stream is still empty. */
  private readonly ofEmptyStreams: Snapshot[] = [];
  /** Shards whose stream has an event. */
  private readonly shardsWithEvents = new Set<number>();
  private readonly notes: string[] = [];

  constructor(private readonly dataDir: string) {
    for (const file of SNAPSHOT_FILES) {
      if (!existsSync(join(dataDir, file))) continue;
      const rows = this.read(file, (db) => db.prepare<[], { shard: number; revision: string; body: string }>('SELECT shard, revision, body FROM ledger_snapshots ORDER BY shard').all());
      for (const { shard, revision: text, body } of rows ?? []) {
        const revision = writerRevisionOf(text);
        if (revision === undefined) {
          this.notes.push(`${file}: shard ${shard}'s snapshot names no revision (${printable(text)}); a writer cannot use it`);
          continue;
        }
        const snapshot = { file, shard, revision, lastEventHash: writerLastEventHashOf(body) };
        if (revision === -1n) this.ofEmptyStreams.push(snapshot);
        else if (revision < 0n) this.notes.push(`${file}: shard ${shard}'s snapshot at revision ${revision} is before any event (a writer ignores it), not compared`);
        else this.pending.set(shard, [...(this.pending.get(shard) ?? []), snapshot]);
      }
    }
  }

  /** Called after each event of the position-order pass, with the shard's state as folded through it. */
  afterEvent(event: RecordedEvent, stateOf: (shard: number) => LedgerShardState | undefined, report: Report): void {
    const shard = shardOfStream(event.streamId);
    if (shard !== undefined) this.shardsWithEvents.add(shard);
    const snapshots = shard === undefined ? undefined : this.pending.get(shard);
    if (shard === undefined || snapshots === undefined) return;
    const due = snapshots.filter((snapshot) => snapshot.revision === event.revision);
    if (due.length === 0) return;
    const left = snapshots.filter((snapshot) => snapshot.revision !== event.revision);
    if (left.length === 0) this.pending.delete(shard);
    else this.pending.set(shard, left);
    const folded = stateOf(shard);
    for (const snapshot of due) {
      // The writer checks this before it uses the snapshot (shard-writer's takenOfThisStream): one of another history is folded over.
      if (snapshot.lastEventHash === null || snapshot.lastEventHash !== event.metadata.hash) {
        this.notes.push(`${snapshot.file}: shard ${snapshot.shard}'s snapshot at revision ${snapshot.revision} was not taken of this stream (its chain hash is not the stream's event's there: a writer ignores it), not compared`);
      } else this.compare(snapshot, folded, { streamId: event.streamId, revision: event.revision, position: event.position }, report);
    }
  }

  /** Reports the snapshot when it differs from `folded`, the stream's state at its revision. */
  private compare(snapshot: Snapshot, folded: LedgerShardState | undefined, place: Omit<Violation, 'check' | 'message'>, report: Report): void {
    const differs = folded === undefined ? 'the stream folds to no state' : this.difference(snapshot, folded);
    if (differs !== undefined) report({ ...place, message: `${snapshot.file}: shard ${snapshot.shard}'s snapshot at revision ${snapshot.revision} differs from the stream folded to it: ${differs}` });
  }

  /** Notes for the report: what was not compared, and why. */
  finish(report: Report): string[] {
    for (const snapshot of this.ofEmptyStreams.splice(0)) {
      if (this.shardsWithEvents.has(snapshot.shard)) this.notes.push(`${snapshot.file}: shard ${snapshot.shard}'s snapshot at revision -1 is of the empty stream, which has events now (a writer ignores it), not compared`);
      else this.compare(snapshot, initialState(), { streamId: `ledger-${snapshot.shard}` }, report);
    }
    for (const snapshots of this.pending.values()) {
      for (const { file, shard, revision } of snapshots) this.notes.push(`${file}: shard ${shard}'s snapshot at revision ${revision} is beyond its stream (a writer ignores it), not compared`);
    }
    this.pending.clear();
    return this.notes;
  }

  /** The first row where the stored snapshot and the fold differ, or undefined when they agree. */
  private difference(snapshot: Snapshot, folded: LedgerShardState): string | undefined {
    const stored = this.read(snapshot.file, (db) => {
      const head = db.prepare<[number], string>('SELECT body FROM ledger_snapshots WHERE shard = ?').pluck().get(snapshot.shard);
      const bodies = db.prepare<[number], string>('SELECT body FROM ledger_snapshot_parts WHERE shard = ? ORDER BY part').pluck();
      const parsed = JSON.parse(head ?? 'null') as LedgerSnapshot | { parts: number };
      if (!('parts' in parsed)) return fromSnapshotParts([parsed]);
      let count = 0;
      const state = fromSnapshotParts(
        (function* () {
          for (const body of bodies.iterate(snapshot.shard)) {
            count++;
            yield JSON.parse(body) as LedgerSnapshot;
          }
        })(),
      );
      // What the writer's load does with a snapshot missing parts: ignores it.
      if (count !== parsed.parts) throw new Error(`${count} of ${parsed.parts} parts`);
      return state;
    });
    if (stored === undefined) return undefined;
    const left = snapshotParts(stored, COMPARE_PART_ROWS);
    const right = snapshotParts(folded, COMPARE_PART_ROWS);
    for (;;) {
      const [mine, theirs] = [left.next(), right.next()];
      if (mine.done === true || theirs.done === true) return mine.done === theirs.done ? undefined : 'it holds another number of rows';
      if (canonicalJson(mine.value as unknown as Json) !== canonicalJson(theirs.value as unknown as Json)) return firstDifferingRow(mine.value, theirs.value);
    }
  }

  /** Runs `read` on the file; a file or snapshot the writer could not use either is noted, and undefined returned (one unreadable now throws). */
  private read<T>(file: string, read: (db: ReturnType<typeof openReadOnly>) => T): T | undefined {
    let db: ReturnType<typeof openReadOnly> | undefined;
    try {
      db = openReadOnly(join(this.dataDir, file));
      return read(db);
    } catch (error) {
      // Locked by another process, or an I/O error: the audit cannot read it now, which says nothing of what a writer can.
      if (isUnavailable(error)) throw error;
      this.notes.push(`${file}: not usable by a writer either (${printable((error as Error).message)}), not compared`);
      return undefined;
    } finally {
      db?.close();
    }
  }
}

/** The revision a snapshot row names as its writer reads it, or undefined when the writer cannot read one (and ignores the snapshot). */
function writerRevisionOf(text: unknown): bigint | undefined {
  try {
    return snapshotRevisionOf(String(text));
  } catch {
    return undefined;
  }
}

/** The head's `lastEventHash` as the writer's load reads it: a string, or null (none, another format, a head that is not JSON). */
function writerLastEventHashOf(body: unknown): string | null {
  try {
    const head = JSON.parse(String(body)) as unknown;
    return typeof head === 'object' && head !== null && 'parts' in head && 'lastEventHash' in head && typeof head.lastEventHash === 'string' ? head.lastEventHash : null;
  } catch {
    return null;
  }
}

const ACCOUNT_FIELDS = ['id', 'currency', 'normalSide', 'flags', 'kind', 'ownerId', 'status', 'openedAtMs', 'debitsPosted', 'creditsPosted', 'debitsPending', 'creditsPending'];
const HOLD_FIELDS = ['id', 'debitAccountId', 'creditAccountId', 'currency', 'placedAmount', 'heldAmount', 'capturedAmount', 'expiresAtMs', 'status'];

/** "account {id} creditsPosted X, the stream gives Y" for the first row of the part that differs. */
function firstDifferingRow(stored: LedgerSnapshot, folded: LedgerSnapshot): string {
  const sections: [string, readonly unknown[][], readonly unknown[][], readonly string[]][] = [
    ['account', stored.accounts, folded.accounts, ACCOUNT_FIELDS],
    ['hold', stored.holds, folded.holds, HOLD_FIELDS],
    ['finished hold', stored.finishedHolds, folded.finishedHolds, ['id', 'finishedAtMs']],
    ['idempotency record', stored.idempotency, folded.idempotency, ['key', 'record']],
  ];
  const shown = (value: unknown) => printable(value ?? null);
  for (const [name, mine, theirs, fields] of sections) {
    for (let index = 0; index < Math.max(mine.length, theirs.length); index++) {
      const [a, b] = [mine[index], theirs[index]];
      if (a !== undefined && b !== undefined && canonicalJson(a as Json) === canonicalJson(b as Json)) continue;
      if (a === undefined || b === undefined || a[0] !== b[0]) return `${name} ${shown((a ?? b)?.[0])} ${a === undefined ? 'missing from the snapshot' : b === undefined ? 'not in the stream' : `where the stream has ${shown(b[0])}`}`;
      const field = fields.findIndex((_, at) => canonicalJson((a[at] ?? null) as Json) !== canonicalJson((b[at] ?? null) as Json));
      return `${name} ${shown(a[0])} ${fields[field]} ${shown(a[field])}, the stream gives ${shown(b[field])}`;
    }
  }
  return 'the rows are split otherwise';
}
