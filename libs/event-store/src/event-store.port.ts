// The event store port (DESIGN.md §2): every adapter implements exactly this and passes the
// contract suite in ./testing/event-store.contract.ts.
import type { NewEvent, RecordedEvent } from '@ledger/contracts';

/** What the writer expects of the stream before its append. */
export type ExpectedState =
  | { readonly kind: 'no_stream' }
  | { readonly kind: 'exists' }
  | { readonly kind: 'any' }
  /** The revision of the stream's last event (0-based); -1n expects no stream, as an append to a missing stream returns it. */
  | { readonly kind: 'revision'; readonly revision: bigint };

export const expectedState = {
  noStream: { kind: 'no_stream' } as ExpectedState,
  exists: { kind: 'exists' } as ExpectedState,
  any: { kind: 'any' } as ExpectedState,
  revision: (revision: bigint): ExpectedState => ({ kind: 'revision', revision }),
};

export interface AppendResult {
  /**
   * Revision of the last event appended. An empty append returns the stream's current last
   * revision, or -1n when the stream does not exist.
   */
  readonly nextExpectedRevision: bigint;
  /** Global position of the last event appended; for an empty append, the store's head position. */
  readonly position: bigint;
}

/** The stream was not in the expected state: nothing of the append was written. */
export class WrongExpectedVersionError extends Error {
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedState,
    /** The stream's current last revision, or undefined when it does not exist. */
    readonly actualRevision: bigint | undefined,
  ) {
    super(
      `wrong expected version on ${streamId}: expected ${describe(expected)}, actual ${
        actualRevision === undefined ? 'no stream' : actualRevision.toString()
      }`,
    );
    this.name = 'WrongExpectedVersionError';
  }
}

/** An event id of the append is already in the store, or twice in the append: nothing was written. */
export class DuplicateEventIdError extends Error {
  constructor(
    readonly streamId: string,
    readonly eventId: string,
  ) {
    super(`duplicate event id ${eventId} in an append to ${streamId}: nothing was written`);
    this.name = 'DuplicateEventIdError';
  }
}

/** The store was closed: no call is served after `close()`. */
export class EventStoreClosedError extends Error {
  constructor(operation: string) {
    super(`event store is closed: cannot ${operation}`);
    this.name = 'EventStoreClosedError';
  }
}

function describe(expected: ExpectedState): string {
  return expected.kind === 'revision' ? `revision ${expected.revision}` : expected.kind;
}

export interface ReadStreamOptions {
  /** First revision to read (inclusive); default 0. */
  readonly fromRevision?: bigint;
  /** Most events to return; default and maximum are the adapter's READ_BATCH_MAX. */
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Read events with position > this; 0n reads from the start. */
  readonly afterPosition?: bigint;
  readonly maxCount?: number;
  /** Only streams whose id starts with one of these prefixes; omit it for all (an empty list is refused). */
  readonly streamPrefixes?: readonly string[];
}

export interface SubscribeOptions {
  /** Deliver events with position > this; 0n (the default) delivers from the start. */
  readonly afterPosition?: bigint;
  /** As in ReadAllOptions. */
  readonly streamPrefixes?: readonly string[];
}

/**
 * A catch-up subscription: reads history from `afterPosition`, then goes live. The handler is
 * called once per event, in position order, never concurrently; the next event waits for the
 * handler's promise. A handler that throws stops the subscription (`closed` rejects); whoever
 * owns the subscription must watch `closed`, since a stopped projection is otherwise silent.
 * `stop()` waits for the handler in flight, so a handler must not await its own `stop()`.
 */
export interface Subscription {
  /** Resolves when the subscription stopped by `stop()`; rejects with the handler's error. */
  readonly closed: Promise<void>;
  /** Position of the last event handed to the handler (0n before the first). */
  lastPosition(): bigint;
  stop(): Promise<void>;
}

export type EventHandler = (event: RecordedEvent) => void | Promise<void>;

/** One stream's part of an `appendMany`. */
export interface AppendRequest {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expected: ExpectedState;
}

/** How one request of an `appendMany` went. */
export type AppendOutcome =
  | { readonly ok: true; readonly result: AppendResult }
  | { readonly ok: false; readonly error: WrongExpectedVersionError | DuplicateEventIdError };

export interface EventStore {
  /**
   * Appends `events` atomically: all or none. The hash chain (prevHash, hash) is computed by the
   * store. Throws WrongExpectedVersionError when the stream is not as expected and
   * DuplicateEventIdError when an event id is already stored; either way nothing is written and
   * the stream stays appendable. An empty append only checks the expectation.
   */
  append(streamId: string, events: readonly NewEvent[], expected: ExpectedState): Promise<AppendResult>;
  /**
   * Group commit: the requests in order, each as `append` would do it alone, in ONE durable
   * commit. A request whose expectation fails or whose event id is taken fails alone (its outcome
   * holds the error; nothing of it is written); the others are written. Any other error fails the
   * whole call and writes nothing. A stream named twice sees the earlier request's events.
   */
  appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]>;
  /** Events of one stream in revision order; [] when the stream does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Last revision of a stream, or undefined when it does not exist. */
  streamRevision(streamId: string): Promise<bigint | undefined>;
  /** Events of all streams in global position order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Global position of the last event in the store (0n when empty). */
  headPosition(): Promise<bigint>;
  /** Throws EventStoreClosedError (synchronously) after `close()`. */
  subscribe(handler: EventHandler, options?: SubscribeOptions): Subscription;
  /** Stops every subscription, then releases the store; idempotent. Later calls reject with EventStoreClosedError. */
  close(): Promise<void>;
}
