// Consumers of integration events deduplicate by eventId (DESIGN.md §4): relays and the bus
// deliver at least once. ProcessedEvents remembers the ids a consumer has handled.
//
// The bound: an id is recognised while it is among the last `memoryMax` ids this instance saw,
// or, with a database, among the last `durableMax` (+ up to PROCESSED_EVENTS_PRUNE_EVERY) ids
// this consumer recorded. Redeliveries are recent (a relay re-sends at most the batch it had not
// checkpointed; the bus, the messages not yet committed), so both bounds are far above them.
import type Database from 'better-sqlite3';

/** Ids remembered in memory per instance (a ring: the oldest goes first). */
export const PROCESSED_EVENTS_MEMORY_MAX = 100_000;
/** Ids kept per consumer in `processed_events`. */
export const PROCESSED_EVENTS_DURABLE_MAX = 1_000_000;
/** The table is pruned back to durableMax once per this many recorded ids. */
export const PROCESSED_EVENTS_PRUNE_EVERY = 1_000;
export const EVENT_ID_LENGTH_MAX = 256;

export interface ProcessedEventsOptions {
  /** Who deduplicates (e.g. the consumer group id): each consumer handles every event once. */
  readonly consumer: string;
  readonly memoryMax?: number;
  /** With a database, the ids survive a restart (table `processed_events`). */
  readonly db?: Database.Database;
  readonly durableMax?: number;
}

interface DurableIds {
  readonly db: Database.Database;
  readonly has: Database.Statement<[string, string], unknown>;
  readonly insert: Database.Statement<[string, string]>;
  readonly prune: Database.Statement<[string, string, number]>;
}

export class ProcessedEvents {
  private readonly consumer: string;
  private readonly memoryMax: number;
  private readonly durableMax: number;
  /** The last memoryMax ids in arrival order; `ids` indexes them. */
  private readonly ring: (string | undefined)[];
  private ringNext = 0;
  private readonly ids = new Set<string>();
  private readonly durable: DurableIds | undefined;
  private recordedSincePrune = 0;
  /** Handlers running now, so a concurrent redelivery waits for the first outcome instead of running twice. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(options: ProcessedEventsOptions) {
    if (typeof options.consumer !== 'string' || options.consumer.length === 0) throw new RangeError('ProcessedEvents needs a consumer name');
    this.consumer = options.consumer;
    this.memoryMax = checkedInt('memoryMax', options.memoryMax ?? PROCESSED_EVENTS_MEMORY_MAX);
    this.durableMax = checkedInt('durableMax', options.durableMax ?? PROCESSED_EVENTS_DURABLE_MAX);
    this.ring = new Array<string | undefined>(this.memoryMax);
    if (options.db !== undefined) {
      const db = options.db;
      // A rowid table: rowid is the recording order that pruning keeps the newest of.
      db.exec(`
        CREATE TABLE IF NOT EXISTS processed_events (consumer TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (consumer, event_id));
        CREATE INDEX IF NOT EXISTS processed_events_by_consumer ON processed_events (consumer);
      `);
      this.durable = {
        db,
        has: db.prepare<[string, string], unknown>('SELECT 1 FROM processed_events WHERE consumer = ? AND event_id = ?'),
        insert: db.prepare<[string, string]>('INSERT OR IGNORE INTO processed_events (consumer, event_id) VALUES (?, ?)'),
        prune: db.prepare<[string, string, number]>(
          `DELETE FROM processed_events WHERE consumer = ? AND rowid <= (
             SELECT rowid FROM processed_events WHERE consumer = ? ORDER BY rowid DESC LIMIT 1 OFFSET ?)`,
        ),
      };
    }
  }

  /** Whether `eventId` was recorded (within the bound above). */
  has(eventId: string): boolean {
    checkEventId(eventId);
    if (this.ids.has(eventId)) return true;
    if (this.durable?.has.get(this.consumer, eventId) === undefined) return false;
    if (!this.durable.db.inTransaction) this.remember(eventId);
    return true;
  }

  /**
   * Records `eventId` as handled. Synchronous, so a consumer whose effect lives in the same
   * SQLite database can call it inside its own transaction: effect and record commit together.
   */
  record(eventId: string): void {
    checkEventId(eventId);
    if (this.durable === undefined) return this.remember(eventId);
    // Inside a caller's transaction the row may yet roll back with its effect: has() learns it from the table once committed.
    if (!this.durable.db.inTransaction) this.remember(eventId);
    if (this.durable.insert.run(this.consumer, eventId).changes > 0 && ++this.recordedSincePrune >= PROCESSED_EVENTS_PRUNE_EVERY) {
      this.recordedSincePrune = 0;
      this.durable.prune.run(this.consumer, this.consumer, this.durableMax);
    }
  }

  /**
   * Runs `handle` unless `eventId` was handled already; true when it ran. The id is recorded only
   * after `handle` resolved, so a failed attempt runs again on redelivery, and a crash between
   * the two does too: an effect outside this database must tolerate that one repeat.
   */
  async handleOnce(eventId: string, handle: () => void | Promise<void>): Promise<boolean> {
    checkEventId(eventId);
    for (let running = this.inFlight.get(eventId); running !== undefined; running = this.inFlight.get(eventId)) {
      await running.catch(() => undefined);
    }
    if (this.has(eventId)) return false;
    const run = (async () => {
      await handle();
      this.record(eventId);
    })();
    this.inFlight.set(eventId, run);
    try {
      await run;
      return true;
    } finally {
      this.inFlight.delete(eventId);
    }
  }

  private remember(eventId: string): void {
    if (this.ids.has(eventId)) return;
    const evicted = this.ring[this.ringNext];
    if (evicted !== undefined) this.ids.delete(evicted);
    this.ring[this.ringNext] = eventId;
    this.ringNext = (this.ringNext + 1) % this.memoryMax;
    this.ids.add(eventId);
  }
}

function checkEventId(eventId: string): void {
  if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > EVENT_ID_LENGTH_MAX) {
    throw new RangeError(`an event id must be 1 to ${EVENT_ID_LENGTH_MAX} characters`);
  }
}

function checkedInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`ProcessedEvents: ${name} must be a positive integer, got ${value}`);
  return value;
}
