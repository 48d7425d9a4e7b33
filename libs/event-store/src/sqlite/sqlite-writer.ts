// The embedded store's one append implementation, run by its writer thread
// (sqlite-writer-worker.ts), and the messages between that thread and the store.
import Database from 'better-sqlite3';
import { GENESIS_HASH } from '@ledger/contracts';
import {
  DuplicateEventIdError,
  WrongExpectedVersionError,
  type AppendOutcome,
  type AppendRequest,
  type AppendResult,
  type ExpectedState,
} from '../event-store.port';
import { EVENT_COLUMNS } from '../event-rows';
import { sealEvents } from '../hash-chain';

/**
 * What the WAL file is cut back to once a checkpoint has copied it into the database: a reader that
 * holds a snapshot for long (the audit CLI) lets it grow past its usual size, and SQLite otherwise
 * keeps the file at its largest for good.
 */
export const EVENT_STORE_WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024;

/** What `PRAGMA synchronous` reads back for each setting. */
const SYNCHRONOUS_LEVEL = { NORMAL: 1, FULL: 2 } as const;

export interface ConnectionOptions {
  readonly file: string;
  readonly synchronous: 'FULL' | 'NORMAL';
  readonly busyTimeoutMs: number;
}

/** Opens a connection to the store's file in WAL mode with the configured durability, checked. */
export function openConnection({ file, synchronous, busyTimeoutMs }: ConnectionOptions): Database.Database {
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    const journalMode = db.pragma('journal_mode = WAL', { simple: true });
    if (journalMode !== 'wal' && !db.memory) throw new Error(`event store ${file}: could not enable WAL (journal_mode is ${String(journalMode)})`);
    // Per connection, and this build's WAL default is NORMAL, so it is always set and checked.
    db.pragma(`synchronous = ${synchronous}`);
    if (db.pragma('synchronous', { simple: true }) !== SYNCHRONOUS_LEVEL[synchronous]) throw new Error(`event store ${file}: synchronous=${synchronous} did not take`);
    db.pragma(`journal_size_limit = ${EVENT_STORE_WAL_SIZE_LIMIT_BYTES}`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

interface StreamRow {
  last_revision: bigint;
  last_hash: string;
}

interface HeadRow {
  position: bigint;
  recorded_at: string;
}

/** Appends to the store's file through its own connection, one transaction per call. */
export class SqliteWriter {
  private readonly selectStream: Database.Statement<[string], StreamRow>;
  private readonly selectHead: Database.Statement<[], HeadRow>;
  private readonly insertEvent: Database.Statement<[bigint, string, bigint, string, string, number, string, string, string]>;
  private readonly upsertStream: Database.Statement<[string, bigint, string]>;
  private readonly selectEventId: Database.Statement<[string], { event_id: string }>;
  private readonly oneTransaction: Database.Transaction<(request: AppendRequest, nowMs: number) => AppendResult>;
  private readonly manyTransaction: Database.Transaction<(requests: readonly AppendRequest[], nowMs: number) => AppendOutcome[]>;
  private readonly sharedTransaction: Database.Transaction<(commands: readonly AppendCommand[]) => WriterReply[]>;

  constructor(private readonly db: Database.Database) {
    this.selectStream = db.prepare<[string], StreamRow>('SELECT last_revision, last_hash FROM streams WHERE stream_id = ?').safeIntegers(true);
    this.selectHead = db.prepare<[], HeadRow>('SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1').safeIntegers(true);
    this.insertEvent = db.prepare(`INSERT INTO events (${EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.upsertStream = db.prepare(
      `INSERT INTO streams (stream_id, last_revision, last_hash) VALUES (?, ?, ?)
       ON CONFLICT (stream_id) DO UPDATE SET last_revision = excluded.last_revision, last_hash = excluded.last_hash`,
    );
    this.selectEventId = db.prepare<[string], { event_id: string }>('SELECT event_id FROM events WHERE event_id = ?');
    this.oneTransaction = db.transaction((request: AppendRequest, nowMs: number) => this.appendInTransaction(request, nowMs));
    // Each request nested in a savepoint (better-sqlite3 nests transactions so): a refused one
    // rolls back alone, the rest commit together.
    this.manyTransaction = db.transaction((requests: readonly AppendRequest[], nowMs: number) =>
      requests.map((request): AppendOutcome => {
        try {
          return { ok: true, result: this.oneTransaction(request, nowMs) };
        } catch (error) {
          if (error instanceof WrongExpectedVersionError || error instanceof DuplicateEventIdError) return { ok: false, error };
          throw error;
        }
      }),
    );
    // Each command nested in a savepoint in its turn: one that fails is undone alone and answered
    // with the error it would have got alone; the others commit together.
    this.sharedTransaction = db.transaction((commands: readonly AppendCommand[]) =>
      commands.map((command): WriterReply => {
        try {
          return command.kind === 'one'
            ? { id: command.id, result: this.oneTransaction(command.requests[0], command.nowMs) }
            : { id: command.id, outcomes: toWireOutcomes(this.manyTransaction(command.requests, command.nowMs)) };
        } catch (error) {
          // SQLite rolled the whole transaction back (a disk error, say): nothing of the others stands either.
          if (!this.db.inTransaction) throw error;
          return { id: command.id, error: toWireError(error) };
        }
      }),
    );
  }

  /**
   * Runs the commands in order in ONE transaction, so they share one COMMIT and one fsync (the
   * appends of every service, each with its own group commit, queue at this one writer); each is
   * answered as if it had run alone. BEGIN IMMEDIATE: the write lock is taken before the head is
   * read, so another connection can never slip in between a check and its insert (and
   * busy_timeout applies). A commit that fails as a whole answers every command with its error.
   */
  run(commands: readonly AppendCommand[]): WriterReply[] {
    try {
      return this.sharedTransaction.immediate(commands);
    } catch (error) {
      return commands.map((command) => ({ id: command.id, error: toWireError(error) }));
    }
  }

  close(): void {
    this.db.close();
  }

  private appendInTransaction({ streamId, events, expected }: AppendRequest, nowMs: number): AppendResult {
    const stream = this.selectStream.get(streamId);
    const actualRevision = stream?.last_revision;
    if (!satisfies(expected, actualRevision)) throw new WrongExpectedVersionError(streamId, expected, actualRevision);
    const head = this.selectHead.get();
    const headPosition = head?.position ?? 0n;
    if (events.length === 0) return { nextExpectedRevision: actualRevision ?? -1n, position: headPosition };

    // Commit time never runs backwards along the log, so "as of T" by recordedAt agrees with position order.
    const recordedAtMs = Math.max(nowMs, head === undefined ? 0 : Date.parse(head.recorded_at));
    const recordedAt = new Date(recordedAtMs).toISOString();
    const sealed = sealEvents(stream?.last_hash ?? GENESIS_HASH, events);
    const firstRevision = (actualRevision ?? -1n) + 1n;
    for (let index = 0; index < sealed.length; index++) {
      const event = sealed[index];
      try {
        this.insertEvent.run(
          headPosition + 1n + BigInt(index),
          streamId,
          firstRevision + BigInt(index),
          event.eventId,
          event.type,
          event.schemaVersion,
          JSON.stringify(event.data),
          JSON.stringify(event.metadata),
          recordedAt,
        );
      } catch (error) {
        // Still inside the transaction: the failed statement alone was undone, so look up the cause.
        if (isUniqueViolation(error) && this.selectEventId.get(event.eventId) !== undefined) throw new DuplicateEventIdError(streamId, event.eventId);
        throw error;
      }
    }
    const lastRevision = firstRevision + BigInt(sealed.length - 1);
    this.upsertStream.run(streamId, lastRevision, sealed[sealed.length - 1].metadata.hash);
    return { nextExpectedRevision: lastRevision, position: headPosition + BigInt(sealed.length) };
  }
}

function satisfies(expected: ExpectedState, actualRevision: bigint | undefined): boolean {
  switch (expected.kind) {
    case 'no_stream':
      return actualRevision === undefined;
    case 'exists':
      return actualRevision !== undefined;
    case 'any':
      return true;
    case 'revision':
      // -1 is the revision an append to a missing stream returns: expecting it expects no stream.
      return expected.revision === -1n ? actualRevision === undefined : actualRevision === expected.revision;
    default: {
      const unknown: never = expected;
      throw new TypeError(`unknown expected state ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * By code, not `instanceof SqliteError`: the native addon keeps the error class of the first copy
 * of better-sqlite3 loaded in the process (Jest loads one per test file), so instanceof can lie.
 */
function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** An append the store posts to its writer thread. */
export interface AppendCommand {
  readonly id: number;
  readonly kind: 'one' | 'many';
  readonly requests: readonly AppendRequest[];
  readonly nowMs: number;
}

/** What the store posts to its writer thread. */
export type WriterCommand = AppendCommand | { readonly kind: 'close' };

/** An error as it crosses threads: structured clone keeps neither its class nor its fields. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly streamId?: string;
  readonly expected?: ExpectedState;
  readonly actualRevision?: bigint;
  readonly eventId?: string;
}

export type WireOutcome = { readonly ok: true; readonly result: AppendResult } | { readonly ok: false; readonly error: WireError };

/** What the writer thread posts back: one reply per command id. */
export type WriterReply =
  | { readonly id: number; readonly result: AppendResult }
  | { readonly id: number; readonly outcomes: WireOutcome[] }
  | { readonly id: number; readonly error: WireError };

export function toWireError(error: unknown): WireError {
  if (error instanceof WrongExpectedVersionError) {
    return { name: error.name, message: error.message, streamId: error.streamId, expected: error.expected, actualRevision: error.actualRevision };
  }
  if (error instanceof DuplicateEventIdError) return { name: error.name, message: error.message, streamId: error.streamId, eventId: error.eventId };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/** The same error class the append would have thrown on this thread, with its fields and SQLite `code`. */
export function fromWireError(wire: WireError): Error {
  if (wire.name === 'WrongExpectedVersionError') return new WrongExpectedVersionError(wire.streamId ?? '', wire.expected ?? { kind: 'any' }, wire.actualRevision);
  if (wire.name === 'DuplicateEventIdError') return new DuplicateEventIdError(wire.streamId ?? '', wire.eventId ?? '');
  const ErrorClass = wire.name === 'TypeError' ? TypeError : wire.name === 'RangeError' ? RangeError : Error;
  const error = new ErrorClass(wire.message);
  if (ErrorClass === Error && wire.name !== 'Error') error.name = wire.name;
  if (wire.code !== undefined) Object.assign(error, { code: wire.code });
  return error;
}

/** The outcomes of an appendMany as they cross threads. */
export function toWireOutcomes(outcomes: readonly AppendOutcome[]): WireOutcome[] {
  return outcomes.map((outcome) => (outcome.ok ? outcome : { ok: false, error: toWireError(outcome.error) }));
}

export function fromWireOutcomes(outcomes: readonly WireOutcome[]): AppendOutcome[] {
  return outcomes.map((outcome) =>
    outcome.ok ? outcome : { ok: false, error: fromWireError(outcome.error) as WrongExpectedVersionError | DuplicateEventIdError },
  );
}
