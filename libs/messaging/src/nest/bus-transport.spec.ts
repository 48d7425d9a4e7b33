import 'reflect-metadata';
import { Controller, Inject, Module, type DynamicModule, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload, RpcException, Server, type MicroserviceOptions } from '@nestjs/microservices';
import { from, lastValueFrom, toArray } from 'rxjs';
import { CodecError, decode, encode } from '../codec';
import { InProcessBus } from '../in-process/in-process-bus';
import { DEAD_LETTER_HEADERS, deadLetterTopic, type DeliveredMessage } from '../message-bus.port';
import { partitionForKey } from '../partitioner';
import { waitFor } from '@ledger/contracts/testing';
import { BusExceptionFilter } from './bus-exception.filter';
import { BusClientProxy, ClientClosedError, RemoteHandlerError, RequestTimeoutError, TooManyPendingRequestsError } from './bus.client';
import { BusContext } from './bus.context';
import { BUS_HEADERS, DEADLINE_CLOCK_SKEW_MS, keyed, replyTopicFor } from './bus-protocol';
import { BusServer } from './bus.server';

const COMMANDS = 'ledger.commands';
const EVENTS = 'ledger.events';
const RECORDER = Symbol('RECORDER');

type Command =
  | { type: 'Echo'; body: unknown; atMs?: number }
  | { type: 'Reject' }
  | { type: 'Crash' }
  | { type: 'DiskFull' }
  | { type: 'BigAmount' }
  | { type: 'Count' }
  | { type: 'Large'; bytes: number }
  | { type: 'Track'; seq: number };

interface TrackedEvent {
  readonly id: string;
  readonly failTimes?: number;
}

class Recorder {
  commands = 0;
  readonly events: { id: string; attempt: number }[] = [];
  readonly tracked: { seq: number; partition: number }[] = [];
  readonly inFlight = new Map<number, number>();
  maxInFlight = 0;
}

@Controller()
class LedgerTransportController {
  constructor(@Inject(RECORDER) private readonly recorder: Recorder) {}

  @MessagePattern<string>(COMMANDS)
  async handle(@Payload() command: Command, @Ctx() context: BusContext): Promise<unknown> {
    this.recorder.commands++;
    switch (command.type) {
      case 'Echo':
        return {
          echo: command.body,
          partition: context.getPartition(),
          key: context.getKey(),
          at: command.atMs === undefined ? undefined : new Date(command.atMs),
          deadline: context.getDeadline(),
        };
      case 'Reject':
        throw new RpcException({ status: 'error', code: 'insufficient_funds', message: 'not enough money' });
      case 'Crash':
        throw new Error('boom');
      case 'DiskFull':
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      case 'BigAmount':
        return { amount: 1050n };
      case 'Count':
        return from([1, 2, 3]);
      case 'Large':
        return 'x'.repeat(command.bytes);
      case 'Track': {
        const partition = context.getPartition();
        const running = (this.recorder.inFlight.get(partition) ?? 0) + 1;
        this.recorder.inFlight.set(partition, running);
        this.recorder.maxInFlight = Math.max(this.recorder.maxInFlight, running);
        await new Promise((resolve) => setImmediate(resolve));
        this.recorder.tracked.push({ seq: command.seq, partition });
        this.recorder.inFlight.set(partition, running - 1);
        return command.seq;
      }
    }
  }

  @EventPattern<string>(EVENTS)
  async onEvent(@Payload() event: TrackedEvent, @Ctx() context: BusContext): Promise<void> {
    this.recorder.events.push({ id: event.id, attempt: context.getAttempt() });
    if (event.failTimes !== undefined && context.getAttempt() <= event.failTimes) {
      throw new RpcException(`ledger unavailable (attempt ${context.getAttempt()})`);
    }
  }
}

@Module({})
class LedgerTransportModule {
  static with(recorder: Recorder): DynamicModule {
    return {
      module: LedgerTransportModule,
      controllers: [LedgerTransportController],
      providers: [{ provide: RECORDER, useValue: recorder }],
    };
  }
}

const silent = { warn: () => undefined, error: () => undefined };

describe('Nest transport over the message bus (BusServer + BusClientProxy)', () => {
  let bus: InProcessBus;
  let recorder: Recorder;
  let app: INestMicroservice;
  let client: BusClientProxy;

  beforeEach(async () => {
    bus = new InProcessBus({ maxAttempts: 3, retryBackoffMs: 1, logger: silent });
    recorder = new Recorder();
    app = await NestFactory.createMicroservice<MicroserviceOptions>(LedgerTransportModule.with(recorder), {
      strategy: new BusServer(bus, { groupId: 'wallet-ledger', topics: { [COMMANDS]: 4, [EVENTS]: 4 } }),
      logger: false,
    });
    app.useGlobalFilters(new BusExceptionFilter()); // as startBusMicroservice does
    await app.listen();
    client = new BusClientProxy(bus, { clientId: 'card-issuer', requestTimeoutMs: 2_000 });
    await client.connect();
  });

  afterEach(async () => {
    await client.close();
    await app.close();
    await bus.close();
  });

  const request = <T>(command: unknown, through: BusClientProxy = client): Promise<T> => lastValueFrom(through.send<T>(COMMANDS, command));

  it('answers many concurrent requests, each with its own reply', async () => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => request<{ echo: number }>({ type: 'Echo', body: i })),
    );
    expect(replies.map((reply) => reply.echo)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(client.pendingRequests()).toBe(0);
  });

  it("looks a topic's handler up once, not per message (Nest's lookup throws inside for every topic name)", async () => {
    const lookups = jest.spyOn(Server.prototype, 'getHandlerByPattern');
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => request({ type: 'Echo', body: i })));
      await request({ type: 'Echo', body: 'again' });
      expect(lookups.mock.calls.filter(([pattern]) => pattern === COMMANDS)).toHaveLength(1);
    } finally {
      lookups.mockRestore();
    }
  });

  it('keeps each client to its own replies when several share the reply topic', async () => {
    const other = new BusClientProxy(bus, { clientId: 'gateway' });
    try {
      const [mine, theirs] = await Promise.all([
        Promise.all(Array.from({ length: 50 }, (_, i) => request<{ echo: string }>({ type: 'Echo', body: `mine-${i}` }))),
        Promise.all(Array.from({ length: 50 }, (_, i) => request<{ echo: string }>({ type: 'Echo', body: `theirs-${i}` }, other))),
      ]);
      expect(mine.map((reply) => reply.echo)).toEqual(Array.from({ length: 50 }, (_, i) => `mine-${i}`));
      expect(theirs.map((reply) => reply.echo)).toEqual(Array.from({ length: 50 }, (_, i) => `theirs-${i}`));
    } finally {
      await other.close();
    }
  });

  it("routes by the caller's key: an explicit shard partition, or the key's hash", async () => {
    const byShard = await request<{ partition: number; key: string }>(keyed('3', { type: 'Echo', body: 'shard 3' }, { partition: 3 }));
    expect(byShard).toMatchObject({ partition: 3, key: '3' });

    const byKey = await request<{ partition: number; key: string }>(keyed('card-42', { type: 'Echo', body: 'card' }));
    expect(byKey).toMatchObject({ partition: partitionForKey('card-42', 4), key: 'card-42' });

    const unkeyed = await request<{ key: string }>({ type: 'Echo', body: 'no key' });
    expect(unkeyed.key).toMatch(/^[0-9a-f-]{36}$/); // the correlation id
  });

  it('handles the requests of one partition one at a time, in order', async () => {
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, seq) => request<number>(keyed('shard-0', { type: 'Track', seq }, { partition: 0 }))),
    );
    expect(replies).toEqual(Array.from({ length: 30 }, (_, seq) => seq));
    expect(recorder.maxInFlight).toBe(1);
    expect(recorder.tracked.map((t) => t.seq)).toEqual([...recorder.tracked.map((t) => t.seq)].sort((a, b) => a - b));
  });

  it('carries payloads as JSON: a Date arrives as its ISO string', async () => {
    const atMs = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    const reply = await request<{ at: unknown; echo: unknown }>({ type: 'Echo', body: { nested: new Date(atMs) }, atMs });
    expect(reply.at).toBe('2025-01-02T03:04:05.678Z');
    expect(reply.echo).toEqual({ nested: '2025-01-02T03:04:05.678Z' });
  });

  it('refuses a bigint request at send, before anything is published', async () => {
    await expect(request({ type: 'Echo', body: { amount: 1050n } })).rejects.toThrow(CodecError);
    await expect(request({ type: 'Echo', body: { amount: 1050n } })).rejects.toThrow(/amounts travel as decimal strings/);
    expect(recorder.commands).toBe(0);
    expect(client.pendingRequests()).toBe(0);
  });

  it('rejects, instead of timing out, when the reply cannot be encoded (a bigint amount)', async () => {
    await expect(request({ type: 'BigAmount' })).rejects.toThrow(/the reply could not be encoded: cannot encode bigint at "amount"/);
  });

  it('rejects, instead of timing out, when the reply is over the bus message size limit, and runs the handler once', async () => {
    // The reply's publish was refused, so the request was redelivered (the handler ran maxAttempts times), dead-lettered, and the caller timed out.
    await expect(request({ type: 'Large', bytes: 2 * 1024 * 1024 })).rejects.toThrow(/the reply could not be sent: .*over the limit/);
    expect(recorder.commands).toBe(1);
  });

  it("rejects with the handler's RpcException as a RemoteHandlerError", async () => {
    const failure = request({ type: 'Reject' });
    await expect(failure).rejects.toBeInstanceOf(RemoteHandlerError);
    await expect(failure).rejects.toMatchObject({
      message: 'not enough money',
      status: 'error',
      error: { code: 'insufficient_funds' },
    });
  });

  it("rejects with Nest's generic error when the handler crashes, and does not redeliver the request", async () => {
    await expect(request({ type: 'Crash' })).rejects.toMatchObject({ name: 'RemoteHandlerError', message: 'Internal server error' });
    expect(recorder.commands).toBe(1);
  });

  it('answers a storage failure that passes (a full disk) as unavailable and retryable, not as an internal error', async () => {
    await expect(request({ type: 'DiskFull' })).rejects.toMatchObject({ name: 'RemoteHandlerError', error: { code: 'unavailable', retryable: true } });
    expect(recorder.commands).toBe(1);
  });

  it('streams every value of an Observable reply', async () => {
    expect(await lastValueFrom(client.send<number>(COMMANDS, { type: 'Count' }).pipe(toArray()))).toEqual([1, 2, 3]);
  });

  it('times out when nobody answers, saying so', async () => {
    const impatient = new BusClientProxy(bus, { requestTimeoutMs: 50 });
    try {
      const unanswered = lastValueFrom(impatient.send('cards.commands', { type: 'FreezeCard' }));
      await expect(unanswered).rejects.toBeInstanceOf(RequestTimeoutError);
      await expect(lastValueFrom(impatient.send('cards.commands', { type: 'FreezeCard' }))).rejects.toThrow(
        /request to cards\.commands timed out: no reply within 50 ms/,
      );
      expect(impatient.pendingRequests()).toBe(0);
    } finally {
      await impatient.close();
    }
  });

  it('tells the server when it stops waiting, and waits no longer than a sooner deadline its payload carries', async () => {
    const before = Date.now();
    const plain = await request<{ deadline: number }>({ type: 'Echo', body: 'plain' });
    expect(plain.deadline).toBeGreaterThanOrEqual(before + 2_000);
    expect(plain.deadline).toBeLessThanOrEqual(Date.now() + 2_000);

    // A handler passes its own requester's deadline on (BusContext.getDeadline): its requests end with it.
    const soon = Date.now() + 100;
    const inherited = await request<{ deadline: number }>(keyed('k', { type: 'Echo', body: 'nested' }, { headers: { deadline: String(soon) } }));
    expect(inherited.deadline).toBe(soon);
    const unanswered = lastValueFrom(client.send('cards.commands', keyed('k', { type: 'FreezeCard' }, { headers: { deadline: String(Date.now() + 100) } })));
    await expect(unanswered).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(((await unanswered.catch((error: unknown) => error)) as RequestTimeoutError).timeoutMs).toBeLessThanOrEqual(100);

    // Already past: nothing is sent at all.
    const late = request(keyed('k', { type: 'Echo', body: 'late' }, { headers: { deadline: String(Date.now() - 1) } }));
    await expect(late).rejects.toBeInstanceOf(RequestTimeoutError);
    expect(recorder.commands).toBe(2);
  });

  it('does not run a request whose deadline passed while it queued, and answers that it was not handled', async () => {
    const replies: DeliveredMessage[] = [];
    await bus.subscribe({ topics: [replyTopicFor(COMMANDS)], groupId: 'reply-watch', handler: async (m) => void replies.push(m) });
    const headers = (correlationId: string, deadlineMs: number) => ({
      [BUS_HEADERS.correlationId]: correlationId,
      [BUS_HEADERS.replyTo]: replyTopicFor(COMMANDS),
      [BUS_HEADERS.deadline]: String(deadlineMs),
    });
    // Its requester gave up long ago (beyond any clock skew); the next one still waits.
    await bus.publish(COMMANDS, [
      { key: 'k', partition: 0, value: encode({ type: 'Echo', body: 'expired' }), headers: headers('expired', Date.now() - DEADLINE_CLOCK_SKEW_MS - 1_000) },
      { key: 'k', partition: 0, value: encode({ type: 'Echo', body: 'live' }), headers: headers('live', Date.now() + 60_000) },
    ]);
    await waitFor('both replies', () => replies.length === 2);
    const byId = new Map(replies.map((reply) => [reply.headers[BUS_HEADERS.correlationId], decode(reply.value)]));
    expect(byId.get('expired')).toEqual({ err: expect.objectContaining({ code: 'unavailable', retryable: true }), isDisposed: true });
    expect(byId.get('live')).toMatchObject({ response: { echo: 'live' } });
    expect(recorder.commands).toBe(1);
  });

  it('answers a request whose body is not JSON with an error, instead of leaving its caller to time out', async () => {
    const replies: DeliveredMessage[] = [];
    await bus.subscribe({ topics: [replyTopicFor(COMMANDS)], groupId: 'reply-watch', handler: async (m) => void replies.push(m) });
    await bus.publish(COMMANDS, [
      { key: 'k', partition: 0, value: Buffer.from('{not json'), headers: { [BUS_HEADERS.correlationId]: 'garbled', [BUS_HEADERS.replyTo]: replyTopicFor(COMMANDS) } },
    ]);
    await waitFor('a reply', () => replies.length === 1);
    expect(decode(replies[0].value)).toEqual({ err: expect.objectContaining({ code: 'validation_failed', retryable: false, message: expect.stringContaining('could not be decoded') }), isDisposed: true });
    expect(recorder.commands).toBe(0);
  });

  it("never quotes a malformed body (Node 20's JSON.parse error does) in a reply or a dead letter's error: it may hold a card number", async () => {
    const replies: DeliveredMessage[] = [];
    const dead: DeliveredMessage[] = [];
    await bus.subscribe({ topics: [replyTopicFor(COMMANDS)], groupId: 'reply-watch', handler: async (m) => void replies.push(m) });
    await bus.subscribe({ topics: [deadLetterTopic(EVENTS)], groupId: 'dlq-watch', handler: async (m) => void dead.push(m) });
    const garbled = Buffer.from('{"pan":x4111111111111111, "cvv": 123}');
    await bus.publish(COMMANDS, [
      { key: 'k', partition: 0, value: garbled, headers: { [BUS_HEADERS.correlationId]: 'garbled', [BUS_HEADERS.replyTo]: replyTopicFor(COMMANDS) } },
    ]);
    await bus.publish(EVENTS, [{ key: 'k', partition: 0, value: garbled, headers: {} }]);
    await waitFor('a reply and a dead letter', () => replies.length === 1 && dead.length === 1);
    const reply = decode(replies[0].value) as { err: { message: string } };
    expect(reply.err.message).toMatch(/could not be decoded: .*not valid JSON/);
    expect(reply.err.message).not.toContain('4111');
    expect(dead[0].headers[DEAD_LETTER_HEADERS.error]).toMatch(/not valid JSON/);
    expect(dead[0].headers[DEAD_LETTER_HEADERS.error]).not.toContain('4111');
  });

  it('does not run a request it could never answer (replyTo no topic name, a correlation id too long to send back): dead-lettered, not run again and again', async () => {
    const dead: DeliveredMessage[] = [];
    await bus.subscribe({ topics: [deadLetterTopic(COMMANDS)], groupId: 'dlq-watch', handler: async (m) => void dead.push(m) });
    const request = (correlationId: string, replyTo: string) => ({
      key: 'k',
      partition: 0,
      value: encode({ type: 'Echo', body: correlationId.slice(0, 8) }),
      headers: { [BUS_HEADERS.correlationId]: correlationId, [BUS_HEADERS.replyTo]: replyTo },
    });
    await bus.publish(COMMANDS, [request('c-1', 'no such/topic'), request('c'.repeat(600 * 1024), replyTopicFor(COMMANDS)), { ...request('c-3', replyTopicFor(COMMANDS)), headers: {} }]);
    await waitFor('both in the DLQ and the next message handled', () => dead.length === 2 && recorder.commands >= 1);
    expect(recorder.commands).toBe(1);
    expect(dead.map((message) => message.headers[DEAD_LETTER_HEADERS.error])).toEqual([expect.stringMatching(/replyTo/), expect.stringMatching(/correlationId/)]);
  });

  it('bounds the requests waiting for a reply, and fails them on close', async () => {
    const bounded = new BusClientProxy(bus, { requestTimeoutMs: 60_000, maxPendingRequests: 2 });
    const first = lastValueFrom(bounded.send('cards.commands', { n: 1 }));
    const second = lastValueFrom(bounded.send('cards.commands', { n: 2 }));
    await waitFor('two pending requests', () => bounded.pendingRequests() === 2);
    await expect(lastValueFrom(bounded.send('cards.commands', { n: 3 }))).rejects.toBeInstanceOf(TooManyPendingRequestsError);
    await bounded.close();
    await expect(first).rejects.toBeInstanceOf(ClientClosedError);
    await expect(second).rejects.toBeInstanceOf(ClientClosedError);
  });

  it('delivers an emitted event to its handler', async () => {
    await lastValueFrom(client.emit(EVENTS, { id: 'UserRegistered-1' }));
    await waitFor('the event handler', () => recorder.events.some((e) => e.id === 'UserRegistered-1'));
    expect(recorder.events).toEqual([{ id: 'UserRegistered-1', attempt: 1 }]);
  });

  it('redelivers an event whose handler throws, until it succeeds', async () => {
    await lastValueFrom(client.emit(EVENTS, keyed('wallet-1', { id: 'EntryPosted-7', failTimes: 2 })));
    await waitFor('three attempts', () => recorder.events.length === 3);
    expect(recorder.events.map((e) => e.attempt)).toEqual([1, 2, 3]);
  });

  it('moves an event that keeps failing to ledger.events.dlq with the error, then goes on', async () => {
    const dead: DeliveredMessage[] = [];
    await bus.subscribe({ topics: [deadLetterTopic(EVENTS)], groupId: 'dlq-watch', handler: async (m) => void dead.push(m) });
    await lastValueFrom(client.emit(EVENTS, keyed('wallet-2', { id: 'poison', failTimes: 99 }, { partition: 1 })));
    await lastValueFrom(client.emit(EVENTS, keyed('wallet-2', { id: 'after-poison' }, { partition: 1 })));

    await waitFor('the poison event in the DLQ', () => dead.length === 1);
    await waitFor('the next event', () => recorder.events.some((e) => e.id === 'after-poison'));
    expect(recorder.events.map((e) => e.id)).toEqual(['poison', 'poison', 'poison', 'after-poison']);
    expect(decode(dead[0].value)).toEqual({ id: 'poison', failTimes: 99 });
    expect(dead[0].headers[DEAD_LETTER_HEADERS.error]).toContain('ledger unavailable (attempt 3)');
    expect(dead[0].headers[DEAD_LETTER_HEADERS.groupId]).toBe('wallet-ledger');
  });

  it('stops consuming when the microservice closes', async () => {
    await app.close();
    await lastValueFrom(client.emit(EVENTS, { id: 'after-close' }));
    const witness: DeliveredMessage[] = [];
    await bus.subscribe({ topics: [EVENTS], groupId: 'witness', handler: async (m) => void witness.push(m) });
    await waitFor('the witness group to see the event', () => witness.length === 1);
    expect(recorder.events).toEqual([]);
  });
});
