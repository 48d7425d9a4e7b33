// No trigger or view in a data dir's SQLite files: no writer creates one (libs/event-store's store, the projections, the
// shard writers' snapshots), and one planted there would change what the services write or read from then on (a trigger
// rewriting each appended event, or a projection row as the runner updates it) while every row is still as it should be.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { printable } from './card-number-filter';
import type { Violation } from './findings';
import { EVENT_STORE_FILE, PROJECTION_FILES } from './projection-files';
import { SNAPSHOT_FILES } from './snapshot-check';
import { isUnavailable, openReadOnly } from './sqlite-store-reader';

/** Schema objects listed per file at most (a file with more is wrecked anyway). */
const OBJECTS_LISTED_MAX = 100;

/** A violation for each trigger or view in the data dir's known SQLite files (one that is not a database is not this check's to report). */
export function schemaViolations(dataDir: string): Omit<Violation, 'check'>[] {
  const violations: Omit<Violation, 'check'>[] = [];
  for (const file of [EVENT_STORE_FILE, ...PROJECTION_FILES.map((each) => each.file), ...SNAPSHOT_FILES]) {
    const path = join(dataDir, file);
    if (!existsSync(path)) continue;
    let objects: { type: string; name: string }[];
    const db = openReadOnly(path);
    try {
      objects = db.prepare<[number], { type: string; name: string }>("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name LIMIT ?").all(OBJECTS_LISTED_MAX);
    } catch (error) {
      if (isUnavailable(error)) throw error;
      continue;
    } finally {
      db.close();
    }
    for (const { type, name } of objects) violations.push({ message: `${file}: ${type} ${printable(name)}, which no writer creates (it would change what the services write or read from now on)` });
  }
  return violations;
}
