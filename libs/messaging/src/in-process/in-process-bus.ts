// The embedded mode's message bus: Kafka's semantics in memory (topics of partitions, consumer
// groups that split partitions and rebalance, in-order at-least-once delivery, a DLQ), with a
// bounded queue per partition so a slow consumer slows its producers instead of eating memory.
import { SHARDS_MAX } from '@ledger/ledger';
import { pause } from '../pause';
import { DEFAULT_MESSAGING_CONFIG, type MessagingConfig } from '../messaging.config';
import {
  BusClosedError,
  DEAD_LETTER_HEADERS,
  deadLetterTopic,
  InvalidMessageError,
  isValidTopicName,
  QueueFullError,
  type BusConsumer,
  type DeliveredMessage,
  type MessageBus,
  type MessageHandler,
  type OutgoingMessage,
  type SubscribeOptions,
  type TopicPartition,
} from '../message-bus.port';
import { partitionForKey } from '../partitioner';
import { PartitionLog, type StoredMessage } from './partition-log';
import { keptValue, type DeadLetter, type DeadLetterStore } from '../dead-letter/dead-letter-store';

/** Where the bus reports what no caller is there to hear (a Nest Logger fits). */
export interface BusLogger {
  warn(message: string): void;
  error(message: string): void;
}

export interface InProcessBusOptions {
  /** Partitions of a topic not declared in `topics` nor by createTopic. */
  readonly defaultPartitions?: number;
  /** Topics declared up front, with their partition counts. */
  readonly topics?: Readonly<Record<string, number>>;
  /**
   * Consumer groups of each topic that exist from the topic's declaration, before their first
   * consumer subscribes (Kafka keeps a group's offsets): a relay started first checkpoints nothing
   * they have not read (see consumed()). The topic is not created here: its producer declares it.
   */
  readonly consumerGroups?: Readonly<Record<string, readonly string[]>>;
  readonly maxQueueDepth?: number;
  readonly maxMessageBytes?: number;
  readonly maxAttempts?: number;
  readonly retryBackoffMs?: number;
  readonly retryBackoffMaxMs?: number;
  readonly logger?: BusLogger;
  /** Where dead letters are also kept, to outlive the process (the host's: SqliteDeadLetterStore in DATA_DIR). */
  readonly deadLetters?: DeadLetterStore;
}

export function inProcessBusOptions(config: MessagingConfig): InProcessBusOptions {
  return {
    defaultPartitions: config.BUS_DEFAULT_PARTITIONS,
    maxQueueDepth: config.BUS_MAX_QUEUE_DEPTH,
    maxMessageBytes: config.BUS_MAX_MESSAGE_BYTES,
    maxAttempts: config.BUS_MAX_ATTEMPTS,
    retryBackoffMs: config.BUS_RETRY_BACKOFF_MS,
    retryBackoffMaxMs: config.BUS_RETRY_BACKOFF_MAX_MS,
  };
}

/** Upper bound on partitions of one topic: as many as the ledger may have shards (ledger.commands has LEDGER_SHARDS). */
export const MAX_PARTITIONS = SHARDS_MAX;
const MAX_GROUP_ID_LENGTH = 255;
/** Longest error text a dead-lettered message carries. */
const MAX_ERROR_HEADER_LENGTH = 2048;
/** Least pause before moving a dead letter again (BUS_RETRY_BACKOFF_MAX_MS may be 0): a failing move must not spin, an error line a turn. */
export const DEAD_LETTER_RETRY_MIN_MS = 100;
/** A partition yields to the event loop after this many deliveries in a row (timers must run). */
const DELIVERIES_PER_TURN = 64;
/** Upper bound of `maxInFlightPerPartition`. */
export const MAX_IN_FLIGHT_PER_PARTITION = 4096;

const consoleLogger: BusLogger = {
  warn: (message) => console.warn(`[InProcessBus] ${message}`),
  error: (message) => console.error(`[InProcessBus] ${message}`),
};

interface Topic {
  readonly name: string;
  readonly logs: readonly PartitionLog[];
}

/** A group's position in one partition, and which member owns it now. */
interface Cursor {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to deliver: everything below is committed. */
  next: number;
  owner: Member | undefined;
  /** A delivery loop runs for this cursor (at most one: that is the in-order guarantee). */
  running: boolean;
}

/** A caller of consumed(): the end offset of each partition when it asked. */
interface ConsumedWaiter {
  readonly topic: string;
  readonly ends: readonly number[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Group {
  readonly id: string;
  /** Active members in join order; partitions are dealt out round-robin in this order. */
  members: Member[];
  readonly cursors: Map<string, Cursor[]>;
}

class Member implements BusConsumer {
  active = true;
  /** Running deliveries (each with its retries): what stop() waits for. */
  readonly deliveries = new Set<Promise<boolean>>();
  private readonly abort = new AbortController();
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly leave: (member: Member) => Promise<void>,
    readonly group: Group,
    readonly topics: ReadonlySet<string>,
    readonly handler: MessageHandler,
    readonly maxAttempts: number,
    readonly maxInFlight: number,
  ) {}

  get groupId(): string {
    return this.group.id;
  }

  assignments(): readonly TopicPartition[] {
    const owned: TopicPartition[] = [];
    for (const cursors of this.group.cursors.values()) {
      for (const cursor of cursors) if (cursor.owner === this) owned.push({ topic: cursor.topic, partition: cursor.partition });
    }
    return owned;
  }

  stop(): Promise<void> {
    this.stopping ??= this.leave(this);
    return this.stopping;
  }

  /** Interrupts pauses between attempts: a stopped member does not sit out its backoff. */
  cancelPauses(): void {
    this.abort.abort();
  }

  /** Waits `ms` (at least one event-loop turn, so a retry loop never starves timers and I/O). */
  pause(ms: number): Promise<void> {
    return pause(ms, this.abort.signal);
  }
}

export class InProcessBus implements MessageBus {
  private readonly topics = new Map<string, Topic>();
  private readonly groups = new Map<string, Group>();
  private readonly consumedWaiters = new Set<ConsumedWaiter>();
  /** InProcessBusOptions.consumerGroups, by topic. */
  private readonly groupsDeclaredFor = new Map<string, readonly string[]>();
  private readonly defaultPartitions: number;
  private readonly maxQueueDepth: number;
  private readonly maxMessageBytes: number;
  private readonly maxAttempts: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly logger: BusLogger;
  private readonly deadLetters: DeadLetterStore | undefined;
  /** Set before anything is stopped, so no rebalance during close() starts a new delivery. */
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: InProcessBusOptions = {}) {
    const defaults = DEFAULT_MESSAGING_CONFIG;
    this.defaultPartitions = positiveInt('defaultPartitions', options.defaultPartitions ?? defaults.BUS_DEFAULT_PARTITIONS, MAX_PARTITIONS);
    this.maxQueueDepth = positiveInt('maxQueueDepth', options.maxQueueDepth ?? defaults.BUS_MAX_QUEUE_DEPTH);
    this.maxMessageBytes = positiveInt('maxMessageBytes', options.maxMessageBytes ?? defaults.BUS_MAX_MESSAGE_BYTES);
    this.maxAttempts = positiveInt('maxAttempts', options.maxAttempts ?? defaults.BUS_MAX_ATTEMPTS);
    this.retryBackoffMs = nonNegativeInt('retryBackoffMs', options.retryBackoffMs ?? defaults.BUS_RETRY_BACKOFF_MS);
    this.retryBackoffMaxMs = nonNegativeInt('retryBackoffMaxMs', options.retryBackoffMaxMs ?? defaults.BUS_RETRY_BACKOFF_MAX_MS);
    this.logger = options.logger ?? consoleLogger;
    this.deadLetters = options.deadLetters;
    // Joined to their topic when it is declared (by its producer, with its partition count), not created here.
    for (const [topic, groupIds] of Object.entries(options.consumerGroups ?? {})) this.groupsDeclaredFor.set(topic, groupIds.map(checkGroupId));
    for (const [topic, partitions] of Object.entries(options.topics ?? {})) this.declareTopic(topic, partitions);
  }

  isOpen(): boolean {
    return !this.closed;
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    this.assertOpen('create a topic');
    this.declareTopic(topic, partitions);
  }

  async partitionCount(topic: string): Promise<number> {
    this.assertOpen('read a topic');
    return this.topic(topic).logs.length;
  }

  async publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    this.append(topic, messages, 0);
  }

  /** publish(), letting each message be `allowanceBytes` over the size limit (what the bus itself adds). */
  private append(topic: string, messages: readonly OutgoingMessage[], allowanceBytes: number): void {
    this.assertOpen(`publish to ${String(topic)}`);
    const target = this.topic(topic);
    const partitionCount = target.logs.length;
    const planned: { partition: number; message: Omit<StoredMessage, 'offset'> }[] = [];
    const perPartition = new Map<number, number>();
    for (const message of messages) {
      const stored = this.validated(topic, message, allowanceBytes);
      const partition = message.partition ?? partitionForKey(message.key, partitionCount);
      if (!Number.isInteger(partition) || partition < 0 || partition >= partitionCount) {
        throw new InvalidMessageError(`partition ${partition} does not exist: ${topic} has ${partitionCount} partitions`);
      }
      planned.push({ partition, message: stored });
      perPartition.set(partition, (perPartition.get(partition) ?? 0) + 1);
    }
    // All or nothing: a batch that does not fit anywhere appends nothing. Only a live consumer
    // holds messages back; with none, the oldest go, as Kafka's retention would drop them.
    for (const [partition, count] of perPartition) {
      const log = target.logs[partition];
      if (log.depth + count <= this.maxQueueDepth) continue;
      if (this.hasLiveConsumer(topic, partition)) throw new QueueFullError(topic, partition, this.maxQueueDepth);
      if (count > this.maxQueueDepth) throw new QueueFullError(topic, partition, this.maxQueueDepth);
    }
    for (const [partition, count] of perPartition) {
      const log = target.logs[partition];
      if (log.depth + count > this.maxQueueDepth) log.trimBefore(log.end + count - this.maxQueueDepth);
    }
    for (const { partition, message } of planned) target.logs[partition].append(message);
    for (const partition of perPartition.keys()) this.wake(topic, partition);
  }

  async subscribe(options: SubscribeOptions): Promise<BusConsumer> {
    this.assertOpen('subscribe');
    const { groupId, handler } = options;
    checkGroupId(groupId);
    if (typeof handler !== 'function') throw new InvalidMessageError('handler must be a function');
    if (!Array.isArray(options.topics) || options.topics.length === 0) throw new InvalidMessageError('subscribe needs at least one topic');
    const maxAttempts = positiveInt('maxAttempts', options.maxAttempts ?? this.maxAttempts);
    const maxInFlight = positiveInt('maxInFlightPerPartition', options.maxInFlightPerPartition ?? 1);
    if (maxInFlight > MAX_IN_FLIGHT_PER_PARTITION) {
      throw new InvalidMessageError(`maxInFlightPerPartition must be at most ${MAX_IN_FLIGHT_PER_PARTITION}`);
    }
    const topics = new Set(options.topics);
    for (const topic of topics) this.topic(topic);

    const group = this.declareGroup(groupId, topics);
    const member = new Member((leaving) => this.leave(leaving), group, topics, handler, maxAttempts, maxInFlight);
    group.members.push(member);
    this.rebalance(group);
    return member;
  }

  /** The group, created with a cursor at the oldest retained message (Kafka: auto.offset.reset=earliest) of each topic new to it. */
  private declareGroup(groupId: string, topics: Iterable<string>): Group {
    let group = this.groups.get(groupId);
    if (!group) {
      group = { id: groupId, members: [], cursors: new Map() };
      this.groups.set(groupId, group);
    }
    for (const topic of topics) {
      if (group.cursors.has(topic)) continue;
      const logs = this.topic(topic).logs;
      group.cursors.set(
        topic,
        logs.map((log, partition) => ({ topic, partition, next: log.start, owner: undefined, running: false })),
      );
    }
    return group;
  }

  consumed(topic: string, signal?: AbortSignal): Promise<void> {
    this.assertOpen(`wait for the consumers of ${String(topic)}`);
    signal?.throwIfAborted();
    const target = this.topics.get(topic);
    const ends = target === undefined ? [] : target.logs.map((log) => log.end);
    if (this.hasConsumed(topic, ends)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => waiter.reject(signal?.reason);
      const settled = (): void => {
        this.consumedWaiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: ConsumedWaiter = {
        topic,
        ends,
        resolve: () => (settled(), resolve()),
        reject: (error) => (settled(), reject(error)),
      };
      this.consumedWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closed = true;
      for (const waiter of [...this.consumedWaiters]) waiter.reject(new BusClosedError(`wait for the consumers of ${waiter.topic}`));
      const members = [...this.groups.values()].flatMap((group) => group.members);
      this.closing = Promise.all(members.map((member) => member.stop())).then(() => undefined);
    }
    return this.closing;
  }

  /** Member.stop(): leave the group, hand the partitions over, wait for running handlers. */
  private async leave(member: Member): Promise<void> {
    member.active = false;
    member.cancelPauses();
    const group = member.group;
    group.members = group.members.filter((other) => other !== member);
    this.rebalance(group);
    await Promise.all(member.deliveries.values());
  }

  private declareTopic(topic: string, partitions: number): Topic {
    if (!isValidTopicName(topic)) {
      throw new InvalidMessageError(`invalid topic name ${JSON.stringify(topic)}: use 1 to 249 of [a-zA-Z0-9._-]`);
    }
    positiveInt(`partitions of ${topic}`, partitions, MAX_PARTITIONS);
    const existing = this.topics.get(topic);
    if (existing) {
      if (existing.logs.length !== partitions) {
        throw new InvalidMessageError(`topic ${topic} exists with ${existing.logs.length} partitions, not ${partitions}`);
      }
      return existing;
    }
    const created: Topic = { name: topic, logs: Array.from({ length: partitions }, () => new PartitionLog()) };
    this.topics.set(topic, created);
    for (const groupId of this.groupsDeclaredFor.get(topic) ?? []) this.declareGroup(groupId, [topic]);
    return created;
  }

  /** The topic, created with the default partition count if nobody declared it (Kafka's auto-create). */
  private topic(topic: string): Topic {
    return this.topics.get(topic) ?? this.declareTopic(topic, this.defaultPartitions);
  }

  private validated(topic: string, message: OutgoingMessage, allowanceBytes: number): Omit<StoredMessage, 'offset'> {
    if (typeof message?.key !== 'string') throw new InvalidMessageError(`message to ${topic} needs a string key`);
    if (!Buffer.isBuffer(message.value)) {
      throw new InvalidMessageError(`message value to ${topic} must be a Buffer (encode it with the codec)`);
    }
    const headers: Record<string, string> = {};
    let bytes = Buffer.byteLength(message.key) + message.value.length;
    for (const [name, value] of Object.entries(message.headers ?? {})) {
      if (typeof value !== 'string') throw new InvalidMessageError(`header ${name} of a message to ${topic} must be a string`);
      headers[name] = value;
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    }
    if (bytes > this.maxMessageBytes + allowanceBytes) {
      throw new InvalidMessageError(`message to ${topic} is ${bytes} bytes, over the limit of ${this.maxMessageBytes}`);
    }
    // Copies: the publisher may reuse its buffer, as it could once the bytes had left for a broker.
    return { key: message.key, value: Buffer.from(message.value), headers: Object.freeze(headers) };
  }

  /** Deals each topic's partitions round-robin over the members subscribed to it, then resumes delivery. */
  private rebalance(group: Group): void {
    for (const [topic, cursors] of group.cursors) {
      const members = group.members.filter((member) => member.active && member.topics.has(topic));
      for (const cursor of cursors) cursor.owner = members.length === 0 ? undefined : members[cursor.partition % members.length];
      for (const cursor of cursors) {
        this.trim(topic, cursor.partition);
        this.pump(cursor);
      }
    }
  }

  private wake(topic: string, partition: number): void {
    for (const group of this.groups.values()) {
      const cursor = group.cursors.get(topic)?.[partition];
      if (cursor) this.pump(cursor);
    }
  }

  private pump(cursor: Cursor): void {
    if (cursor.running || cursor.owner === undefined || this.closed) return;
    cursor.running = true;
    void this.drain(cursor);
  }

  /** The one delivery loop of a cursor: message by message, each awaited, until caught up. */
  private async drain(cursor: Cursor): Promise<void> {
    const log = this.topic(cursor.topic).logs[cursor.partition];
    let deliveredThisTurn = 0;
    try {
      for (;;) {
        const owner = cursor.owner;
        if (owner === undefined || this.closed) break;
        if (cursor.next < log.start) {
          this.logger.warn(
            `group ${owner.groupId} skips ${log.start - cursor.next} message(s) of ${cursor.topic}[${cursor.partition}] ` +
              'trimmed while it had no consumer',
          );
          cursor.next = log.start;
          this.wakeConsumedWaiters(cursor.topic);
        }
        const window: StoredMessage[] = [];
        for (let offset = cursor.next; window.length < owner.maxInFlight; offset++) {
          const message = log.at(offset);
          if (message === undefined) break;
          window.push(message);
        }
        if (window.length === 0) break;
        // Handed over in order without waiting; committed in order, up to the first that was not.
        const committed = await Promise.all(window.map((message) => this.deliver(cursor, owner, message)));
        const settled = committed.indexOf(false);
        const through = settled === -1 ? window.length : settled;
        if (through > 0) {
          cursor.next = window[through - 1].offset + 1;
          this.trim(cursor.topic, cursor.partition);
          this.wakeConsumedWaiters(cursor.topic);
        }
        deliveredThisTurn += window.length;
        if (deliveredThisTurn >= DELIVERIES_PER_TURN) {
          deliveredThisTurn = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } catch (error) {
      this.logger.error(`delivery loop of ${cursor.topic}[${cursor.partition}] failed: ${describeError(error)}`);
    }
    // Same synchronous turn as the last check, so a publish that lands after it starts a new loop.
    cursor.running = false;
  }

  /** Delivers one message to `owner`, with retries, then the DLQ. True when the offset may be committed. */
  private deliver(cursor: Cursor, owner: Member, message: StoredMessage): Promise<boolean> {
    // Registered before the handler starts, so a stop() from its first synchronous part waits for it too.
    let start!: (delivered: Promise<boolean>) => void;
    const delivery: Promise<boolean> = new Promise<boolean>((resolve) => (start = resolve)).finally(() => owner.deliveries.delete(delivery));
    owner.deliveries.add(delivery);
    start(this.deliverWithRetries(cursor, owner, message));
    return delivery;
  }

  private async deliverWithRetries(cursor: Cursor, owner: Member, message: StoredMessage): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      if (!this.owns(owner, cursor)) return false;
      try {
        const delivered = toDelivered(cursor, message, attempt);
        await owner.handler(delivered);
        return true;
      } catch (error) {
        if (attempt >= owner.maxAttempts) return this.deadLetter(cursor, owner, message, attempt, error);
        await owner.pause(Math.min(this.retryBackoffMs * 2 ** (attempt - 1), this.retryBackoffMaxMs));
      }
    }
  }

  /** Moves a message that failed `attempts` times to `<topic>.dlq`; retries the move, never drops it. */
  private async deadLetter(cursor: Cursor, owner: Member, message: StoredMessage, attempts: number, error: unknown): Promise<boolean> {
    const dlq = deadLetterTopic(cursor.topic);
    const reason = describeError(error).slice(0, MAX_ERROR_HEADER_LENGTH);
    const added: Record<string, string> = {
      [DEAD_LETTER_HEADERS.error]: reason,
      [DEAD_LETTER_HEADERS.originalTopic]: cursor.topic,
      [DEAD_LETTER_HEADERS.originalPartition]: String(cursor.partition),
      [DEAD_LETTER_HEADERS.originalOffset]: String(message.offset),
      [DEAD_LETTER_HEADERS.groupId]: owner.groupId,
      [DEAD_LETTER_HEADERS.attempts]: String(attempts),
    };
    const headers = { ...message.headers, ...added };
    // The message fitted once; refused for the headers added here, it was retried forever and blocked its partition.
    let allowanceBytes = 0;
    for (const [name, value] of Object.entries(added)) allowanceBytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    if (!(await this.keepDeadLetter(cursor, owner, message, attempts, reason))) return false;
    for (;;) {
      if (!this.owns(owner, cursor)) return false;
      try {
        this.append(dlq, [{ key: message.key, value: message.value, headers }], allowanceBytes);
        this.logger.error(
          `${cursor.topic}[${cursor.partition}]@${message.offset} failed ${attempts} time(s) in group ${owner.groupId}, ` +
            `moved to ${dlq}: ${reason}`,
        );
        return true;
      } catch (publishError) {
        this.logger.error(
          `cannot move ${cursor.topic}[${cursor.partition}]@${message.offset} to ${dlq}, group ${owner.groupId} waits: ` +
            describeError(publishError),
        );
        await owner.pause(Math.max(this.retryBackoffMaxMs, DEAD_LETTER_RETRY_MIN_MS));
      }
    }
  }

  /**
   * Keeps the dead letter in `deadLetters` (retried while the store fails, as the move is); a full
   * store refuses it with an error line, and the message is then in memory only. False when the
   * member lost the partition meanwhile.
   */
  private async keepDeadLetter(cursor: Cursor, owner: Member, message: StoredMessage, attempts: number, error: string): Promise<boolean> {
    if (this.deadLetters === undefined) return true;
    const where = `${cursor.topic}[${cursor.partition}]@${message.offset}`;
    const letter: DeadLetter = {
      topic: cursor.topic,
      partition: cursor.partition,
      offset: String(message.offset),
      groupId: owner.groupId,
      attempts,
      error,
      key: message.key,
      value: keptValue(message.value, message.headers),
      headers: message.headers,
    };
    for (;;) {
      if (!this.owns(owner, cursor)) return false;
      try {
        if (!(await this.deadLetters.add(letter))) this.logger.error(`dead-letter store full: ${where} (group ${owner.groupId}) is not kept past a restart`);
        return true;
      } catch (storeError) {
        this.logger.error(`cannot keep ${where} in the dead-letter store, group ${owner.groupId} waits: ${describeError(storeError)}`);
        await owner.pause(Math.max(this.retryBackoffMaxMs, DEAD_LETTER_RETRY_MIN_MS));
      }
    }
  }

  private owns(member: Member, cursor: Cursor): boolean {
    return member.active && cursor.owner === member && !this.closed;
  }

  /** Drops what every active group of the topic has committed; with no active group, nothing. */
  private trim(topic: string, partition: number): void {
    let committed = Infinity;
    for (const group of this.groups.values()) {
      const cursor = group.cursors.get(topic)?.[partition];
      if (cursor?.owner !== undefined) committed = Math.min(committed, cursor.next);
    }
    if (committed !== Infinity) this.topic(topic).logs[partition].trimBefore(committed);
  }

  /** Whether every group of `topic`, with members or not, committed each partition up to `ends`. */
  private hasConsumed(topic: string, ends: readonly number[]): boolean {
    for (const group of this.groups.values()) {
      for (const cursor of group.cursors.get(topic) ?? []) if (cursor.next < (ends[cursor.partition] ?? 0)) return false;
    }
    return true;
  }

  private wakeConsumedWaiters(topic: string): void {
    for (const waiter of [...this.consumedWaiters]) if (waiter.topic === topic && this.hasConsumed(topic, waiter.ends)) waiter.resolve();
  }

  private hasLiveConsumer(topic: string, partition: number): boolean {
    for (const group of this.groups.values()) if (group.cursors.get(topic)?.[partition]?.owner !== undefined) return true;
    return false;
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new BusClosedError(operation);
  }
}

function toDelivered(cursor: Cursor, message: StoredMessage, attempt: number): DeliveredMessage {
  return {
    topic: cursor.topic,
    partition: cursor.partition,
    offset: String(message.offset),
    key: message.key,
    // Each delivery gets its own bytes, as each Kafka consumer does.
    value: Buffer.from(message.value),
    headers: message.headers,
    attempt,
  };
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function checkGroupId(groupId: unknown): string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > MAX_GROUP_ID_LENGTH) {
    throw new InvalidMessageError(`groupId must be 1 to ${MAX_GROUP_ID_LENGTH} characters`);
  }
  return groupId;
}

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
  return value;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}
