// The embedded event store (DESIGN.md §2): one SQLite file in WAL mode, one transaction per append.
// Appends run on the store's writer thread (sqlite-writer-worker.ts); reads run here.
import Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { hasLoneSurrogate, type NewEvent, type RecordedEvent } from '@ledger/contracts';
import {
  EventStoreClosedError,
  type AppendOutcome,
  type AppendRequest,
  type AppendResult,
  type EventHandler,
  type EventStore,
  type ExpectedState,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
  type Subscription,
} from '../event-store.port';
import { EVENT_COLUMNS, recordedEventOf as toRecordedEvent, type EventRow } from '../event-rows';
import { checkedInt } from '../checked-int';
import { readRetryBackoffMs, retryPause } from '../read-retry';
import { openConnection } from './sqlite-writer';
import { SqliteWriterThread } from './sqlite-writer-thread';

/** Most events one read returns (and one subscription page holds), unless configured. */
export const READ_BATCH_MAX_DEFAULT = 1_000;
/** How long a writer waits for another connection's write lock before failing with SQLITE_BUSY. */
export const SQLITE_BUSY_TIMEOUT_MS_DEFAULT = 5_000;
/** How often a live subscription looks for appends made by other connections or processes. */
export const SUBSCRIPTION_POLL_INTERVAL_MS_DEFAULT = 50;
/** Most events one append may carry: a batch is one transaction held in memory. */
export const APPEND_EVENTS_MAX = 10_000;
/** Most requests one appendMany may carry, empty ones included: each is a savepoint under the write lock. */
export const APPEND_REQUESTS_MAX = 10_000;
export const STREAM_ID_LENGTH_MAX = 256;
/** Longest event id and event type: each is a key (a unique index, a filter), not a payload. */
export const EVENT_ID_LENGTH_MAX = 256;
export const EVENT_TYPE_LENGTH_MAX = 256;
/** Most prefixes one read or subscription may filter on (one cached statement per count). */
export const STREAM_PREFIXES_MAX = 32;
/** Most of the newest events kept parsed for the readers that follow the head (see RecentEvents). */
export const RECENT_EVENTS_MAX = 4_096;

/** The schema this code reads and writes, kept in SQLite's `user_version`. */
const SCHEMA_VERSION = 1;

export interface SqliteEventStoreOptions {
  /** Path of the database file (`-wal` and `-shm` files sit beside it). */
  readonly file: string;
  /** FULL (default): a returned append survives power loss. NORMAL: survives a process crash only. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  readonly readBatchMax?: number;
  readonly busyTimeoutMs?: number;
  readonly pollIntervalMs?: number;
  /** The store's clock for `recordedAt`; tests inject one. */
  readonly nowMs?: () => number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    revision       INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    data           TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream_id, revision)
  );
  CREATE TABLE IF NOT EXISTS streams (
    stream_id     TEXT    PRIMARY KEY,
    last_revision INTEGER NOT NULL,
    last_hash     TEXT    NOT NULL
  ) WITHOUT ROWID;
`;

interface StreamRow {
  last_revision: bigint;
}

/** Above any code point a stream id uses, so [prefix, prefix + this) holds exactly the ids with that prefix. */
const PREFIX_RANGE_END = '\u{10FFFF}';

export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly readBatchMax: number;
  private readonly pollIntervalMs: number;
  private readonly nowMs: () => number;
  private readonly subscriptions = new Set<SqliteSubscription>();
  /** Woken after every append through this instance, so live subscriptions need not wait for a poll. */
  private readonly appendListeners = new Set<() => void>();
  /** Position of the newest event appended through this instance: a head subscriptions know without asking the file. */
  private appendedHead = 0n;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The appends posted to the writer thread and not yet answered: close() waits for them. */
  private readonly pendingAppends = new Set<Promise<unknown>>();
  private readonly writer: SqliteWriterThread;
  private readonly recent: RecentEvents;

  private readonly selectStream: Database.Statement<[string], StreamRow>;
  private readonly selectHead: Database.Statement<[], { position: bigint }>;
  private readonly selectStreamEvents: Database.Statement<[string, bigint, number], EventRow>;
  private readonly selectAll: Database.Statement<[bigint, number], EventRow>;
  private readonly selectWindow: Database.Statement<[bigint, bigint], EventRow>;
  /** Prefix-filtered statements by prefix count: [readAll, window]. */
  private readonly prefixStatements = new Map<number, [Database.Statement<unknown[], EventRow>, Database.Statement<unknown[], EventRow>]>();

  constructor(options: SqliteEventStoreOptions) {
    const synchronous = options.synchronous ?? 'FULL';
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new RangeError(`synchronous must be FULL or NORMAL, got ${String(synchronous)}`);
    this.readBatchMax = checkedInt('readBatchMax', options.readBatchMax ?? READ_BATCH_MAX_DEFAULT, 1, 100_000);
    this.pollIntervalMs = checkedInt('pollIntervalMs', options.pollIntervalMs ?? SUBSCRIPTION_POLL_INTERVAL_MS_DEFAULT, 1, 60_000);
    const busyTimeoutMs = checkedInt('busyTimeoutMs', options.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS_DEFAULT, 0, 600_000);
    this.nowMs = options.nowMs ?? Date.now;

    // Opened, checked and migrated here, synchronously: a bad file or setting fails construction.
    const connection = { file: options.file, synchronous, busyTimeoutMs };
    this.db = openConnection(connection);
    try {
      this.migrate(options.file);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.writer = new SqliteWriterThread(connection);

    this.selectStream = this.db.prepare<[string], StreamRow>('SELECT last_revision FROM streams WHERE stream_id = ?').safeIntegers(true);
    this.selectHead = this.db.prepare<[], { position: bigint }>('SELECT position FROM events ORDER BY position DESC LIMIT 1').safeIntegers(true);
    this.selectStreamEvents = this.db
      .prepare<[string, bigint, number], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND revision >= ? ORDER BY revision LIMIT ?`)
      .safeIntegers(true);
    this.selectAll = this.db
      .prepare<[bigint, number], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`)
      .safeIntegers(true);
    this.selectWindow = this.db
      .prepare<[bigint, bigint], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ? ORDER BY position`)
      .safeIntegers(true);
    this.recent = new RecentEvents((after, to) => this.selectWindow.all(after, to).map(sharedEventOf), this.head());
  }

  async append(streamId: string, events: readonly NewEvent[], expected: ExpectedState): Promise<AppendResult> {
    this.assertOpen('append');
    checkAppend(streamId, events, expected);
    const result = await this.pending(this.writer.appendOne({ streamId, events, expected }, this.nowMs()));
    if (events.length > 0) this.notifyAppend(result.position);
    return result;
  }

  async appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    this.assertOpen('appendMany');
    if (!Array.isArray(requests)) throw new TypeError('appendMany: requests must be an array');
    if (requests.length > APPEND_REQUESTS_MAX) throw new RangeError(`appendMany: ${requests.length} requests exceed APPEND_REQUESTS_MAX (${APPEND_REQUESTS_MAX})`);
    let total = 0;
    for (const request of requests) {
      checkAppend(request.streamId, request.events, request.expected);
      total += request.events.length;
    }
    if (total > APPEND_EVENTS_MAX) throw new RangeError(`appendMany: ${total} events exceed APPEND_EVENTS_MAX (${APPEND_EVENTS_MAX})`);
    if (requests.length === 0) return [];
    const outcomes = await this.pending(this.writer.appendMany(requests, this.nowMs()));
    if (total > 0) this.notifyAppend(outcomes.reduce((head, outcome) => (outcome.ok && outcome.result.position > head ? outcome.result.position : head), 0n));
    return outcomes;
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen('readStream');
    const maxCount = this.boundedMaxCount(options.maxCount);
    if (maxCount === 0) return [];
    return this.selectStreamEvents.all(streamId, options.fromRevision ?? 0n, maxCount).map(toRecordedEvent);
  }

  async streamRevision(streamId: string): Promise<bigint | undefined> {
    this.assertOpen('streamRevision');
    return this.selectStream.get(streamId)?.last_revision;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen('readAll');
    const maxCount = this.boundedMaxCount(options.maxCount);
    const afterPosition = options.afterPosition ?? 0n;
    if (maxCount === 0) return [];
    const prefixes = options.streamPrefixes;
    if (prefixes !== undefined) this.prefixStatementsFor(prefixes); // the same checks on either path
    const recent = this.recent.select(afterPosition, this.head(), maxCount, prefixes);
    if (recent !== undefined) return recent;
    if (prefixes === undefined) return this.selectAll.all(afterPosition, maxCount).map(toRecordedEvent);
    const [statement] = this.prefixStatementsFor(prefixes);
    return statement.all(afterPosition, ...prefixRanges(prefixes), maxCount).map(toRecordedEvent);
  }

  async headPosition(): Promise<bigint> {
    this.assertOpen('headPosition');
    return this.head();
  }

  subscribe(handler: EventHandler, options: SubscribeOptions = {}): Subscription {
    this.assertOpen('subscribe');
    const prefixes = options.streamPrefixes;
    if (prefixes !== undefined) this.prefixStatementsFor(prefixes); // refuse a bad filter now, not in the loop
    const subscription = new SqliteSubscription(
      {
        head: () => this.head(),
        appendedHead: () => this.appendedHead,
        readWindow: (afterPosition, toPosition) => this.readWindow(afterPosition, toPosition, prefixes),
        waitForAppend: (wake) => this.waitForAppend(wake),
        forget: (sub) => this.subscriptions.delete(sub),
      },
      handler,
      options.afterPosition ?? 0n,
      this.readBatchMax,
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Every caller waits for the one close: a second call must not resolve while the first still waits for appends. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.pendingAppends]);
    await Promise.all([...this.subscriptions].map((subscription) => subscription.stop()));
    await this.writer.close();
    this.db.close();
  }

  /** Tracks an append until its reply, so close() can wait for it. */
  private pending<T>(append: Promise<T>): Promise<T> {
    this.pendingAppends.add(append);
    const forget = (): void => void this.pendingAppends.delete(append);
    append.then(forget, forget);
    return append;
  }

  private head(): bigint {
    return this.selectHead.get()?.position ?? 0n;
  }

  /** Events with afterPosition < position <= toPosition that pass the filter. */
  private readWindow(afterPosition: bigint, toPosition: bigint, prefixes: readonly string[] | undefined): RecordedEvent[] {
    const recent = this.recent.select(afterPosition, toPosition, Number.MAX_SAFE_INTEGER, prefixes);
    if (recent !== undefined) return recent;
    if (prefixes === undefined) return this.selectWindow.all(afterPosition, toPosition).map(toRecordedEvent);
    const [, statement] = this.prefixStatementsFor(prefixes);
    return statement.all(afterPosition, toPosition, ...prefixRanges(prefixes)).map(toRecordedEvent);
  }

  private prefixStatementsFor(prefixes: readonly string[]): [Database.Statement<unknown[], EventRow>, Database.Statement<unknown[], EventRow>] {
    if (!Array.isArray(prefixes) || prefixes.length === 0) throw new RangeError('streamPrefixes must not be empty: omit it to read every stream');
    if (prefixes.length > STREAM_PREFIXES_MAX) throw new RangeError(`${prefixes.length} streamPrefixes exceed STREAM_PREFIXES_MAX (${STREAM_PREFIXES_MAX})`);
    for (const prefix of prefixes) {
      if (typeof prefix !== 'string') throw new TypeError('streamPrefixes must be strings');
      if (hasLoneSurrogate(prefix)) throw new RangeError('a stream prefix must not contain a lone surrogate');
    }
    let statements = this.prefixStatements.get(prefixes.length);
    if (statements === undefined) {
      // `+stream_id` keeps SQLite off the (stream_id, revision) index: scanning in position order
      // is what a reader from a position needs, and it bounds every page by its window or LIMIT.
      const filter = prefixes.map(() => '(+stream_id >= ? AND +stream_id < ?)').join(' OR ');
      statements = [
        this.db.prepare<unknown[], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? AND (${filter}) ORDER BY position LIMIT ?`).safeIntegers(true),
        this.db
          .prepare<unknown[], EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? AND position <= ? AND (${filter}) ORDER BY position`)
          .safeIntegers(true),
      ];
      this.prefixStatements.set(prefixes.length, statements);
    }
    return statements;
  }

  private boundedMaxCount(maxCount: number | undefined): number {
    if (maxCount === undefined) return this.readBatchMax;
    if (!Number.isInteger(maxCount) || maxCount < 0) throw new RangeError(`maxCount must be a non-negative integer, got ${maxCount}`);
    return Math.min(maxCount, this.readBatchMax);
  }

  /** Resolves true on the next append through this instance, false after pollIntervalMs or on `wake`. */
  private waitForAppend(wake: (resolve: () => void) => void): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (appended: boolean): void => {
        clearTimeout(timer);
        this.appendListeners.delete(listener);
        resolve(appended);
      };
      const listener = (): void => done(true);
      const timer = setTimeout(() => done(false), this.pollIntervalMs);
      this.appendListeners.add(listener);
      wake(() => done(false));
    });
  }

  private notifyAppend(position: bigint): void {
    if (position > this.appendedHead) this.appendedHead = position;
    if (this.appendListeners.size === 0) return;
    for (const listener of [...this.appendListeners]) listener();
  }

  private migrate(file: string): void {
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        if (version > SCHEMA_VERSION) throw new Error(`event store ${file} has schema version ${version}; this code knows up to ${SCHEMA_VERSION}`);
        this.db.exec(SCHEMA);
        if (version < SCHEMA_VERSION) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })
      .immediate();
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new EventStoreClosedError(operation);
  }
}

interface SubscriptionSource {
  head(): bigint;
  /**
   * Position of the newest append through this store: every event up to it is in the file (an
   * append by another writer that took a lower position committed first). Others' appends beyond
   * it are found by asking `head` when a poll interval passes.
   */
  appendedHead(): bigint;
  readWindow(afterPosition: bigint, toPosition: bigint): RecordedEvent[];
  /** True when woken by an append through this store. */
  waitForAppend(wake: (resolve: () => void) => void): Promise<boolean>;
  forget(subscription: SqliteSubscription): void;
}

/**
 * Reads the log in windows of positions from its cursor and hands each event to the handler.
 * Live events come from the same reads (an append only wakes it), so the switch from catch-up
 * to live cannot skip or repeat an event. With a prefix filter the cursor still moves over the
 * whole window, so a rare prefix does not rescan the same unrelated events on every poll.
 */
class SqliteSubscription implements Subscription {
  readonly closed: Promise<void>;
  private delivered = 0n;
  private stopping = false;
  private wakeWaiter: (() => void) | undefined;
  private readonly stopped = new AbortController();

  constructor(
    private readonly source: SubscriptionSource,
    private readonly handler: EventHandler,
    private cursor: bigint,
    private readonly windowSize: number,
  ) {
    this.closed = this.run();
    // The owner is told through `closed`; an unobserved failure must not take the process down.
    this.closed.catch(() => undefined);
  }

  lastPosition(): bigint {
    return this.delivered;
  }

  private knownHead(head: bigint): bigint {
    const appended = this.source.appendedHead();
    return appended > head ? appended : head;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    this.wakeWaiter?.();
    await this.closed.catch(() => undefined);
  }

  private async run(): Promise<void> {
    try {
      await Promise.resolve(); // never call the handler from inside subscribe()
      let head = await this.read(() => this.source.head());
      while (!this.stopping && head !== undefined) {
        if (head <= this.cursor) {
          // Woken by an append through this store, its position is the head to read to (no query);
          // after a poll interval, the file is asked, for appends by other writers.
          const appended = await this.source.waitForAppend((wake) => (this.wakeWaiter = wake));
          this.wakeWaiter = undefined;
          head = appended ? this.knownHead(head) : await this.read(() => this.source.head());
          continue;
        }
        const windowEnd = head - this.cursor > BigInt(this.windowSize) ? this.cursor + BigInt(this.windowSize) : head;
        const from = this.cursor;
        const events = await this.read(() => this.source.readWindow(from, windowEnd));
        if (events === undefined) return;
        for (const event of events) {
          if (this.stopping) return;
          await this.handler(event);
          this.delivered = event.position;
        }
        this.cursor = windowEnd;
        await yieldToEventLoop(); // a long catch-up must not starve I/O and timers
        head = this.knownHead(head); // appends through this store while the handler ran or the loop yielded (their wake found no waiter)
      }
    } finally {
      this.source.forget(this);
    }
  }

  /**
   * A read of the file, tried again after a pause while it fails (the cursor has not moved, so
   * nothing is skipped or repeated): a lock held by another process or a passing I/O error must
   * not stop a relay or projection for good. Undefined once stopped. Only the handler's errors end it.
   */
  private async read<T>(read: () => T): Promise<T | undefined> {
    for (let failures = 1; !this.stopping; failures++) {
      try {
        return read();
      } catch {
        await retryPause(readRetryBackoffMs(failures), this.stopped.signal);
      }
    }
    return undefined;
  }
}

/**
 * The newest events of the file, read once and shared. Every live subscription and projection
 * runner reads just behind the head after each append; served from here, an append costs one
 * unfiltered read for all of them instead of a filtered query and a parsed copy each. Holds every
 * event with `from < position <= through` (events never change, so nothing here goes stale);
 * readers further behind read the file. Handed-out events are frozen: readers share them.
 */
class RecentEvents {
  private events: RecordedEvent[] = [];
  private from: bigint;
  private through: bigint;

  constructor(
    private readonly readWindow: (afterPosition: bigint, toPosition: bigint) => RecordedEvent[],
    head: bigint,
  ) {
    this.from = head;
    this.through = head;
  }

  /**
   * Events with afterPosition < position <= toPosition of the prefixes (all when undefined), at
   * most maxCount; `toPosition` must be one the file has reached (a head read before the call).
   * Undefined when the reader is further behind than what is kept: it reads the file.
   */
  select(afterPosition: bigint, toPosition: bigint, maxCount: number, prefixes: readonly string[] | undefined): RecordedEvent[] | undefined {
    if (afterPosition < this.from) return undefined;
    this.extendTo(toPosition);
    if (afterPosition < this.from) return undefined; // it started over past the reader
    const selected: RecordedEvent[] = [];
    const { events } = this;
    for (let index = this.firstAfter(afterPosition); index < events.length && selected.length < maxCount; index++) {
      const event = events[index];
      if (event.position > toPosition) break;
      if (prefixes === undefined || hasPrefix(event.streamId, prefixes)) selected.push(event);
    }
    return selected;
  }

  private extendTo(toPosition: bigint): void {
    if (toPosition <= this.through) return;
    if (toPosition - this.through > BigInt(RECENT_EVENTS_MAX)) {
      // Far behind (appends by another process): start over with the newest RECENT_EVENTS_MAX positions.
      this.events = [];
      this.from = this.through = toPosition - BigInt(RECENT_EVENTS_MAX);
    }
    for (const event of this.readWindow(this.through, toPosition)) this.events.push(event);
    this.through = toPosition;
    if (this.events.length > 2 * RECENT_EVENTS_MAX) {
      const dropped = this.events.length - RECENT_EVENTS_MAX;
      this.from = this.events[dropped - 1].position;
      this.events = this.events.slice(dropped);
    }
  }

  /** Index of the first event after `position` (binary search: events are in position order). */
  private firstAfter(position: bigint): number {
    let low = 0;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.events[middle].position <= position) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function hasPrefix(streamId: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) if (streamId.startsWith(prefix)) return true;
  return false;
}

/** A row as an event that several readers share: frozen all the way down, so none can change what another sees. */
function sharedEventOf(row: EventRow): RecordedEvent {
  return deepFreeze(toRecordedEvent(row));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

function prefixRanges(prefixes: readonly string[]): string[] {
  return prefixes.flatMap((prefix) => [prefix, prefix + PREFIX_RANGE_END]);
}

/** What `append` checks before touching the database, for each request of `appendMany` too. */
function checkAppend(streamId: string, events: readonly NewEvent[], expected: ExpectedState): void {
  checkStreamId(streamId);
  if (expected?.kind === 'revision' && typeof expected.revision !== 'bigint') throw new TypeError('append: an expected revision must be a bigint');
  if (expected?.kind === 'revision' && expected.revision < -1n) throw new RangeError(`append: an expected revision must be -1 (no stream) or more, got ${expected.revision}`);
  if (!Array.isArray(events)) throw new TypeError('append: events must be an array');
  if (events.length > APPEND_EVENTS_MAX) throw new RangeError(`append: ${events.length} events exceed APPEND_EVENTS_MAX (${APPEND_EVENTS_MAX})`);
  checkEvents(events);
}

function checkStreamId(streamId: string): void {
  if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > STREAM_ID_LENGTH_MAX) {
    throw new RangeError(`stream id must be 1 to ${STREAM_ID_LENGTH_MAX} characters`);
  }
  if (streamId.includes(PREFIX_RANGE_END)) throw new RangeError('stream id must not contain U+10FFFF');
  if (hasLoneSurrogate(streamId)) throw new RangeError('stream id must not contain a lone surrogate');
}

/**
 * Shape checks a type checker cannot make for callers in plain JS. An event id twice in a batch is
 * left to the writer's unique index, so in an appendMany it fails that request alone, as a taken one does.
 */
function checkEvents(events: readonly NewEvent[]): void {
  for (const event of events) {
    if (typeof event.eventId !== 'string' || event.eventId.length === 0) throw new TypeError('append: every event needs an eventId');
    if (typeof event.type !== 'string' || event.type.length === 0) throw new TypeError(`append: event ${event.eventId} needs a type`);
    if (hasLoneSurrogate(event.eventId) || hasLoneSurrogate(event.type)) throw new TypeError('append: an event id or type must not contain a lone surrogate');
    if (event.eventId.length > EVENT_ID_LENGTH_MAX || event.type.length > EVENT_TYPE_LENGTH_MAX) {
      throw new RangeError(`append: an event id must be at most EVENT_ID_LENGTH_MAX (${EVENT_ID_LENGTH_MAX}) characters and a type at most EVENT_TYPE_LENGTH_MAX (${EVENT_TYPE_LENGTH_MAX})`);
    }
    if (!Number.isSafeInteger(event.schemaVersion)) throw new TypeError(`append: event ${event.eventId} needs an integer schemaVersion`);
    if (event.data === undefined || event.metadata === undefined) throw new TypeError(`append: event ${event.eventId} needs data and metadata`);
  }
}
