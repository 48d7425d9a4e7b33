// The bus of another thread as a MessageBus: `serveBusOverPort` on the thread that owns the bus
// (the host's main thread), a `ThreadBus` on the other (the gateway's thread). Messages, their
// deliveries and the handlers' outcomes cross a MessagePort; commits, retries and the DLQ stay
// with the owning bus, so the semantics are that bus's own.
import type { MessagePort } from 'node:worker_threads';
import { ThreadLink, ThreadLinkClosedError, type LinkErrors } from '@ledger/contracts';
import {
  BusClosedError,
  InvalidMessageError,
  QueueFullError,
  type BusConsumer,
  type DeliveredMessage,
  type MessageBus,
  type MessageHandler,
  type OutgoingMessage,
  type SubscribeOptions,
  type TopicPartition,
} from '../message-bus.port';

type ConsumerSettings = Omit<SubscribeOptions, 'handler'>;
/** Each bridged consumer's partitions, as of the owning bus's last subscribe or stop through the link. */
type AssignmentsByConsumer = Readonly<Record<number, readonly TopicPartition[]>>;

interface WireBusError {
  readonly name: string;
  readonly message: string;
  readonly topic?: string;
  readonly partition?: number;
  readonly maxQueueDepth?: number;
}

const BUS_ERRORS: LinkErrors = {
  encode(error: unknown): WireBusError {
    if (error instanceof QueueFullError) return { name: error.name, message: error.message, topic: error.topic, partition: error.partition, maxQueueDepth: error.maxQueueDepth };
    return error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
  },
  decode(wire: unknown): Error {
    const error = wire as WireBusError;
    switch (error.name) {
      case 'QueueFullError':
        return new QueueFullError(error.topic ?? '', error.partition ?? 0, error.maxQueueDepth ?? 0);
      case 'InvalidMessageError':
        return new InvalidMessageError(error.message);
      case 'BusClosedError':
      case 'ThreadLinkClosedError':
        return Object.assign(new BusClosedError('use it'), { message: error.message });
      default:
        return Object.assign(new Error(error.message), { name: error.name });
    }
  },
};

/** A Buffer as it crosses: only its own bytes (a pooled Buffer would clone the whole pool). */
function bytesOf(value: Uint8Array): Uint8Array {
  return value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : new Uint8Array(value);
}

function bufferOf(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Serves `bus` to the ThreadBus at the other end of `port`; the bus itself stays open when the link ends. */
export function serveBusOverPort(port: MessagePort, bus: MessageBus): ThreadLink {
  const consumers = new Map<number, BusConsumer>();
  const assignments = (): AssignmentsByConsumer => Object.fromEntries([...consumers].map(([id, consumer]) => [id, consumer.assignments()]));
  const link: ThreadLink = new ThreadLink(
    port,
    {
      createTopic: (topic: string, partitions: number) => bus.createTopic(topic, partitions),
      partitionCount: (topic: string) => bus.partitionCount(topic),
      publish: (topic: string, messages: readonly OutgoingMessage[]) => bus.publish(topic, messages.map((message) => ({ ...message, value: bufferOf(message.value) }))),
      consumed: (topic: string) => bus.consumed(topic),
      isOpen: () => bus.isOpen(),
      subscribe: async (id: number, settings: ConsumerSettings) => {
        const handler: MessageHandler = (message) => link.call('deliver', id, { ...message, value: bytesOf(message.value) });
        consumers.set(id, await bus.subscribe({ ...settings, handler }));
        return assignments();
      },
      stop: async (id: number) => {
        const consumer = consumers.get(id);
        consumers.delete(id);
        await consumer?.stop();
        return assignments();
      },
    },
    BUS_ERRORS,
  );
  // The other thread ended: its consumers leave their groups, so their partitions move on.
  link.onClosed(() => {
    for (const consumer of consumers.values()) void consumer.stop();
    consumers.clear();
  });
  return link;
}

/** A consumer of the owning bus, as this thread sees it. */
class ThreadConsumer implements BusConsumer {
  owned: readonly TopicPartition[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    readonly groupId: string,
    readonly handler: MessageHandler,
    private readonly leave: () => Promise<void>,
  ) {}

  assignments(): readonly TopicPartition[] {
    return this.owned;
  }

  stop(): Promise<void> {
    this.owned = [];
    this.stopping ??= this.leave();
    return this.stopping;
  }
}

/**
 * The MessageBus of another thread, served there by `serveBusOverPort`. `assignments()` is as of
 * the last subscribe or stop made through this bus (the owning bus rebalances without telling it).
 * `close()` stops this thread's consumers and ends the link; the owning bus stays open.
 */
export class ThreadBus implements MessageBus {
  private readonly link: ThreadLink;
  private readonly consumers = new Map<number, ThreadConsumer>();
  private nextConsumerId = 1;
  private closing: Promise<void> | undefined;

  constructor(port: MessagePort) {
    this.link = new ThreadLink(port, { deliver: (id: number, message: DeliveredMessage) => this.deliver(id, message) }, BUS_ERRORS);
  }

  createTopic(topic: string, partitions: number): Promise<void> {
    return this.call('createTopic', topic, partitions);
  }

  partitionCount(topic: string): Promise<number> {
    return this.call('partitionCount', topic);
  }

  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    return this.call('publish', topic, messages.map((message) => ({ ...message, value: bytesOf(message.value) })));
  }

  async subscribe(options: SubscribeOptions): Promise<BusConsumer> {
    const { handler, ...settings } = options;
    const id = this.nextConsumerId++;
    const consumer = new ThreadConsumer(options.groupId, handler, async () => {
      this.consumers.delete(id);
      this.assign(await this.link.call<AssignmentsByConsumer>('stop', id).catch((error: unknown) => (error instanceof ThreadLinkClosedError ? {} : Promise.reject(error))));
    });
    this.consumers.set(id, consumer); // before the owning bus can deliver
    try {
      this.assign(await this.call<AssignmentsByConsumer>('subscribe', id, { ...settings, topics: [...settings.topics] }));
    } catch (error) {
      this.consumers.delete(id);
      throw error;
    }
    return consumer;
  }

  consumed(topic: string, signal?: AbortSignal): Promise<void> {
    const done = this.call<void>('consumed', topic);
    if (signal === undefined) return done;
    return new Promise<void>((resolve, reject) => {
      const abort = () => reject(signal.reason);
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      done.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
    });
  }

  isOpen(): boolean {
    return this.closing === undefined && this.link.isOpen();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.consumers.values()].map((consumer) => consumer.stop()));
      await this.link.close();
    })();
    return this.closing;
  }

  private call<T>(method: string, ...args: readonly unknown[]): Promise<T> {
    if (!this.isOpen()) return Promise.reject(new BusClosedError(method));
    return this.link.call<T>(method, ...args);
  }

  private async deliver(id: number, message: DeliveredMessage): Promise<void> {
    const consumer = this.consumers.get(id);
    if (consumer === undefined) throw new BusClosedError(`deliver to a consumer that left (${id})`);
    await consumer.handler({ ...message, value: bufferOf(message.value) });
  }

  private assign(assignments: AssignmentsByConsumer): void {
    for (const [id, consumer] of this.consumers) consumer.owned = assignments[id] ?? [];
  }
}
