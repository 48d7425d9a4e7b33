// identity's user snapshots (identity.sqlite, apps/identity's SqliteUserSnapshots) against the user
// streams: identity starts a cold load from one and decides every later login on it, so one edited
// (a password hash swapped, a role added, a lockout lifted) lets anyone in while the stream says
// otherwise. Each is compared with identity's own fold of its stream to the snapshot's revision. What
// identity itself ignores (another format, unreadable, an event id not the stream's there) is noted,
// not reported. Memory: one user's state at a time.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, type Json } from '@ledger/contracts';
import { evolve, initialState, type UserState } from '../../identity/src/domain/user';
import { USER_STREAM_PREFIX, userEventOf } from '../../identity/src/application/user-repository';
import { storedUserOf, USER_SNAPSHOTS_TABLE, userSnapshotOfRow } from '../../identity/src/application/user-snapshots';
import { printable } from './card-number-filter';
import type { Violation } from './findings';
import { isUnavailable, openReadOnly } from './sqlite-store-reader';
import { READ_PAGE_EVENTS, type StoreReader } from './store-reader.port';

/** identity's projection file, which holds its snapshots too. */
export const IDENTITY_FILE = 'identity.sqlite';
/** Snapshot rows read per page (each compared before the next page is read). */
const ROWS_PER_PAGE = 200;

interface Row {
  readonly stream_id: string;
  readonly revision: string;
  readonly event_id: string;
  readonly body: string;
}

/** Reports each user snapshot that differs from its stream folded to its revision; returns notes on those not compared. */
export async function checkUserSnapshots(dataDir: string, reader: StoreReader, report: (violation: Omit<Violation, 'check'>) => void): Promise<string[]> {
  const file = join(dataDir, IDENTITY_FILE);
  if (!existsSync(file)) return [];
  const notes: string[] = [];
  const where = (row: Row) => `${IDENTITY_FILE}: ${printable(row.stream_id)}'s snapshot at revision ${printable(row.revision)}`;
  for (let after: string | undefined = undefined, page: Row[]; (page = readPage(file, after, notes)).length > 0; after = page[page.length - 1].stream_id) {
    for (const row of page) {
      const snapshot = row.stream_id.startsWith(USER_STREAM_PREFIX) ? userSnapshotOfRow(row) : undefined;
      if (snapshot === undefined) {
        notes.push(`${where(row)} is not one identity can use (it folds the stream instead), not compared`);
        continue;
      }
      const folded = await foldTo(reader, row.stream_id, snapshot.revision);
      // identity checks this before it uses the snapshot (AggregateStreams' fromSnapshot): one of another history is folded over.
      if (folded === undefined || folded.eventId !== snapshot.eventId) {
        notes.push(`${where(row)} names an event the stream as read does not have there (${printable(row.event_id)}: identity ignores such a snapshot, or it was saved after this audit's read began), not compared`);
        continue;
      }
      const stored = canonicalJson(storedUserOf(snapshot.state as Extract<UserState, { status: 'registered' }>) as unknown as Json);
      const expected = folded.state.status === 'registered' ? canonicalJson(storedUserOf(folded.state) as unknown as Json) : undefined;
      if (stored !== expected) {
        report({ streamId: row.stream_id, revision: snapshot.revision, position: folded.position, message: `${where(row)} differs from the stream folded to it${differingFields(stored, expected)}` });
      }
    }
    if (page.length < ROWS_PER_PAGE) break;
  }
  return notes;
}

/** The stream's state through `revision`, with that event's id and position; undefined when the stream ends before it. */
async function foldTo(reader: StoreReader, streamId: string, revision: bigint): Promise<{ state: UserState; eventId: string; position: bigint } | undefined> {
  let state = initialState();
  for (let from = 0n; from <= revision; ) {
    const page = await reader.readStream(streamId, from, Number(BigInt(READ_PAGE_EVENTS) < revision - from + 1n ? BigInt(READ_PAGE_EVENTS) : revision - from + 1n));
    if (page.length === 0) return undefined;
    for (const event of page) {
      try {
        state = evolve(state, userEventOf(event.type, event.data));
      } catch {
        return undefined; // a stream identity cannot fold: the ledger of checks reports the event itself
      }
      if (event.revision === revision) return { state, eventId: event.eventId, position: event.position };
    }
    from = page[page.length - 1].revision + 1n;
  }
  return undefined;
}

/** Which top-level fields differ (names only: the values hold password hashes and sealed secrets). */
function differingFields(stored: string, expected: string | undefined): string {
  if (expected === undefined) return ' (the stream folds to no registered user)';
  const [left, right] = [JSON.parse(stored) as Record<string, unknown>, JSON.parse(expected) as Record<string, unknown>];
  const names = [...new Set([...Object.keys(left), ...Object.keys(right)])].filter((name) => JSON.stringify(left[name]) !== JSON.stringify(right[name]));
  return ` (fields ${names.sort().join(', ')})`;
}

function readPage(file: string, after: string | undefined, notes: string[]): Row[] {
  let db: ReturnType<typeof openReadOnly> | undefined;
  try {
    db = openReadOnly(file);
    const exists = db.prepare<[string], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(USER_SNAPSHOTS_TABLE);
    if (exists === 0) return [];
    const sql = `SELECT stream_id, revision, event_id, body FROM ${USER_SNAPSHOTS_TABLE}${after === undefined ? '' : ' WHERE stream_id > ?'} ORDER BY stream_id LIMIT ${ROWS_PER_PAGE}`;
    const statement = db.prepare<unknown[], Row>(sql);
    return after === undefined ? statement.all() : statement.all(after);
  } catch (error) {
    if (isUnavailable(error)) throw error;
    notes.push(`${IDENTITY_FILE}: its user snapshots are not readable (${printable((error as Error).message)}), not compared`);
    return [];
  } finally {
    db?.close();
  }
}
