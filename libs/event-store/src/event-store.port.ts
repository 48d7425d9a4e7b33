// The event store port (DESIGN.md §2): every adapter implements exactly this and passes the
// contract suite in ./testing/event-store.contract.ts.
import type { NewEvent, RecordedEvent } from '@ledger/contracts';

/** What the writer expects of the stream before its append. */
export type ExpectedState =
  | { readonly kind: 'no_stream' }
  | { readonly kind: 'exists' }
  | { readonly kind: 'any' }
  /** The revision of the stream's last event (0-based). */
  | { readonly kind: 'revision'; readonly revision: bigint };

export const expect = {
  noStream: { kind: 'no_stream' } as ExpectedState,
  exists: { kind: 'exists' } as ExpectedState,
  any: { kind: 'any' } as ExpectedState,
  revision: (revision: bigint): ExpectedState => ({ kind: 'revision', revision }),
};

export interface AppendResult {
  /** Revision of the last event appended. */
  readonly nextExpectedRevision: bigint;
  /** Global position of the last event appended. */
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
  /** Only streams whose id starts with one of these prefixes. */
  readonly streamPrefixes?: readonly string[];
}

export interface SubscribeOptions {
  readonly afterPosition?: bigint;
  readonly streamPrefixes?: readonly string[];
}

/**
 * A catch-up subscription: reads history from `afterPosition`, then goes live. The handler is
 * called once per event, in position order, never concurrently; the next event waits for the
 * handler's promise. A handler that throws stops the subscription (`closed` rejects).
 */
export interface Subscription {
  /** Resolves when the subscription stopped by `stop()`; rejects with the handler's error. */
  readonly closed: Promise<void>;
  /** Position of the last event handed to the handler (0n before the first). */
  lastPosition(): bigint;
  stop(): Promise<void>;
}

export type EventHandler = (event: RecordedEvent) => void | Promise<void>;

export interface EventStore {
  /**
   * Appends `events` atomically: all or none. The hash chain (prevHash, hash) is computed by the
   * store. Throws WrongExpectedVersionError when the stream is not as expected. An empty append
   * only checks the expectation.
   */
  append(streamId: string, events: readonly NewEvent[], expected: ExpectedState): Promise<AppendResult>;
  /** Events of one stream in revision order; [] when the stream does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Last revision of a stream, or undefined when it does not exist. */
  streamRevision(streamId: string): Promise<bigint | undefined>;
  /** Events of all streams in global position order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Global position of the last event in the store (0n when empty). */
  headPosition(): Promise<bigint>;
  subscribe(handler: EventHandler, options?: SubscribeOptions): Subscription;
  close(): Promise<void>;
}
