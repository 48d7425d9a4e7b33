// A Nest microservice transport on the project's MessageBus port: @MessagePattern topics are
// request/reply, @EventPattern topics are at-least-once events. Modelled on Nest's ServerKafka,
// so swapping the in-process bus for a Kafka adapter changes the bus, not this class.
import {
  Server,
  type BaseRpcContext,
  type CustomTransportStrategy,
  type MessageHandler as NestMessageHandler,
  type ReadPacket,
  type WritePacket,
} from '@nestjs/microservices';
import { finalize, isObservable, lastValueFrom } from 'rxjs';
import { CodecError, decode, encode } from '../codec';
import { InvalidMessageError, isValidTopicName, type BusConsumer, type DeliveredMessage, type MessageBus } from '../message-bus.port';
import { BusContext } from './bus.context';
import { BUS_HEADERS, DEADLINE_CLOCK_SKEW_MS, deadlineOf, unavailableReply, type BusStatus, type ReplyEnvelope } from './bus-protocol';

export interface BusServerOptions {
  /** The consumer group of this service: its instances share the partitions of its topics. */
  readonly groupId: string;
  /** Partition counts of the topics this server consumes, declared before it subscribes. */
  readonly topics?: Readonly<Record<string, number>>;
  /** Deliveries of one message before it goes to `<topic>.dlq`; default: the bus's. */
  readonly maxAttempts?: number;
  /** Requests of one partition handled at once (see SubscribeOptions); default 1. */
  readonly maxInFlightPerPartition?: number;
}

export class BusServer extends Server<Record<string, Function>, BusStatus> implements CustomTransportStrategy {
  /** Event handler failures reach the bus (which redelivers, then dead-letters) instead of a log line. */
  override readonly propagatesEventHandlerErrors = true;
  private consumer: BusConsumer | undefined;
  /** Each topic's handler, found once: Nest's lookup JSON.parses the pattern, which throws for every topic name. */
  private readonly handlerOfTopic = new Map<string, NestMessageHandler>();

  constructor(
    private readonly bus: MessageBus,
    private readonly options: BusServerOptions,
  ) {
    super();
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      for (const [topic, partitions] of Object.entries(this.options.topics ?? {})) await this.bus.createTopic(topic, partitions);
      const topics = [...this.messageHandlers.keys()];
      const invalid = topics.filter((topic) => !isValidTopicName(topic));
      if (invalid.length > 0) {
        throw new Error(`BusServer patterns must be topic names ([a-zA-Z0-9._-]), got ${invalid.join(', ')}`);
      }
      if (topics.length > 0) {
        this.consumer = await this.bus.subscribe({
          topics,
          groupId: this.options.groupId,
          maxAttempts: this.options.maxAttempts,
          maxInFlightPerPartition: this.options.maxInFlightPerPartition,
          handler: (message) => this.handleMessage(message),
        });
      }
      this._status$.next('connected');
      callback();
    } catch (error) {
      callback(error);
    }
  }

  /** Leaves the consumer group (waiting for running handlers). The bus belongs to whoever made it. */
  async close(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
    this._status$.next('disconnected');
  }

  on(): never {
    throw new Error('BusServer has no events to listen to; watch its status instead');
  }

  unwrap<T>(): T {
    return this.bus as T;
  }

  /** As Nest's, remembered per topic (only topics with a handler: the ones this server subscribed to). */
  override getHandlerByPattern(pattern: string): NestMessageHandler | null {
    const known = this.handlerOfTopic.get(pattern);
    if (known !== undefined) return known;
    const handler = super.getHandlerByPattern(pattern);
    if (handler !== null) this.handlerOfTopic.set(pattern, handler);
    return handler;
  }

  /** One bus delivery. Resolves once the handler (and its reply) is done; a rejection means "redeliver". */
  async handleMessage(message: DeliveredMessage): Promise<void> {
    const context = new BusContext([message]);
    const handler = this.getHandlerByPattern(message.topic);
    const correlationId = message.headers[BUS_HEADERS.correlationId];
    const replyTo = message.headers[BUS_HEADERS.replyTo];
    // As ServerKafka: without a correlation id and a reply topic, a message is an event.
    if (!handler || handler.isEventHandler || !correlationId || !replyTo) {
      return this.handleEvent(message.topic, { pattern: message.topic, data: decode(message.value) }, context);
    }
    // Its reply would be refused: running it again on every redelivery would only repeat its effect for nobody.
    if (!isValidTopicName(replyTo)) throw new InvalidMessageError(`request not run: its replyTo ${JSON.stringify(String(replyTo).slice(0, 300))} is no topic name`);
    if (correlationId.length > CORRELATION_ID_LENGTH_MAX) throw new InvalidMessageError(`request not run: its correlationId is over ${CORRELATION_ID_LENGTH_MAX} characters`);
    let packet: ReadPacket;
    try {
      packet = { pattern: message.topic, data: decode(message.value) };
    } catch (error) {
      // Redelivery decodes the same bytes again: the requester hears why now instead of timing out.
      if (!(error instanceof CodecError)) throw error;
      return this.publishReply(replyTo, correlationId, { err: undecodableReply(error), isDisposed: true });
    }
    const deadlineMs = deadlineOf(message.headers);
    if (deadlineMs !== undefined && Date.now() > deadlineMs + DEADLINE_CLOCK_SKEW_MS) {
      // Its requester gave up while it queued: deciding it now (a hold, a transfer) would be for nobody, so it is not run.
      return this.publishReply(replyTo, correlationId, { err: EXPIRED, isDisposed: true });
    }
    return this.answer(handler, packet, context, replyTo, correlationId);
  }

  /** Awaits the handler and its stream, so a failure rejects (as in ServerKafka) and the bus redelivers. */
  override async handleEvent(pattern: string, packet: ReadPacket, context: BaseRpcContext): Promise<void> {
    const handler = this.getHandlerByPattern(pattern);
    if (!handler) {
      this.logger.error(`no event handler for ${pattern}`);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.runWithProcessingHooks(context, async (runEndHook) => {
        try {
          const resultOrStream = await handler(packet.data, context);
          if (isObservable(resultOrStream)) {
            await lastValueFrom(resultOrStream.pipe(finalize(runEndHook)), { defaultValue: undefined });
          } else {
            runEndHook();
          }
          resolve();
        } catch (error) {
          runEndHook();
          reject(error);
        }
      });
    });
  }

  /**
   * Runs a request handler and publishes what it returns (Nest's `send` turns values, errors and
   * completion into packets) to `replyTo`. Resolves when the last packet is published; rejects
   * when a reply could not be published, so the request is delivered again.
   */
  private answer(
    handler: NestMessageHandler,
    packet: ReadPacket,
    context: BusContext,
    replyTo: string,
    correlationId: string,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let failure: unknown;
      let errorSent = false;
      const respond = async (reply: WritePacket): Promise<void> => {
        try {
          // After an error reply, the client has settled: a bare "disposed" packet would be noise.
          const bareDisposal = reply.isDisposed && reply.err === undefined && !('response' in reply);
          if (!(errorSent && bareDisposal)) await this.publishReply(replyTo, correlationId, reply);
          if (reply.err !== undefined) errorSent = true;
        } catch (error) {
          failure ??= error;
        }
        if (reply.isDisposed) {
          if (failure === undefined) resolve();
          else reject(failure);
        }
      };
      this.handleRequest(context, async () => this.transformToObservable(handler(packet.data, context)), respond);
    });
  }

  private async publishReply(replyTo: string, correlationId: string, reply: WritePacket): Promise<void> {
    const envelope: { -readonly [K in keyof ReplyEnvelope]: ReplyEnvelope[K] } = {};
    if (reply.err !== undefined && reply.err !== null) envelope.err = toWireError(reply.err);
    if ('response' in reply) envelope.response = reply.response ?? null;
    if (reply.isDisposed) envelope.isDisposed = true;
    const send = (value: Buffer) => this.bus.publish(replyTo, [{ key: correlationId, value, headers: { [BUS_HEADERS.correlationId]: correlationId } }]);
    // The client must hear why, not time out: the handler returned something JSON cannot carry, or more than a message may.
    const failed = (what: string, error: unknown) =>
      encode({ err: { status: 'error', message: `the reply could not be ${what}: ${error instanceof Error ? error.message : String(error)}` }, isDisposed: true } satisfies ReplyEnvelope);
    let value: Buffer;
    try {
      value = encode(envelope);
    } catch (error) {
      value = failed('encoded', error);
    }
    try {
      await send(value);
    } catch (error) {
      // Redelivering the request would only run its handler again for the same refused reply.
      if (!(error instanceof InvalidMessageError)) throw error;
      await send(failed('sent', error));
    }
  }
}

/** Longest correlation id answered (a uuidv7 has 36 characters): it travels back twice, as the reply's key and header. */
const CORRELATION_ID_LENGTH_MAX = 256;

/** The answer to a request whose deadline passed before it was handled: nothing was done, so a retry is safe. */
const EXPIRED = unavailableReply('the request waited past its deadline and was not handled; retry');

/** The answer to a request whose body is not JSON: nothing was run, and the same bytes never will be. */
function undecodableReply(error: CodecError) {
  return { status: 'error', code: 'validation_failed', retryable: false, message: `the request could not be decoded: ${error.message}` } as const;
}

/** Nest's exception filters give plain objects; an Error (from a custom filter) would stringify to {}. */
function toWireError(err: unknown): unknown {
  return err instanceof Error ? { status: 'error', name: err.name, message: err.message } : err;
}
