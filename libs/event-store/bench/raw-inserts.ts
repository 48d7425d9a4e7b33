// The ceiling benches compare against: raw better-sqlite3 inserts into the store's own events
// table (same schema, WAL, synchronous=FULL), one transaction per batch. One copy for every bench.
import Database from 'better-sqlite3';
import { EVENT_COLUMNS } from '../src/event-rows';
import { SqliteEventStore } from '../src/sqlite/sqlite-event-store';

/** A row of `events`, in EVENT_COLUMNS order. */
export type RawEventRow = readonly unknown[];

export interface RawEventInserter {
  /** Inserts `rows` in one transaction. */
  insertBatch(rows: readonly RawEventRow[]): void;
  close(): void;
}

export async function openRawEventInserter(file: string): Promise<RawEventInserter> {
  // The store creates the schema, so the raw inserts go into exactly the same table shape.
  await new SqliteEventStore({ file }).close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertBatch = db.transaction((rows: readonly RawEventRow[]) => {
    for (const row of rows) insert.run(...row);
  });
  return { insertBatch: (rows) => insertBatch(rows), close: () => db.close() };
}
