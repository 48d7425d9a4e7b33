// A Nest ClientProxy on the project's MessageBus port: `send` is request/reply with a correlation
// id, a reply topic and a timeout; `emit` publishes an event. Modelled on Nest's ClientKafka.
import { uuidv7 } from '@ledger/contracts';
import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import { decode, encode } from '../codec';
import { DEFAULT_MESSAGING_CONFIG } from '../messaging.config';
import type { BusConsumer, DeliveredMessage, MessageBus, OutgoingMessage } from '../message-bus.port';
import { BUS_HEADERS, deadlineOf, KeyedPayload, replyTopicFor, type BusStatus, type ReplyEnvelope } from './bus-protocol';

export interface BusClientOptions {
  /** Prefix of this instance's reply consumer group, `<clientId>-<uuidv7>`. Default `client`. */
  readonly clientId?: string;
  /** How long `send` waits for the reply (less when the payload's deadline header is sooner). Default BUS_REQUEST_TIMEOUT_MS. */
  readonly requestTimeoutMs?: number;
  /** Requests waiting for a reply at once; more are refused. Default BUS_MAX_PENDING_REQUESTS. */
  readonly maxPendingRequests?: number;
}

/** No reply came in time. The request may still have been handled: retry with the same idempotency key. */
export class RequestTimeoutError extends Error {
  constructor(
    readonly topic: string,
    readonly timeoutMs: number,
    readonly correlationId: string,
  ) {
    super(`request to ${topic} timed out: no reply within ${timeoutMs} ms (correlationId ${correlationId})`);
    this.name = 'RequestTimeoutError';
  }
}

export class TooManyPendingRequestsError extends Error {
  constructor(readonly maxPendingRequests: number) {
    super(`${maxPendingRequests} requests already wait for a reply; retry later`);
    this.name = 'TooManyPendingRequestsError';
  }
}

/** The handler on the other side failed; `error` is what its exception filter replied. */
export class RemoteHandlerError extends Error {
  readonly status: string | undefined;

  constructor(readonly error: unknown) {
    super(remoteMessage(error));
    this.name = 'RemoteHandlerError';
    const status = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
    this.status = typeof status === 'string' ? status : undefined;
  }
}

export class ClientClosedError extends Error {
  constructor(topic: string) {
    super(`client closed while a request to ${topic} waited for its reply`);
    this.name = 'ClientClosedError';
  }
}

interface PendingRequest {
  readonly topic: string;
  settle(reply: WritePacket): void;
}

export class BusClientProxy extends ClientProxy<Record<never, Function>, BusStatus> {
  /** This instance's reply consumer group: every instance sees every reply and keeps its own. */
  readonly groupId: string;
  private readonly requestTimeoutMs: number;
  private readonly maxPendingRequests: number;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly replyConsumers = new Map<string, Promise<BusConsumer>>();

  constructor(
    private readonly bus: MessageBus,
    options: BusClientOptions = {},
  ) {
    super();
    this.groupId = `${options.clientId ?? 'client'}-${uuidv7.next()}`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_MESSAGING_CONFIG.BUS_REQUEST_TIMEOUT_MS;
    this.maxPendingRequests = options.maxPendingRequests ?? DEFAULT_MESSAGING_CONFIG.BUS_MAX_PENDING_REQUESTS;
    if (!Number.isSafeInteger(this.requestTimeoutMs) || this.requestTimeoutMs < 1) {
      throw new RangeError('requestTimeoutMs must be a positive integer');
    }
    if (!Number.isSafeInteger(this.maxPendingRequests) || this.maxPendingRequests < 1) {
      throw new RangeError('maxPendingRequests must be a positive integer');
    }
  }

  /** Nothing to dial: reply topics are subscribed on the first request to each topic. */
  async connect(): Promise<void> {
    this._status$.next('connected');
  }

  /** Fails the requests still waiting, and leaves the reply groups. The bus belongs to whoever made it. */
  async close(): Promise<void> {
    for (const request of [...this.pending.values()]) request.settle({ err: new ClientClosedError(request.topic) });
    const consumers = [...this.replyConsumers.values()];
    this.replyConsumers.clear();
    await Promise.all(consumers.map(async (consumer) => (await consumer.catch(() => undefined))?.stop()));
    this._status$.next('disconnected');
  }

  unwrap<T>(): T {
    return this.bus as T;
  }

  /** Requests waiting for their reply. */
  pendingRequests(): number {
    return this.pending.size;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const topic = this.normalizePattern(packet.pattern);
    if (this.pending.size >= this.maxPendingRequests) {
      callback({ err: new TooManyPendingRequestsError(this.maxPendingRequests) });
      return () => undefined;
    }
    const correlationId = uuidv7.next();
    const replyTo = replyTopicFor(topic);
    // Wall-clock time, as the server reads the deadline: transport time, like the timer below, not the services' Clock.
    const nowMs = Date.now();
    const inherited = packet.data instanceof KeyedPayload ? deadlineOf(packet.data.headers) : undefined;
    const deadlineMs = Math.min(nowMs + this.requestTimeoutMs, inherited ?? Infinity);
    if (deadlineMs <= nowMs) {
      // The caller's own caller stopped waiting: the request would be decided for nobody.
      callback({ err: new RequestTimeoutError(topic, 0, correlationId) });
      return () => undefined;
    }
    const waitUntilMs = packet.data instanceof KeyedPayload && typeof packet.data.waitUntilMs === 'number' && !Number.isNaN(packet.data.waitUntilMs) ? packet.data.waitUntilMs : -Infinity;
    const timeoutMs = Math.min(nowMs + this.requestTimeoutMs, Math.max(deadlineMs, waitUntilMs)) - nowMs;
    let outgoing: OutgoingMessage;
    try {
      // Encoding first: a payload JSON cannot carry fails here, before anything waits.
      outgoing = toOutgoing(packet.data, correlationId, {
        [BUS_HEADERS.correlationId]: correlationId,
        [BUS_HEADERS.replyTo]: replyTo,
        [BUS_HEADERS.deadline]: String(deadlineMs),
      });
    } catch (err) {
      callback({ err });
      return () => undefined;
    }

    const settle = (reply: WritePacket): void => {
      if (!this.pending.has(correlationId)) return;
      if (reply.err !== undefined || reply.isDisposed) forget();
      callback(reply);
    };
    const timeout = (): void => settle({ err: new RequestTimeoutError(topic, timeoutMs, correlationId) });
    const timer = setTimeout(timeout, timeoutMs);
    const forget = (): void => {
      this.pending.delete(correlationId);
      clearTimeout(timer);
    };
    this.pending.set(correlationId, { topic, settle });

    this.replyConsumer(replyTo)
      .then(async () => {
        if (this.pending.has(correlationId)) await this.bus.publish(topic, [outgoing]);
      })
      .catch((err: unknown) => settle({ err }));
    return forget;
  }

  protected async dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    const topic = this.normalizePattern(packet.pattern);
    await this.bus.publish(topic, [toOutgoing(packet.data, uuidv7.next(), {})]);
    return undefined as T;
  }

  /** A remote failure arrives as a plain object (Nest's `{ status, message }`): make it an Error. */
  protected override serializeError(err: unknown): unknown {
    return err instanceof Error ? err : new RemoteHandlerError(err);
  }

  private replyConsumer(replyTo: string): Promise<BusConsumer> {
    let consumer = this.replyConsumers.get(replyTo);
    if (consumer === undefined) {
      consumer = this.bus.subscribe({
        topics: [replyTo],
        groupId: this.groupId,
        // A reply nobody can read is not worth a retry: the request times out instead.
        maxAttempts: 1,
        handler: async (message) => this.onReply(message),
      });
      this.replyConsumers.set(replyTo, consumer);
      consumer.catch(() => this.replyConsumers.delete(replyTo));
    }
    return consumer;
  }

  private onReply(message: DeliveredMessage): void {
    const correlationId = message.headers[BUS_HEADERS.correlationId];
    const request = correlationId === undefined ? undefined : this.pending.get(correlationId);
    if (request === undefined) return; // another instance's reply, or one that came after the timeout
    let envelope: ReplyEnvelope;
    try {
      const decoded = decode(message.value);
      if (typeof decoded !== 'object' || decoded === null) throw new TypeError('a reply must be a JSON object');
      envelope = decoded as ReplyEnvelope;
    } catch (err) {
      request.settle({ err });
      return;
    }
    request.settle({ err: envelope.err ?? undefined, response: envelope.response, isDisposed: envelope.isDisposed === true });
  }
}

function toOutgoing(data: unknown, defaultKey: string, reservedHeaders: Record<string, string>): OutgoingMessage {
  if (data instanceof KeyedPayload) {
    return { key: data.key, value: encode(data.value), headers: { ...data.headers, ...reservedHeaders }, partition: data.partition };
  }
  return { key: defaultKey, value: encode(data), headers: reservedHeaders };
}

function remoteMessage(error: unknown): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  try {
    return `remote handler failed: ${JSON.stringify(error)}`;
  } catch {
    return 'remote handler failed';
  }
}
