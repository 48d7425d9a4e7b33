// The coalescing LedgerClient keeps each CommandBatch within what any allowed bus carries.
import { of, throwError, type Observable } from 'rxjs';
import { LEDGER_TOPICS, type LedgerCommandBatch, type LedgerCommandEnvelope, type Reply } from '@ledger/contracts';
import { encode } from '../codec';
import { BUS_MESSAGE_BYTES_MIN } from '../messaging.config';
import { gate } from '@ledger/contracts/testing';
import { decode } from '../codec';
import { InProcessBus } from '../in-process/in-process-bus';
import { BusClientProxy, RequestTimeoutError } from '../nest/bus.client';
import { BUS_HEADERS, DEADLINE_CLOCK_SKEW_MS, type KeyedPayload } from '../nest/bus-protocol';
import { LedgerClient, type RequestSender } from './ledger-client';

describe('LedgerClient (coalescing)', () => {
  it('splits the commands of one shard and turn into batches the smallest allowed bus takes', async () => {
    const sizes: number[] = [];
    // Refuses what the bus would: a message over its limit (here the least BUS_MAX_MESSAGE_BYTES).
    const bus: RequestSender = {
      send<TResult, TInput>(pattern: string, data: TInput): Observable<TResult> {
        const batch = (data as KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>).value;
        const bytes = encode(batch).length;
        sizes.push(bytes);
        if (pattern !== LEDGER_TOPICS.commands || bytes > BUS_MESSAGE_BYTES_MIN) return throwError(() => new Error(`message is ${bytes} bytes, over the limit`));
        const replies = batch.type === 'CommandBatch' ? batch.commands.map((): Reply<unknown> => ({ ok: true, value: {} })) : [];
        return of((batch.type === 'CommandBatch' ? { ok: true, value: replies } : { ok: true, value: {} }) as TResult);
      },
    };
    const client = new LedgerClient(bus, 1, { coalesce: true });
    const memo = '\u20ac'.repeat(256); // the gateway's longest memo, 3 bytes a character
    const transfers = Array.from({ length: 512 }, (_, n) =>
      client.command({ type: 'Transfer', fromWalletId: `a-${n}`, toWalletId: `b-${n}`, amount: '1', memo, meta: { idempotencyKey: `k-${n}`, actor: 'test' } }),
    );
    const replies = await Promise.allSettled(transfers);
    expect(replies.filter((reply) => reply.status === 'rejected')).toEqual([]);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(BUS_MESSAGE_BYTES_MIN);
  });

  it("sends a shard's batch with the soonest deadline of its commands, so none is decided after its requester gave up", async () => {
    const sent: KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>[] = [];
    const bus: RequestSender = {
      send<TResult, TInput>(_pattern: string, data: TInput): Observable<TResult> {
        const payload = data as KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>;
        sent.push(payload);
        const count = payload.value.type === 'CommandBatch' ? payload.value.commands.length : 1;
        return of({ ok: true, value: Array.from({ length: count }, () => ({ ok: true, value: {} })) } as TResult);
      },
    };
    const client = new LedgerClient(bus, 1, { coalesce: true });
    const topUp = (n: number): LedgerCommandEnvelope => ({ type: 'TopUp', walletId: `w-${n}`, amount: '1', meta: { idempotencyKey: `k-${n}`, actor: 'test' } });
    const base = Date.now() + 60_000;
    await Promise.all([client.command(topUp(1), { deadlineMs: base + 500 }), client.command(topUp(2), { deadlineMs: base + 300 })]);
    expect(sent.map((payload) => payload.headers[BUS_HEADERS.deadline])).toEqual([String(base + 300)]);
    await client.command(topUp(3));
    expect(sent[1].headers[BUS_HEADERS.deadline]).toBeUndefined();
  });

  it('rejects a command that cannot be encoded (a bigint amount) alone, as an uncoalesced one is, and sends the rest of its turn', async () => {
    const sent: KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>[] = [];
    const bus: RequestSender = {
      send<TResult, TInput>(_pattern: string, data: TInput): Observable<TResult> {
        const payload = data as KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>;
        encode(payload.value); // as the transport does before anything is published
        sent.push(payload);
        const count = payload.value.type === 'CommandBatch' ? payload.value.commands.length : 1;
        return of((count === 1 ? { ok: true, value: {} } : { ok: true, value: Array.from({ length: count }, () => ({ ok: true, value: {} })) }) as TResult);
      },
    };
    const client = new LedgerClient(bus, 1, { coalesce: true });
    const topUp = (n: number, amount: unknown = '1') => ({ type: 'TopUp', walletId: `w-${n}`, amount, meta: { idempotencyKey: `k-${n}`, actor: 'test' } }) as LedgerCommandEnvelope;
    const [first, bad, last] = await Promise.allSettled([client.command(topUp(1)), client.command(topUp(2, 5n)), client.command(topUp(3))]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { name: 'CodecError' } });
    expect(first).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect(last).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect(sent).toHaveLength(1);
  });

  it('fails alone a command whose requester gave up before its turn was sent, instead of timing out every command coalesced with it', async () => {
    const sent: KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>[] = [];
    // As BusClientProxy: a request whose deadline has passed is refused at once, nothing sent.
    const bus: RequestSender = {
      send<TResult, TInput>(pattern: string, data: TInput): Observable<TResult> {
        const payload = data as KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>;
        const deadline = payload.headers[BUS_HEADERS.deadline];
        if (deadline !== undefined && Number(deadline) <= Date.now()) return throwError(() => new RequestTimeoutError(pattern, 0, 'c'));
        sent.push(payload);
        const count = payload.value.type === 'CommandBatch' ? payload.value.commands.length : 1;
        return of((count === 1 ? { ok: true, value: {} } : { ok: true, value: Array.from({ length: count }, () => ({ ok: true, value: {} })) }) as TResult);
      },
    };
    const client = new LedgerClient(bus, 1, { coalesce: true });
    const hold = (n: number): LedgerCommandEnvelope => ({ type: 'PlaceHold', holdId: `h-${n}`, walletId: `w-${n}`, amount: '1', meta: { idempotencyKey: `k-${n}`, actor: 'test' } });
    const later = Date.now() + 60_000;
    const [late, waiting, patient] = await Promise.allSettled([
      client.command(hold(1), { deadlineMs: Date.now() - 1 }),
      client.command(hold(2), { deadlineMs: later }),
      client.command(hold(3)),
    ]);
    expect(late).toMatchObject({ status: 'rejected', reason: { name: 'RequestTimeoutError' } });
    expect(waiting).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect(patient).toMatchObject({ status: 'fulfilled', value: { ok: true } });
    expect(sent.map((payload) => payload.headers[BUS_HEADERS.deadline])).toEqual([String(later)]);
  });

  it('never lets a command of a tight deadline expire the commands batched with it: a batch carries deadlines within the clock skew the server allows', async () => {
    // As BusServer: a request that reaches it more than DEADLINE_CLOCK_SKEW_MS past its deadline is refused whole. Here every
    // message waits 3 s in the shard's queue, as behind a backlog.
    const queuedMs = 3_000;
    const sent: KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>[] = [];
    const bus: RequestSender = {
      send<TResult, TInput>(_pattern: string, data: TInput): Observable<TResult> {
        const payload = data as KeyedPayload<LedgerCommandBatch | LedgerCommandEnvelope>;
        sent.push(payload);
        const deadline = payload.headers[BUS_HEADERS.deadline];
        if (deadline !== undefined && Date.now() + queuedMs > Number(deadline) + DEADLINE_CLOCK_SKEW_MS) return of({ ok: false, error: { code: 'unavailable', message: 'expired' } } as TResult);
        const count = payload.value.type === 'CommandBatch' ? payload.value.commands.length : 1;
        return of((payload.value.type === 'CommandBatch' ? { ok: true, value: Array.from({ length: count }, () => ({ ok: true, value: {} })) } : { ok: true, value: {} }) as TResult);
      },
    };
    const client = new LedgerClient(bus, 1, { coalesce: true });
    const hold = (n: number): LedgerCommandEnvelope => ({ type: 'PlaceHold', holdId: `h-${n}`, walletId: `w-${n}`, amount: '1', meta: { idempotencyKey: `k-${n}`, actor: 'test' } });
    const nowMs = Date.now();
    // A gRPC client's 500 ms deadline (the gateway passes it on), another card's 10 s, a third's a little later, and one without.
    const [tight, patient, alsoPatient, unbounded] = await Promise.all([
      client.command(hold(1), { deadlineMs: nowMs + 500 }),
      client.command(hold(2), { deadlineMs: nowMs + 10_000 }),
      client.command(hold(3), { deadlineMs: nowMs + 10_000 + DEADLINE_CLOCK_SKEW_MS }),
      client.command(hold(4)),
    ]);
    expect(tight).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    for (const reply of [patient, alsoPatient, unbounded]) expect(reply).toEqual({ ok: true, value: {} });
    // The patient two still share one batch.
    expect(sent.map((payload) => (payload.value.type === 'CommandBatch' ? payload.value.commands.length : 1)).sort()).toEqual([1, 1, 2]);
  });

  it("waits for a coalesced batch's reply as long as its latest command may, while each command still ends at its own deadline", async () => {
    const bus = new InProcessBus({ logger: { warn: () => undefined, error: () => undefined } });
    const proxy = new BusClientProxy(bus, { requestTimeoutMs: 5_000 });
    try {
      const answered = gate();
      await bus.subscribe({
        topics: [LEDGER_TOPICS.commands],
        groupId: 'ledger',
        handler: async (message) => {
          await answered.promise; // the ledger decides the batch after the first command's requester gave up, within the clock skew it allows
          const batch = decode(message.value) as LedgerCommandBatch;
          const value = { ok: true, value: batch.commands.map(() => ({ ok: true, value: {} })) };
          await bus.publish(message.headers[BUS_HEADERS.replyTo], [
            { key: 'r', value: encode({ response: value, isDisposed: true }), headers: { [BUS_HEADERS.correlationId]: message.headers[BUS_HEADERS.correlationId] } },
          ]);
        },
      });
      await proxy.connect();
      const client = new LedgerClient(proxy, 1, { coalesce: true });
      const hold = (n: number): LedgerCommandEnvelope => ({ type: 'PlaceHold', holdId: `h-${n}`, walletId: `w-${n}`, amount: '1', meta: { idempotencyKey: `k-${n}`, actor: 'test' } });
      const soon = client.command(hold(1), { deadlineMs: Date.now() + 30 });
      const patient = client.command(hold(2), { deadlineMs: Date.now() + DEADLINE_CLOCK_SKEW_MS }); // close enough to share the batch
      await expect(soon).rejects.toBeInstanceOf(RequestTimeoutError);
      answered.open();
      // Its hold was placed: a timeout here would tell a requester still waiting that the outcome is unknown.
      await expect(patient).resolves.toEqual({ ok: true, value: {} });
    } finally {
      await proxy.close();
      await bus.close();
    }
  });
});
