// The Idempotency-Key records against a real store: the first response is written after it went
// out, and a retry in this process that overtakes that write still gets the replay.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { canonicalJson, ManualClock, UuidV7Generator, type Json } from '@ledger/contracts';
import { gate } from '@ledger/contracts/testing';
import { SqliteEventStore, type EventStore } from '@ledger/event-store';
import { IdempotencyService, type KeyedRequest } from './idempotency.service';

const SECRET = Buffer.alloc(32, 7);

function newService(store: EventStore, clock: ManualClock, fingerprintKey = SECRET): IdempotencyService {
  return new IdempotencyService({ store, clock, ids: new UuidV7Generator(() => clock.nowMs()), windowMs: 86_400_000, leaseMs: 30_000, log: () => undefined, fingerprintKey });
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

  /** The store, its group commits held while `held` is set. */
  function holdable(inner: EventStore): { store: EventStore; hold(): () => void } {
    let held: Promise<void> | undefined;
    return {
      store: {
        append: (...args) => inner.append(...args),
        appendMany: async (requests) => {
          await held;
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
