// The Idempotency-Key records against a real store: a retry in this process that overtakes the
// write of the first response still gets the replay, and an answer goes out only once its record
// is durable (a crash cannot lose the record of an answer a client has).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { canonicalJson, ManualClock, UuidV7Generator, type Json } from '@ledger/contracts';
import { gate, waitFor } from '@ledger/contracts/testing';
import { SqliteEventStore, type EventStore } from '@ledger/event-store';
import { GatewayMetrics } from '../observability/metrics';
import { recordedOutcomeOf } from '../transport/http-errors';
import { GatewayError } from './gateway-errors';
import { IdempotencyService, type KeyedRequest } from './idempotency.service';
import { IdempotentExecution, type IdempotentRequest } from './idempotent-execution';

const SECRET = Buffer.alloc(32, 7);

function newService(store: EventStore, clock: ManualClock, fingerprintKey = SECRET): IdempotencyService {
  return new IdempotencyService({ store, clock, ids: new UuidV7Generator(() => clock.nowMs()), windowMs: 86_400_000, leaseMs: 30_000, servicesWindowMs: 86_400_000, log: () => undefined, fingerprintKey });
}

/** The fingerprint as kept before the gateway had a secret: HMAC keyed by (caller, key) alone. */
function unkeyedFingerprint(request: KeyedRequest): string {
  return createHmac('sha256', `${request.caller}\u0000${request.key}`).update(`${request.method}\u0000${request.path}\u0000${canonicalJson(request.body as Json)}`).digest('hex');
}

describe('IdempotencyService', () => {
  let dir: string;
  let store: SqliteEventStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-idempotency-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), synchronous: 'NORMAL' });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The store, its group commits held while `held` is set (`waiting` counts those held), or failing while `failing` is set. */
  function holdable(inner: EventStore): { store: EventStore; hold(): () => void; waiting: () => number; fail(failing: boolean): void } {
    let held: Promise<void> | undefined;
    let waiting = 0;
    let failing = false;
    return {
      waiting: () => waiting,
      fail: (value) => void (failing = value),
      store: {
        append: (...args) => inner.append(...args),
        appendMany: async (requests) => {
          if (failing) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
          if (held !== undefined) {
            waiting++;
            await held.finally(() => waiting--);
          }
          return inner.appendMany(requests);
        },
        readStream: (...args) => inner.readStream(...args),
        streamRevision: (streamId) => inner.streamRevision(streamId),
        readAll: (options) => inner.readAll(options),
        headPosition: () => inner.headPosition(),
        subscribe: (...args) => inner.subscribe(...args),
        close: () => inner.close(),
      },
      hold() {
        const opened = gate();
        held = opened.promise;
        return () => {
          held = undefined;
          opened.open();
        };
      },
    };
  }

  it('a retry that overtakes the write of the first response waits for it and replays it', async () => {
    const clock = new ManualClock();
    const held = holdable(store);
    const service = newService(held.store, clock);
    const request: KeyedRequest = { caller: 'user:u-1', key: 'k-1', method: 'POST', path: '/v1/transfers', body: { amount: '5' }, correlationId: 'c-1' };
    const first = await service.begin(request);
    if (first.kind !== 'proceed') throw new Error(`expected proceed, got ${first.kind}`);

    const release = held.hold();
    void service.complete(first.reservation, { status: 201, body: { id: 't-1' } }); // the answer goes out now; its record waits
    const retry = service.begin(request);
    release();
    expect(await retry).toEqual({ kind: 'replay', response: { status: 201, body: { id: 't-1' } } });
    await service.settled();
  });

  describe('IdempotentExecution', () => {
    const request: IdempotentRequest = {
      policy: { required: true, record: true },
      caller: 'network:default',
      key: 'auth-k',
      fingerprint: { method: 'POST', path: '/v1/network/authorizations', body: { amount: '500' } },
      correlationId: 'c-x',
    };
    const newExecution = (service: IdempotencyService, clock: ManualClock) => new IdempotentExecution(service, new GatewayMetrics(), new UuidV7Generator(() => clock.nowMs()), recordedOutcomeOf);

    it('answers only once the answer is recorded: a crash after the answer never leaves a retry to run the request again', async () => {
      const clock = new ManualClock();
      const held = holdable(store);
      const execution = newExecution(newService(held.store, clock), clock);
      let answered = false;
      const release = held.hold();
      // Reserving the key is held too: let it through, then hold the record of the answer.
      const executing = execution.execute(request, async () => ({ status: 200, body: { id: 'a-1', status: 'pending' } })).then((done) => ((answered = true), done));
      await waitFor('the key to be reserved', () => held.waiting() === 1);
      release();
      await waitFor('the reservation to be written', () => held.waiting() === 0);
      const releaseRecord = held.hold();
      await waitFor('the answer to be recorded', () => held.waiting() === 1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(answered).toBe(false);
      releaseRecord();
      expect(await executing).toEqual({ status: 200, body: { id: 'a-1', status: 'pending' }, replayed: false });
      const [, recordedEvent] = await store.readStream(IdempotencyService.streamOf(request.caller, request.key!));
      expect(recordedEvent.type).toBe('gateway.IdempotentResponseRecorded.v1');
    });

    it('answers 503 unavailable (retry with the same key), not the answer, when its record cannot be written; the retry after the lease replays what the service answers then', async () => {
      const clock = new ManualClock();
      const held = holdable(store);
      const execution = newExecution(newService(held.store, clock), clock);
      let ran = 0;
      const operation = async () => ({ status: 200, body: { id: 'a-2', run: ++ran } });
      const reserved = execution.execute(request, async () => {
        held.fail(true); // the disk fills while the service runs the request
        return operation();
      });
      await expect(reserved).rejects.toMatchObject({ code: 'unavailable' });
      held.fail(false);
      clock.advance(30_001); // past the lease of the reservation left behind
      expect(await execution.execute(request, operation)).toEqual({ status: 200, body: { id: 'a-2', run: 2 }, replayed: false });
      expect(await execution.execute(request, operation)).toEqual({ status: 200, body: { id: 'a-2', run: 2 }, replayed: true });
    });

    it('records a 4xx outcome before it goes out too', async () => {
      const clock = new ManualClock();
      const held = holdable(store);
      const execution = newExecution(newService(held.store, clock), clock);
      held.hold()(); // nothing held
      const refused = execution.execute({ ...request, key: 'auth-4xx' }, async () => {
        throw new GatewayError('insufficient_funds', 'not enough');
      });
      await expect(refused).rejects.toMatchObject({ code: 'insufficient_funds' });
      const [, recordedEvent] = await store.readStream(IdempotencyService.streamOf(request.caller, 'auth-4xx'));
      expect(recordedEvent?.type).toBe('gateway.IdempotentResponseRecorded.v1');
    });
  });

  it("keeps a fingerprint nobody can recompute without the gateway's secret: a card's PAN and CVV cannot be tried against it", async () => {
    const clock = new ManualClock();
    const request: KeyedRequest = {
      caller: 'network:default',
      key: 'auth-1',
      method: 'POST',
      path: '/v1/network/authorizations',
      body: { pan: '4000001234567899', cvv: '123', expMonth: 12, expYear: 2030, amount: '500' },
      correlationId: 'c-1',
    };
    const service = newService(store, clock);
    const begun = await service.begin(request);
    if (begun.kind !== 'proceed') throw new Error(`expected proceed, got ${begun.kind}`);
    const [reserved] = await store.readStream(begun.reservation.streamId);
    const kept = (reserved.data as { fingerprint: string }).fingerprint;
    expect(kept).toBe(service.fingerprint(request));
    expect(kept).not.toContain(unkeyedFingerprint(request)); // what (caller, key) alone would give
    expect(newService(store, clock, Buffer.alloc(32, 8)).fingerprint(request)).not.toBe(kept); // another secret, another fingerprint
  });

  it('replays a response recorded before the secret (its fingerprint keyed by caller and key), and still tells another body from it', async () => {
    const clock = new ManualClock();
    const request: KeyedRequest = { caller: 'user:u-2', key: 'k-old', method: 'POST', path: '/v1/transfers', body: { amount: '5' }, correlationId: 'c-2' };
    const attempt = { fingerprint: unkeyedFingerprint(request), generation: 0, resourceId: 'r-1', startedAtMs: clock.nowMs() };
    const recordedEvent = { type: 'gateway.IdempotentResponseRecorded.v1', data: { ...attempt, status: 201, body: { id: 't-old' } } };
    await store.append(IdempotencyService.streamOf(request.caller, request.key), [{ eventId: 'e-old', type: recordedEvent.type, schemaVersion: 1, data: recordedEvent.data, metadata: { correlationId: 'c-old', causationId: 'c-old', actor: 'gateway', occurredAt: new Date(clock.nowMs()).toISOString() } }], { kind: 'no_stream' });
    const service = newService(store, clock);
    expect(await service.begin(request)).toEqual({ kind: 'replay', response: { status: 201, body: { id: 't-old' } } });
    expect(await service.begin({ ...request, body: { amount: '6' } })).toEqual({ kind: 'reuse' });
  });

  it('fingerprints a field holding an empty list as the field left out (gRPC cannot send an empty list), and a non-empty one as itself', () => {
    const service = newService(store, new ManualClock());
    const card = (controls: Record<string, unknown>) => ({ caller: 'user:u-3', key: 'k-card', method: 'POST', path: '/v1/cards', body: { walletId: 'w-1', spendingControls: controls } });
    expect(service.fingerprint(card({ blockedMccs: [], allowedCountries: [] }))).toBe(service.fingerprint(card({})));
    expect(service.fingerprint(card({ blockedMccs: ['7995'] }))).not.toBe(service.fingerprint(card({})));
  });
});
