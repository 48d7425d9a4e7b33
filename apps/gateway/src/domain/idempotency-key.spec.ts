import { decide, evolve, IDEMPOTENCY_EVENT_TYPES, INVALID_INPUT_RELEASE, recorded, released, SERVICES_WINDOW_MARGIN_MS, UNUSED_KEY, type IdempotencyEvent, type KeyState } from './idempotency-key';

const limits = { windowMs: 24 * 3600_000, leaseMs: 30_000, servicesWindowMs: 24 * 3600_000 };
const request = (fingerprint: string, nowMs: number, newResourceId = `res-${nowMs}`) => ({ fingerprint, nowMs, newResourceId });

/** given(events).when(request) -> decision */
function given(...events: IdempotencyEvent[]): KeyState {
  return events.reduce(evolve, UNUSED_KEY);
}

function reserve(fingerprint: string, nowMs: number): IdempotencyEvent {
  const decision = decide(UNUSED_KEY, request(fingerprint, nowMs), limits);
  if (decision.kind !== 'proceed') throw new Error('expected proceed');
  return decision.event;
}

describe('an Idempotency-Key', () => {
  it('is reserved on first use, generation 0, with a new resource id', () => {
    expect(decide(UNUSED_KEY, request('f1', 1_000, 'wallet-1'), limits)).toEqual({
      kind: 'proceed',
      attempt: { fingerprint: 'f1', generation: 0, resourceId: 'wallet-1', startedAtMs: 1_000 },
      event: {
        type: IDEMPOTENCY_EVENT_TYPES.reserved,
        data: { fingerprint: 'f1', generation: 0, resourceId: 'wallet-1', startedAtMs: 1_000, leaseUntilMs: 31_000 },
      },
    });
  });

  it('replays the recorded response for the same request within the window', () => {
    const reserved = reserve('f1', 0);
    const state = given(reserved, recorded(reserved.data, { status: 201, body: { id: 'tx' } }));
    expect(decide(state, request('f1', limits.windowMs - 1), limits)).toEqual({ kind: 'replay', response: { status: 201, body: { id: 'tx' } } });
  });

  it('refuses another request with the same key within the window', () => {
    const reserved = reserve('f1', 0);
    expect(decide(given(reserved, recorded(reserved.data, { status: 201, body: {} })), request('f2', 5), limits)).toEqual({ kind: 'reuse' });
    expect(decide(given(reserved), request('f2', 5), limits)).toEqual({ kind: 'reuse' });
  });

  it('tells a duplicate that the first is still in flight until its lease runs out', () => {
    const state = given(reserve('f1', 0));
    expect(decide(state, request('f1', 10_000), limits)).toEqual({ kind: 'in_flight', retryAfterMs: 20_000 });
  });

  it('lets a retry take over an abandoned reservation: same generation and resource id, new lease', () => {
    const decision = decide(given(reserve('f1', 0)), request('f1', 30_000, 'other'), limits);
    expect(decision).toMatchObject({ kind: 'proceed', attempt: { generation: 0, resourceId: 'res-0', startedAtMs: 0 } });
    expect(decision.kind === 'proceed' && decision.event.data).toMatchObject({ leaseUntilMs: 60_000 });
  });

  it('runs a released request again under the same generation; another body is reuse within the window', () => {
    const reserved = reserve('f1', 0);
    const state = given(reserved, released(reserved.data, 'unavailable'));
    expect(decide(state, request('f1', 5), limits)).toMatchObject({ kind: 'proceed', attempt: { generation: 0, resourceId: 'res-0' } });
    // The released try (a 5xx) may have moved money: another body under its key would move it again.
    expect(decide(state, request('f2', 5, 'new'), limits)).toEqual({ kind: 'reuse' });
    expect(decide(state, request('f2', limits.windowMs, 'new'), limits)).toMatchObject({ kind: 'proceed', attempt: { generation: 1, resourceId: 'new', fingerprint: 'f2' } });
  });

  it('lets any request take a key released as invalid input: another body starts the next generation, the same one runs again', () => {
    const reserved = reserve('f1', 0);
    const state = given(reserved, released(reserved.data, INVALID_INPUT_RELEASE));
    expect(decide(state, request('f1', 5), limits)).toMatchObject({ kind: 'proceed', attempt: { generation: 0, fingerprint: 'f1' } });
    expect(decide(state, request('f2', 5, 'new'), limits)).toMatchObject({ kind: 'proceed', attempt: { generation: 1, resourceId: 'new', fingerprint: 'f2', startedAtMs: 5 } });
  });

  it('starts a new generation after the window, whatever the body', () => {
    const reserved = reserve('f1', 0);
    const state = given(reserved, recorded(reserved.data, { status: 201, body: {} }));
    expect(decide(state, request('f1', limits.windowMs, 'later'), limits)).toMatchObject({
      kind: 'proceed',
      attempt: { generation: 1, resourceId: 'later', startedAtMs: limits.windowMs },
    });
  });

  it('starts no new generation while an attempt still holds its lease, even past the window: both would run, under two service keys', () => {
    // A gateway window well short of the services': a retry took the abandoned first try over just before it ended (its start stays the first's).
    const hour = { ...limits, windowMs: 3600_000 };
    const takenOver = decide(given(reserve('f1', 0)), request('f1', hour.windowMs - 1_000), hour);
    if (takenOver.kind !== 'proceed') throw new Error('expected a takeover');
    const state = given(takenOver.event);
    expect(decide(state, request('f1', hour.windowMs + 1_000, 'later'), hour)).toEqual({ kind: 'in_flight', retryAfterMs: 28_000 });
    expect(decide(state, request('f2', hour.windowMs + 1_000, 'later'), hour)).toEqual({ kind: 'in_flight', retryAfterMs: 28_000 });
    // Once the lease is over the window's rule holds again.
    expect(decide(state, request('f2', hour.windowMs + 29_000, 'later'), hour)).toMatchObject({ kind: 'proceed', attempt: { generation: 1, fingerprint: 'f2' } });
  });

  it("sends a retry under the first try's service key only while the services will still know it when it reaches them", () => {
    // The ledger forgets the first try's key IDEMPOTENCY_WINDOW_MS after deciding it (at the earliest, this reservation's start):
    // a retry taken at 24 h less a second reaches it up to a lease later and moved the money again.
    const reserved = reserve('f1', 0);
    const lastSafeMs = limits.servicesWindowMs - limits.leaseMs - SERVICES_WINDOW_MARGIN_MS;
    for (const state of [given(reserved, released(reserved.data, 'unavailable')), given(reserved)]) {
      expect(decide(state, request('f1', lastSafeMs - 1), limits)).toMatchObject({ kind: 'proceed', attempt: { generation: 0 } });
      for (const nowMs of [lastSafeMs, limits.windowMs - 1_000]) {
        expect(decide(state, request('f1', nowMs), limits)).toEqual({ kind: 'in_flight', retryAfterMs: limits.windowMs - nowMs });
      }
      // At the window's end the key starts its next generation (a new service key), as API.md's 24 h say.
      expect(decide(state, request('f1', limits.windowMs, 'later'), limits)).toMatchObject({ kind: 'proceed', attempt: { generation: 1 } });
    }
  });
});
