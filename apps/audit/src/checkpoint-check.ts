// Checkpoints are not rebuilt from events, but each bounds what its follower reads next: one
// ahead of what it could have read makes the follower skip events (a relay publishing nothing to
// the card-issuer, the transfer saga leaving out legs in transit). A relay's checkpoint (a row of
// `relay_checkpoints` in a projection file) is at most the store's head; one kept in the store
// (`checkpoint.Saved.v1` on `checkpoint-{name}`: the transfer saga's) is before its own event,
// since a follower saves a position it has read before the save is committed.
import type Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import { printable } from './card-number-filter';
import type { Violation } from './findings';
import { PROJECTION_FILES } from './projection-files';
import { isUnavailable, openReadOnly } from './sqlite-store-reader';

const STORE_CHECKPOINT_TYPE = 'checkpoint.Saved.v1';
const RELAY_CHECKPOINTS_TABLE = 'relay_checkpoints';
const PROJECTION_CHECKPOINTS_TABLE = 'checkpoints';
/** Relays per file read at most (each service runs one or two). */
const RELAY_ROWS_MAX = 1_000;
const POSITION = /^[0-9]{1,19}$/;

/** What is wrong with a checkpoint kept in the store, or undefined. */
export function storeCheckpointProblem(event: RecordedEvent): string | undefined {
  if (event.type !== STORE_CHECKPOINT_TYPE || !event.streamId.startsWith('checkpoint-')) return undefined;
  const position = (event.data as { position?: unknown } | null)?.position;
  if (typeof position !== 'string' || !POSITION.test(position)) return `checkpoint saved with no position (${printable(position ?? null)})`;
  return BigInt(position) < event.position ? undefined : `checkpoint saved at position ${position}, not before its own event's position ${event.position}`;
}

/** Relay checkpoints of the known projection files beyond the store's head, read after them (a live store only grows). */
export async function relayCheckpointViolations(dataDir: string, headPosition: () => Promise<bigint>): Promise<Omit<Violation, 'check'>[]> {
  const rows: { where: string; position: unknown }[] = [];
  forEachProjectionFile(dataDir, (file, db) => {
    const table = db.prepare<[string], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(RELAY_CHECKPOINTS_TABLE);
    if (table === undefined) return;
    for (const { name, position } of db.prepare<[number], { name: unknown; position: unknown }>(`SELECT name, position FROM ${RELAY_CHECKPOINTS_TABLE} ORDER BY name LIMIT ?`).all(RELAY_ROWS_MAX)) {
      rows.push({ where: `${file} ${RELAY_CHECKPOINTS_TABLE} [name=${printable(name)}]`, position });
    }
  });
  const head = await headPosition();
  return rows.flatMap(({ where, position }) => {
    if (typeof position !== 'string' || !POSITION.test(position)) return [{ message: `${where}: position ${printable(position)} is not a position` }];
    return BigInt(position) > head ? [{ message: `${where}: position ${position} is beyond the store's head ${head} (the relay would skip every event up to it)` }] : [];
  });
}

/**
 * Each known projection's checkpoint in its live file. A runner commits its rows
 * and checkpoint together, so the file equals a rebuild to that position. A value that is not an
 * integer is left out: the comparison with the rebuild names it.
 */
export function liveProjectionCheckpoints(dataDir: string): { readonly file: string; readonly name: string; readonly position: bigint }[] {
  const checkpoints: { file: string; name: string; position: bigint }[] = [];
  forEachProjectionFile(dataDir, (file, db) => {
    const table = db.prepare<[string], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(PROJECTION_CHECKPOINTS_TABLE);
    if (table === undefined) return;
    const select = db.prepare<[string], { position: unknown }>(`SELECT position FROM ${PROJECTION_CHECKPOINTS_TABLE} WHERE name = ?`).safeIntegers(true);
    for (const { name } of PROJECTION_FILES.find((each) => each.file === file)!.projections) {
      // No row yet: nothing applied (the runner starts from 0 too).
      const position = select.get(name)?.position ?? 0n;
      if (typeof position === 'bigint' && position >= 0n) checkpoints.push({ file, name, position });
    }
  });
  return checkpoints;
}

/** Calls `read` with a read-only connection on each known projection file of `dataDir` that is a database. */
function forEachProjectionFile(dataDir: string, read: (file: string, db: Database.Database) => void): void {
  for (const { file } of PROJECTION_FILES) {
    const path = join(dataDir, file);
    if (!existsSync(path)) continue;
    const db = openReadOnly(path);
    try {
      db.pragma('schema_version');
    } catch (error) {
      db.close();
      // Not a database: the projection comparison names the file.
      if (isUnavailable(error)) throw error;
      continue;
    }
    try {
      read(file, db);
    } finally {
      db.close();
    }
  }
}
