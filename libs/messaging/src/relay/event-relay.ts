// The outbox-free relay (DESIGN.md §4 "Events leave through the store"): follows a service's own
// streams from a checkpoint and publishes each event to `<service>.events`, at least once. The
// checkpoint moves only after the bus accepted the batch and its consumer groups committed it
// (MessageBus.consumed: the in-process bus forgets on a crash), so a crash in between means
// redelivery (consumers deduplicate by eventId, ./idempotent-consumer.ts), never loss.
import { pause } from '../pause';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent } from '@ledger/contracts';
import { checkedInt, isTransientSqliteError, type EventStore, type Subscription } from '@ledger/event-store';
import { CodecError, encode } from '../codec';
import type { BusLogger } from '../in-process/in-process-bus';
import { BusClosedError, InvalidMessageError, isValidTopicName, QueueFullError, type MessageBus, type OutgoingMessage } from '../message-bus.port';
import type { CheckpointStore } from './checkpoint-store';
import { INTEGRATION_EVENT_HEADERS, toIntegrationEvent, type IntegrationEvent } from './integration-event';

/** Most events one publish carries. */
export const RELAY_BATCH_MAX = 500;
/** Most bytes (keys, values, headers) one publish carries: Kafka's default max.request.size. */
export const RELAY_BATCH_BYTES_MAX = 1024 * 1024;
/** Events read from the store and not yet published; beyond it the store subscription waits. */
export const RELAY_BUFFER_MAX = 2 * RELAY_BATCH_MAX;
/** First pause after a failed publish or checkpoint save; doubles per failure up to the max. */
export const RELAY_RETRY_BACKOFF_MS = 10;
export const RELAY_RETRY_BACKOFF_MAX_MS = 1_000;
/**
 * Failures in a row (of a publish or a checkpoint save) before the relay reports itself stalled
 * (`stalled()`, an error log line); about a minute with the default backoff. It never gives up on
 * them: it goes on retrying at the capped backoff, since stopping would leave every later event
 * unpublished until a restart. QueueFullError does not count (backpressure is the bus working),
 * nor does a checkpoint save refused by a full disk or another process's lock.
 */
export const RELAY_STALL_AFTER_FAILURES = 60;
/** Default deadline of waitForPosition. */
export const RELAY_WAIT_TIMEOUT_MS = 10_000;
/**
 * How often waitForPosition looks again while the store's head is still below its target: only
 * another stream's append can move it there, and the relay hears of its own streams' events only.
 */
const RELAY_WAIT_HEAD_RECHECK_MS = 50;

export interface EventRelayOptions {
  readonly store: EventStore;
  readonly bus: MessageBus;
  readonly checkpoints: CheckpointStore;
  /** Where the events go, e.g. `ledger.events`. */
  readonly topic: string;
  /** The checkpoint's name; default: the topic. */
  readonly name?: string;
  /** When given, the relay declares the topic with this many partitions before it starts. */
  readonly topicPartitions?: number;
  /** Only streams whose id starts with one of these (the service's own); omit for every stream. */
  readonly streamPrefixes?: readonly string[];
  /** The message key: the aggregate id (for the ledger, the shard number as a string). */
  readonly keyOf: (event: RecordedEvent) => string;
  /** An explicit partition (the ledger's shard); undefined leaves it to the key's hash. */
  readonly partitionOf?: (event: RecordedEvent) => number | undefined;
  /** False keeps an event in the store only; the checkpoint still moves past it. */
  readonly filter?: (event: RecordedEvent) => boolean;
  /** Shapes what leaves (e.g. drops private fields); must keep the eventId. Default: toIntegrationEvent. */
  readonly map?: (event: RecordedEvent) => IntegrationEvent;
  readonly batchMax?: number;
  readonly batchBytesMax?: number;
  readonly bufferMax?: number;
  readonly retryBackoffMs?: number;
  readonly retryBackoffMaxMs?: number;
  readonly stallAfterFailures?: number;
  readonly logger?: BusLogger;
}

/** The relay stopped on its own: it cannot go on without skipping an event. `closed` rejects with it. */
export class RelayFailedError extends Error {
  constructor(
    readonly relay: string,
    /** The relay's checkpoint when it failed: everything after it is still to be published. */
    readonly checkpoint: bigint,
    reason: string,
    override readonly cause?: unknown,
  ) {
    super(`event relay ${relay} stopped at position ${checkpoint}: ${reason}${cause === undefined ? '' : `: ${describeError(cause)}`}`);
    this.name = 'RelayFailedError';
  }
}

/** An event read from the store, ready to publish (or filtered out, or impossible to encode). */
type Pending =
  | { readonly position: bigint; readonly message: OutgoingMessage; readonly bytes: number }
  | { readonly position: bigint; readonly message: undefined; readonly bytes: 0 }
  | { readonly position: bigint; readonly eventId: string; readonly error: unknown };

/** Resolves everyone waiting when notified; a waiter registers synchronously after its last check. */
class Signal {
  private waiters: (() => void)[] = [];
  /** Counts notifications: a waiter whose check awaited compares it, so a notify during the check is not lost. */
  notified = 0;

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** As wait(), or resolves after `ms` (its waiter then leaves the list). */
  waitAtMost(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }

  notify(): void {
    this.notified++;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

export class EventRelay {
  /** Resolves once the relay stopped by stop() (or because its store closed); rejects with RelayFailedError. */
  readonly closed: Promise<void>;
  private readonly name: string;
  private readonly store: EventStore;
  private readonly bus: MessageBus;
  private readonly checkpoints: CheckpointStore;
  private readonly topic: string;
  private readonly streamPrefixes: readonly string[] | undefined;
  private readonly keyOf: (event: RecordedEvent) => string;
  private readonly partitionOf: ((event: RecordedEvent) => number | undefined) | undefined;
  private readonly filter: ((event: RecordedEvent) => boolean) | undefined;
  private readonly map: (event: RecordedEvent) => IntegrationEvent;
  private readonly batchMax: number;
  private readonly batchBytesMax: number;
  private readonly bufferMax: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly stallAfterFailures: number;
  private readonly logger: BusLogger;

  private readonly subscription: Subscription;
  private readonly buffer: Pending[] = [];
  /** Position of the last event read into the buffer: the store hands them over in order. */
  private lastAccepted: bigint;
  private checkpoint: bigint;
  private readonly arrivals = new Signal();
  private readonly room = new Signal();
  /** Notified when the checkpoint moves or the relay ends: what waitForPosition waits for. */
  private readonly progress = new Signal();
  private readonly abort = new AbortController();
  private stopping = false;
  private finished = false;
  private failure: RelayFailedError | undefined;
  /** Publishes or checkpoint saves that failed in a row (not for backpressure, a full disk or a lock). */
  private failuresInRow = 0;

  /** Loads the checkpoint, declares the topic if asked, and starts relaying. */
  static async start(options: EventRelayOptions): Promise<EventRelay> {
    if (!isValidTopicName(options.topic)) throw new RangeError(`event relay: invalid topic ${JSON.stringify(options.topic)}`);
    const name = options.name ?? options.topic;
    if (options.topicPartitions !== undefined) await options.bus.createTopic(options.topic, options.topicPartitions);
    const checkpoint = await options.checkpoints.load(name);
    if (typeof checkpoint !== 'bigint' || checkpoint < 0n) throw new RangeError(`event relay ${name}: bad checkpoint ${String(checkpoint)}`);
    // A checkpoint beyond the store means they do not belong together (a store restored without its checkpoints).
    const head = await options.store.headPosition();
    if (checkpoint > head) throw new RangeError(`event relay ${name}: checkpoint ${checkpoint} is beyond the store's head ${head}`);
    return new EventRelay(options, name, checkpoint);
  }

  private constructor(options: EventRelayOptions, name: string, checkpoint: bigint) {
    this.name = name;
    this.store = options.store;
    this.bus = options.bus;
    this.checkpoints = options.checkpoints;
    this.topic = options.topic;
    this.streamPrefixes = options.streamPrefixes;
    this.keyOf = options.keyOf;
    this.partitionOf = options.partitionOf;
    this.filter = options.filter;
    this.map = options.map ?? toIntegrationEvent;
    this.batchMax = checkedInt('event relay: batchMax', options.batchMax ?? RELAY_BATCH_MAX, 1, 100_000);
    this.batchBytesMax = checkedInt('event relay: batchBytesMax', options.batchBytesMax ?? RELAY_BATCH_BYTES_MAX, 1, 256 * 1024 * 1024);
    this.bufferMax = checkedInt('event relay: bufferMax', options.bufferMax ?? Math.max(RELAY_BUFFER_MAX, this.batchMax), this.batchMax, 1_000_000);
    this.retryBackoffMs = checkedInt('event relay: retryBackoffMs', options.retryBackoffMs ?? RELAY_RETRY_BACKOFF_MS, 1, 60_000);
    this.retryBackoffMaxMs = checkedInt('event relay: retryBackoffMaxMs', options.retryBackoffMaxMs ?? RELAY_RETRY_BACKOFF_MAX_MS, 1, 600_000);
    this.stallAfterFailures = checkedInt('event relay: stallAfterFailures', options.stallAfterFailures ?? RELAY_STALL_AFTER_FAILURES, 1, 1_000_000);
    this.logger = options.logger ?? consoleLogger(name);
    this.checkpoint = checkpoint;
    this.lastAccepted = checkpoint;

    this.subscription = this.store.subscribe((event) => this.accept(event), {
      afterPosition: checkpoint,
      ...(this.streamPrefixes === undefined ? {} : { streamPrefixes: this.streamPrefixes }),
    });
    this.closed = this.run();
    // The owner is told through `closed`; an unobserved failure must not take the process down.
    this.closed.catch(() => undefined);
  }

  /**
   * True while the last `stallAfterFailures` or more publishes or checkpoint saves in a row failed:
   * the relay still retries, but nothing reaches the other services meanwhile.
   */
  stalled(): boolean {
    return this.failuresInRow >= this.stallAfterFailures;
  }

  /** The store position published and checkpointed so far (0n before the first). */
  position(): bigint {
    return this.checkpoint;
  }

  /**
   * Resolves once every event at or below `target` that this relay follows is published and
   * checkpointed (events of other streams count as done). Rejects on timeout, stop or failure.
   */
  async waitForPosition(target: bigint, timeoutMs = RELAY_WAIT_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const seen = this.progress.notified;
      const relayed = await this.hasRelayed(target);
      if (relayed === true) return;
      if (this.finished) throw new Error(`event relay ${this.name} stopped at position ${this.checkpoint}, before ${target}`);
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) {
        throw new Error(`event relay ${this.name} did not reach position ${target} within ${timeoutMs} ms (at ${this.checkpoint})`);
      }
      if (this.progress.notified !== seen) continue; // it moved while we looked: look again
      // Woken by the relay's own progress; only a head still short of the target needs a look later.
      await this.progress.waitAtMost(relayed === 'head_below' ? Math.min(RELAY_WAIT_HEAD_RECHECK_MS, leftMs) : leftMs);
    }
  }

  /**
   * Stops reading, lets a publish in flight finish, and resolves when nothing runs any more. What
   * was read but not published, or published but not yet consumed, goes out again from the next
   * start. Idempotent.
   */
  async stop(): Promise<void> {
    this.requestStop();
    await this.closed.catch(() => undefined);
  }

  private async run(): Promise<void> {
    this.subscription.closed.then(
      () => {
        if (this.stopping) return;
        this.logger.warn(`event relay ${this.name}: the store subscription ended (store closed?); the relay stops`);
        this.requestStop();
      },
      (error: unknown) => this.fail('its store subscription failed', error),
    );
    try {
      await this.pump();
    } catch (error) {
      this.fail('unexpected error', error);
    }
    await this.subscription.stop();
    this.finished = true;
    this.progress.notify();
    if (this.failure !== undefined) throw this.failure;
  }

  /** The subscription's handler: buffers the event, waiting while the buffer is full. */
  private async accept(event: RecordedEvent): Promise<void> {
    while (this.buffer.length >= this.bufferMax && !this.stopping) await this.room.wait();
    if (this.stopping) return;
    if (event.position <= this.lastAccepted) {
      throw new Error(`event relay ${this.name}: store handed over position ${event.position} after ${this.lastAccepted}`);
    }
    this.lastAccepted = event.position;
    this.buffer.push(this.prepare(event));
    this.arrivals.notify();
  }

  private prepare(event: RecordedEvent): Pending {
    try {
      if (this.filter !== undefined && !this.filter(event)) return { position: event.position, message: undefined, bytes: 0 };
      const value = this.map(event);
      if (value.eventId !== event.eventId) throw new Error(`map changed the eventId to ${String(value.eventId)}: consumers deduplicate by it`);
      const key = this.keyOf(event);
      const headers = { [INTEGRATION_EVENT_HEADERS.eventId]: value.eventId, [INTEGRATION_EVENT_HEADERS.type]: value.type };
      const partition = this.partitionOf?.(event);
      const message: OutgoingMessage = { key, value: encode(value), headers, ...(partition === undefined ? {} : { partition }) };
      let bytes = Buffer.byteLength(key) + message.value.length;
      for (const [header, text] of Object.entries(headers)) bytes += Buffer.byteLength(header) + Buffer.byteLength(text);
      return { position: event.position, message, bytes };
    } catch (error) {
      return { position: event.position, eventId: event.eventId, error };
    }
  }

  /** The one publishing loop: batch, publish (retrying), checkpoint, repeat. */
  private async pump(): Promise<void> {
    let batchLimit = this.batchMax;
    /** Refused publishes in a row (backoff); failuresInRow counts those not refused for a full queue (stalled). */
    let retries = 0;
    while (!this.stopping) {
      if (this.buffer.length === 0) {
        await this.arrivals.wait();
        // One turn for the rest of the store's window (and this turn's other appends) to arrive: one publish and one checkpoint save for all.
        await yieldToEventLoop();
        continue;
      }
      const first = this.buffer[0];
      if ('error' in first) {
        this.fail(`event ${first.eventId} at position ${first.position} cannot be published (filter, map, keyOf or encoding failed)`, first.error);
        return;
      }
      const batch = this.takeBatch(batchLimit);
      const messages = batch.flatMap((pending) => ('message' in pending && pending.message !== undefined ? [pending.message] : []));
      if (messages.length > 0) {
        try {
          await this.bus.publish(this.topic, messages);
        } catch (error) {
          if (error instanceof InvalidMessageError || error instanceof CodecError) {
            this.fail(`the bus refused positions ${batch[0].position}..${batch[batch.length - 1].position}`, error);
            return;
          }
          if (error instanceof BusClosedError) {
            this.fail('its bus closed', error); // a closed bus never reopens: retrying would only spin
            return;
          }
          if (error instanceof QueueFullError && messages.length > 1) {
            // A smaller batch may fit at once: a batch deeper than the queue never would.
            batchLimit = Math.max(1, Math.floor(messages.length / 2));
            await yieldToEventLoop();
            continue;
          }
          retries++;
          // Only real failures count toward a stall: a full queue before them is the bus working.
          if (!(error instanceof QueueFullError)) this.countFailure(`publish to ${this.topic}`, error);
          if (isPowerOfTwo(retries)) {
            this.logger.warn(`event relay ${this.name}: publish to ${this.topic} failed ${retries} time(s) in a row, retrying: ${describeError(error)}`);
          }
          await this.pause(this.backoffMs(retries));
          continue;
        }
        if (!(await this.awaitConsumed())) return;
      }
      const position = batch[batch.length - 1].position;
      if (!(await this.saveCheckpoint(position))) return;
      this.buffer.splice(0, batch.length);
      this.room.notify();
      retries = 0;
      batchLimit = Math.min(this.batchMax, batchLimit * 2);
    }
  }

  /** The longest run from the buffer's front within the count and byte limits (at least one), up to a poison event. */
  private takeBatch(limit: number): Pending[] {
    let bytes = 0;
    let count = 0;
    while (count < Math.min(limit, this.buffer.length)) {
      const pending = this.buffer[count];
      if ('error' in pending) break;
      if (count > 0 && bytes + pending.bytes > this.batchBytesMax) break;
      bytes += pending.bytes;
      count++;
    }
    return this.buffer.slice(0, count);
  }

  /**
   * Waits until the bus's consumer groups committed what was published: a bus that forgets on a
   * crash (the in-process one) loses what they had not, so the checkpoint must not pass it yet.
   * False when the relay ends first: the batch is published again by the next start.
   */
  private async awaitConsumed(): Promise<boolean> {
    try {
      await this.bus.consumed(this.topic, this.abort.signal);
      return true;
    } catch (error) {
      if (!this.stopping) this.fail('waiting for the consumers of the published events failed', error);
      return false;
    }
  }

  /** Saves after a publish resolved; retried, since giving up here would only mean redelivery. False when the relay ends. */
  private async saveCheckpoint(position: bigint): Promise<boolean> {
    if (position <= this.checkpoint) throw new Error(`event relay ${this.name}: checkpoint would go from ${this.checkpoint} back to ${position}`);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.checkpoints.save(this.name, position);
        this.checkpoint = position;
        this.recovered();
        this.progress.notify();
        return true;
      } catch (error) {
        // A full disk or another process's lock passes: the relay waits for it as long as it takes, as it waits out backpressure.
        if (!isTransientSqliteError(error)) this.countFailure(`checkpoint save of ${position}`, error);
        if (isPowerOfTwo(attempt)) this.logger.warn(`event relay ${this.name}: checkpoint save failed ${attempt} time(s), retrying: ${describeError(error)}`);
        await this.pause(this.backoffMs(attempt));
        if (this.stopping) return false;
      }
    }
  }

  /** One more failure in a row; reaching the stall threshold says so once, as an error. */
  private countFailure(what: string, error: unknown): void {
    this.failuresInRow++;
    if (this.failuresInRow === this.stallAfterFailures) {
      this.logger.error(
        `event relay ${this.name} stalled at position ${this.checkpoint}: ${what} failed ${this.failuresInRow} times in a row; ` +
          `still retrying every ${this.retryBackoffMaxMs} ms at most: ${describeError(error)}`,
      );
    }
  }

  /** A publish and its checkpoint went through: a stall, if any, is over. */
  private recovered(): void {
    if (this.stalled()) this.logger.warn(`event relay ${this.name}: recovered after ${this.failuresInRow} failures in a row, at position ${this.checkpoint}`);
    this.failuresInRow = 0;
  }

  private backoffMs(failures: number): number {
    return Math.min(this.retryBackoffMs * 2 ** Math.min(failures - 1, 30), this.retryBackoffMaxMs);
  }

  /** Waits `ms`, or less when the relay stops. */
  private pause(ms: number): Promise<void> {
    return pause(ms, this.abort.signal);
  }

  /** True when relayed through `target`; otherwise why not yet: one of ours is still to go, or the head is below it. */
  private async hasRelayed(target: bigint): Promise<true | 'pending' | 'head_below'> {
    if (this.checkpoint >= target) return true;
    // Past the store's head, events at or below target may still be appended.
    if ((await this.store.headPosition()) < target) return 'head_below';
    // Events of streams this relay does not follow never move its checkpoint: done if none of ours is left up to target.
    const from = this.checkpoint;
    const [next] = await this.store.readAll({
      afterPosition: from,
      maxCount: 1,
      ...(this.streamPrefixes === undefined ? {} : { streamPrefixes: this.streamPrefixes }),
    });
    return next === undefined || next.position > target ? true : 'pending';
  }

  private fail(reason: string, cause: unknown): void {
    if (this.failure === undefined) {
      this.failure = new RelayFailedError(this.name, this.checkpoint, reason, cause);
      this.logger.error(this.failure.message);
    }
    this.requestStop();
  }

  private requestStop(): void {
    this.stopping = true;
    this.abort.abort();
    this.arrivals.notify();
    this.room.notify();
    this.progress.notify();
  }
}

function consoleLogger(name: string): BusLogger {
  return {
    warn: (message) => console.warn(`[EventRelay ${name}] ${message}`),
    error: (message) => console.error(`[EventRelay ${name}] ${message}`),
  };
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
