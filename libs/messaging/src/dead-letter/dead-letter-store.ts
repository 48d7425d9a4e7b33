// Where the in-process bus keeps what it dead-letters, so it is still there after a restart (its
// `<topic>.dlq` partitions are memory). Kafka keeps `<topic>.dlq` itself and needs none of this.
// Bounded: when full, the oldest are kept and a new one is refused (the bus logs it).
import Database from 'better-sqlite3';
import { parseJsonText, systemClock, toIsoTime, type Clock } from '@ledger/contracts';
import { openProjectionDb } from '@ledger/event-store';
import type { MessageHeaders } from '../message-bus.port';
import { BUS_HEADERS } from '../nest/bus-protocol';

/** A message that failed every delivery, and where it came from. */
export interface DeadLetter {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly groupId: string;
  readonly attempts: number;
  readonly error: string;
  readonly key: string;
  /** Null when not kept: a request's or a reply's may carry a secret (a card number, a revealed card), and nobody awaits either after a restart. */
  readonly value: Buffer | null;
  readonly headers: MessageHeaders;
}

export interface StoredDeadLetter extends DeadLetter {
  /** Increasing in the order they were kept. */
  readonly id: number;
  /** When it was kept (ISO 8601 UTC). */
  readonly deadAt: string;
}

export interface DeadLetterStore {
  /** Keeps it; false, keeping nothing, when the store already holds its limit. */
  add(letter: DeadLetter): Promise<boolean>;
  /** Oldest first, those with an id above `afterId`, at most `limit`. */
  list(options: { readonly afterId?: number; readonly limit: number }): Promise<StoredDeadLetter[]>;
  count(): Promise<number>;
  close(): void;
}

export interface DeadLetterStoreOptions {
  /** Dead letters kept at most (BUS_DLQ_MAX_MESSAGES). */
  readonly maxMessages: number;
  readonly clock?: Clock;
}

/** The embedded host's dead-letter file in DATA_DIR. */
export const DEAD_LETTERS_FILE = 'dead-letters.sqlite';

/** Most dead letters one list() returns. */
export const DEAD_LETTER_LIST_MAX = 1_000;

/** Only an event's value is kept: a request's or a reply's (a correlation id) may hold a secret (see DeadLetter.value). */
export function keptValue(value: Buffer, headers: MessageHeaders): Buffer | null {
  return headers[BUS_HEADERS.replyTo] === undefined && headers[BUS_HEADERS.correlationId] === undefined ? value : null;
}

function checkedOptions(options: DeadLetterStoreOptions): { maxMessages: number; clock: Clock } {
  if (!Number.isSafeInteger(options.maxMessages) || options.maxMessages < 1) throw new RangeError(`dead-letter store: maxMessages must be a positive integer, got ${options.maxMessages}`);
  return { maxMessages: options.maxMessages, clock: options.clock ?? systemClock };
}

function checkedLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > DEAD_LETTER_LIST_MAX) throw new RangeError(`dead-letter list: limit must be 1..${DEAD_LETTER_LIST_MAX}, got ${limit}`);
  return limit;
}

/** Forgotten with the process: tests, and a bus without a data dir. */
export class InMemoryDeadLetterStore implements DeadLetterStore {
  private readonly letters: StoredDeadLetter[] = [];
  private readonly maxMessages: number;
  private readonly clock: Clock;
  private lastId = 0;

  constructor(options: DeadLetterStoreOptions) {
    ({ maxMessages: this.maxMessages, clock: this.clock } = checkedOptions(options));
  }

  async add(letter: DeadLetter): Promise<boolean> {
    if (this.letters.length >= this.maxMessages) return false;
    this.letters.push({ ...letter, value: letter.value === null ? null : Buffer.from(letter.value), headers: { ...letter.headers }, id: ++this.lastId, deadAt: toIsoTime(this.clock.nowMs()) });
    return true;
  }

  async list(options: { readonly afterId?: number; readonly limit: number }): Promise<StoredDeadLetter[]> {
    const limit = checkedLimit(options.limit);
    return this.letters.filter((letter) => letter.id > (options.afterId ?? 0)).slice(0, limit);
  }

  async count(): Promise<number> {
    return this.letters.length;
  }

  close(): void {}
}

const SELECT_AFTER = 'SELECT * FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?';

interface Row {
  id: number;
  dead_at: string;
  topic: string;
  partition: number;
  offset: string;
  group_id: string;
  attempts: number;
  error: string;
  key: string;
  value: Buffer | null;
  headers: string;
}

/** In its own SQLite file (the host's: DATA_DIR/dead-letters.sqlite), each add one committed insert. */
export class SqliteDeadLetterStore implements DeadLetterStore {
  private readonly db: Database.Database;
  private readonly maxMessages: number;
  private readonly clock: Clock;
  private readonly insert: Database.Statement;
  private readonly selectCount: Database.Statement<[], number>;
  private readonly selectAfter: Database.Statement<[number, number], Row>;

  constructor(file: string, options: DeadLetterStoreOptions) {
    ({ maxMessages: this.maxMessages, clock: this.clock } = checkedOptions(options));
    this.db = openProjectionDb(file);
    try {
      this.db.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, dead_at TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, offset TEXT NOT NULL,
        group_id TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, key TEXT NOT NULL, value BLOB, headers TEXT NOT NULL)`);
      this.insert = this.db.prepare(
        'INSERT INTO dead_letters (dead_at, topic, partition, offset, group_id, attempts, error, key, value, headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      this.selectCount = this.db.prepare<[], number>('SELECT count(*) FROM dead_letters').pluck();
      this.selectAfter = this.db.prepare<[number, number], Row>(SELECT_AFTER);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  async add(letter: DeadLetter): Promise<boolean> {
    // One process writes the file (the host's data-dir lock): count then insert cannot race.
    if (this.selectCount.get()! >= this.maxMessages) return false;
    this.insert.run(
      toIsoTime(this.clock.nowMs()),
      letter.topic,
      letter.partition,
      letter.offset,
      letter.groupId,
      letter.attempts,
      letter.error,
      letter.key,
      letter.value,
      JSON.stringify(letter.headers),
    );
    return true;
  }

  async list(options: { readonly afterId?: number; readonly limit: number }): Promise<StoredDeadLetter[]> {
    return this.selectAfter.all(options.afterId ?? 0, checkedLimit(options.limit)).map(deadLetterOfRow);
  }

  async count(): Promise<number> {
    return this.selectCount.get()!;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function deadLetterOfRow(row: Row): StoredDeadLetter {
  return {
    id: row.id,
    deadAt: row.dead_at,
    topic: row.topic,
    partition: row.partition,
    offset: row.offset,
    groupId: row.group_id,
    attempts: row.attempts,
    error: row.error,
    key: row.key,
    value: row.value,
    headers: parseJsonText(row.headers) as MessageHeaders,
  };
}

/**
 * A read-only look at a dead-letter file (an operator's, while the host may be running): never
 * creates the file or its table, never writes.
 */
export function openDeadLetterFile(file: string): Pick<DeadLetterStore, 'list' | 'count' | 'close'> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const selectAfter = db.prepare<[number, number], Row>(SELECT_AFTER);
    const selectCount = db.prepare<[], number>('SELECT count(*) FROM dead_letters').pluck();
    return {
      list: async (options) => selectAfter.all(options.afterId ?? 0, checkedLimit(options.limit)).map(deadLetterOfRow),
      count: async () => selectCount.get()!,
      close: () => void (db.open && db.close()),
    };
  } catch (error) {
    db.close();
    throw error;
  }
}
