// The message bus port (DESIGN.md §2, §5): Kafka's semantics behind the project's own interface.
// Every adapter implements exactly this and passes the contract suite in
// ./testing/message-bus.contract.ts; Nest reaches the bus only through it (./nest).

export type MessageHeaders = Readonly<Record<string, string>>;

/** A message to publish. The value is already encoded (./codec.ts): the bus moves bytes. */
export interface OutgoingMessage {
  readonly key: string;
  readonly value: Buffer;
  readonly headers?: MessageHeaders;
  /** Explicit partition (0-based); wins over the key's hash. The ledger routes by shard number. */
  readonly partition?: number;
}

/** A message as a consumer receives it. */
export interface DeliveredMessage {
  readonly topic: string;
  readonly partition: number;
  /** Position in the partition, a decimal string as kafkajs gives it. */
  readonly offset: string;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: MessageHeaders;
  /** 1 on the first delivery of this message to this consumer, 2 on the first redelivery, ... */
  readonly attempt: number;
}

/**
 * Handles one message. The next message of the same partition waits for the returned promise;
 * the offset is committed only when it resolves. A rejection means "deliver it again".
 */
export type MessageHandler = (message: DeliveredMessage) => Promise<void>;

export interface SubscribeOptions {
  readonly topics: readonly string[];
  /** Consumers with the same group id share the partitions; every group gets every message. */
  readonly groupId: string;
  readonly handler: MessageHandler;
  /** Deliveries of one message before it goes to `<topic>.dlq`; default: the adapter's setting. */
  readonly maxAttempts?: number;
  /**
   * Messages of one partition handed to the handler before the first of them settles (default 1:
   * strictly one at a time). Above 1 they are handed over in partition order without waiting,
   * and offsets are committed in order once each of the window settled (kafkajs: eachBatch with
   * concurrent handling). The ledger uses this so its writer can group-commit a shard's commands.
   */
  readonly maxInFlightPerPartition?: number;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** One member of a consumer group. */
export interface BusConsumer {
  readonly groupId: string;
  /** The partitions this consumer owns right now; they move on every rebalance. */
  assignments(): readonly TopicPartition[];
  /**
   * Leaves the group at once (no new deliveries), and resolves once no handler of this consumer
   * is running. Its partitions go to the rest of the group; an uncommitted message is delivered
   * again there. A handler may call it but must not await it: the promise waits for that handler
   * too (kafkajs's consumer.stop() hangs the same way, tulios/kafkajs#1168).
   */
  stop(): Promise<void>;
}

export interface MessageBus {
  /** Declares a topic; idempotent for the same partition count, an error for a different one. */
  createTopic(topic: string, partitions: number): Promise<void>;
  /** Partition count of a topic (an unknown topic is created with the default count). */
  partitionCount(topic: string): Promise<number>;
  /**
   * Appends the messages, each to `partition` if given, else to murmur2(key) mod partitions
   * (./partitioner.ts, the same as kafkajs's default). All or nothing: rejects with
   * QueueFullError, and appends none, when a partition would exceed its queue depth.
   */
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<BusConsumer>;
  /**
   * Where the bus keeps messages only in memory (the in-process bus): resolves once every message
   * published to `topic` so far is handled (or dead-lettered) by each group with a live consumer of
   * it, or the bus closes. A relay saves its checkpoint only then, or a crash would lose what was
   * queued. A durable broker (Kafka) has no need of it.
   */
  whenHandled?(topic: string): Promise<void>;
  /** False once `close()` was called. */
  isOpen(): boolean;
  /** Stops every consumer (waiting for running handlers) and refuses further use. Idempotent. */
  close(): Promise<void>;
}

/** Where poison messages go: `<topic>.dlq`, with the headers of DEAD_LETTER_HEADERS. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** Headers a dead-lettered message carries on top of its own. */
export const DEAD_LETTER_HEADERS = {
  error: 'dlq-error',
  originalTopic: 'dlq-original-topic',
  originalPartition: 'dlq-original-partition',
  originalOffset: 'dlq-original-offset',
  groupId: 'dlq-group-id',
  attempts: 'dlq-attempts',
} as const;

/** Kafka's rule for topic names, so a name that works in process works on a broker. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export function isValidTopicName(topic: unknown): topic is string {
  return typeof topic === 'string' && TOPIC_NAME.test(topic) && topic !== '.' && topic !== '..';
}

/** A partition holds as many unconsumed messages as it may: the producer must slow down. */
export class QueueFullError extends Error {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly maxQueueDepth: number,
  ) {
    super(
      `queue full: ${topic}[${partition}] already holds ${maxQueueDepth} messages not yet consumed by every group; retry later`,
    );
    this.name = 'QueueFullError';
  }
}

export class BusClosedError extends Error {
  constructor(operation: string) {
    super(`message bus is closed: cannot ${operation}`);
    this.name = 'BusClosedError';
  }
}

/** A bad topic, partition, key or message size: a bug in the caller, never retried. */
export class InvalidMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidMessageError';
  }
}
