// An Idempotency-Key as an aggregate: one stream per (caller, key), `idem-{sha256}`. Its events,
// its state (the last attempt) and the pure `decide` that tells a new request from a retry,
// a replay, a reused key or a duplicate still in flight. Time and new ids are passed in.

export const IDEMPOTENCY_STREAM_PREFIX = 'idem-';

export const IDEMPOTENCY_EVENT_TYPES = {
  reserved: 'gateway.IdempotencyKeyReserved.v1',
  recorded: 'gateway.IdempotentResponseRecorded.v1',
  released: 'gateway.IdempotencyKeyReleased.v1',
} as const;

/** One use of a key: every event carries it whole, so the last event is the state. */
export interface Attempt {
  /** HMAC of caller, key, method, path and canonical body under the gateway's secret: same request, same fingerprint. */
  readonly fingerprint: string;
  /** Counts fresh starts of the key (after its window). */
  readonly generation: number;
  /** The id of what the request creates (a wallet), minted once per generation, so a retry names the same thing. */
  readonly resourceId: string;
  /** When the generation started: the replay window counts from here. */
  readonly startedAtMs: number;
}

export interface RecordedResponse {
  readonly status: number;
  /** The JSON body sent; null for an empty one (204). */
  readonly body: unknown;
}

export type IdempotencyEvent =
  | { readonly type: typeof IDEMPOTENCY_EVENT_TYPES.reserved; readonly data: Attempt & { readonly leaseUntilMs: number } }
  | { readonly type: typeof IDEMPOTENCY_EVENT_TYPES.recorded; readonly data: Attempt & RecordedResponse }
  | { readonly type: typeof IDEMPOTENCY_EVENT_TYPES.released; readonly data: Attempt & { readonly reason: string } };

export type KeyState =
  | { readonly phase: 'unused' }
  | { readonly phase: 'in_flight'; readonly attempt: Attempt; readonly leaseUntilMs: number }
  | { readonly phase: 'recorded'; readonly attempt: Attempt; readonly response: RecordedResponse }
  | { readonly phase: 'released'; readonly attempt: Attempt; readonly reason: string };

/** The release reason of a request refused as invalid input (by a service): it ran nothing, so any request may take its key. */
export const INVALID_INPUT_RELEASE = 'validation_failed';

export const UNUSED_KEY: KeyState = { phase: 'unused' };

/** The state after `event`: each event carries its attempt whole, so the previous state does not matter. */
export function evolve(_state: KeyState, event: IdempotencyEvent): KeyState {
  const { fingerprint, generation, resourceId, startedAtMs } = event.data;
  const attempt: Attempt = { fingerprint, generation, resourceId, startedAtMs };
  switch (event.type) {
    case IDEMPOTENCY_EVENT_TYPES.reserved:
      return { phase: 'in_flight', attempt, leaseUntilMs: event.data.leaseUntilMs };
    case IDEMPOTENCY_EVENT_TYPES.recorded:
      return { phase: 'recorded', attempt, response: { status: event.data.status, body: event.data.body } };
    case IDEMPOTENCY_EVENT_TYPES.released:
      return { phase: 'released', attempt, reason: event.data.reason };
  }
}

export interface KeyRequest {
  readonly fingerprint: string;
  readonly nowMs: number;
  /** Used only if this request starts a new generation. */
  readonly newResourceId: string;
}

export interface KeyLimits {
  readonly windowMs: number;
  readonly leaseMs: number;
  /** How long the services remember a command's key after they decide it (the ledger's IDEMPOTENCY_WINDOW_MS; the card-issuer's is as long). */
  readonly servicesWindowMs: number;
}

/** Slack between the end of a try's lease and the services' window: clocks of two hosts, the bus's deadline skew, a writer's queue. */
export const SERVICES_WINDOW_MARGIN_MS = 5 * 60_000;

/**
 * How long after a generation's start its service key may still be sent again (a retry of a released or abandoned try): a try
 * started later reaches the services up to its lease later, after their window for the first try's command (which counts
 * from about the same start) may have ended, and they would run it again.
 */
export function rerunWindowMs(limits: KeyLimits): number {
  return Math.min(limits.windowMs, limits.servicesWindowMs - limits.leaseMs - SERVICES_WINDOW_MARGIN_MS);
}

export type KeyDecision =
  /** Go ahead (first use, a retry of a released or abandoned attempt, or a fresh start after the window). */
  | { readonly kind: 'proceed'; readonly attempt: Attempt; readonly event: IdempotencyEvent }
  | { readonly kind: 'replay'; readonly response: RecordedResponse }
  /** The same request is being handled right now. */
  | { readonly kind: 'in_flight'; readonly retryAfterMs: number }
  /** The key was used for another request within its window. */
  | { readonly kind: 'reuse' };

export function decide(state: KeyState, request: KeyRequest, limits: KeyLimits): KeyDecision {
  const { fingerprint, nowMs } = request;
  const fresh = (generation: number): KeyDecision =>
    reserve({ fingerprint, generation, resourceId: request.newResourceId, startedAtMs: nowMs }, nowMs, limits);
  if (state.phase === 'unused') return fresh(0);
  const { attempt } = state;
  const same = attempt.fingerprint === fingerprint;
  const expired = nowMs >= attempt.startedAtMs + limits.windowMs;
  // A live lease outlasts the window (a takeover near its end keeps the first try's start): a new generation would run beside it.
  if (state.phase === 'in_flight' && nowMs < state.leaseUntilMs && (same || expired)) return { kind: 'in_flight', retryAfterMs: state.leaseUntilMs - nowMs };
  if (expired) return fresh(attempt.generation + 1);
  // Near the window's end the first try's key may no longer be known downstream when a retry arrives: it waits for the next generation.
  const rerun = (): KeyDecision =>
    nowMs < attempt.startedAtMs + rerunWindowMs(limits)
      ? reserve(attempt, nowMs, limits)
      : { kind: 'in_flight', retryAfterMs: attempt.startedAtMs + limits.windowMs - nowMs };
  switch (state.phase) {
    case 'recorded':
      return same ? { kind: 'replay', response: state.response } : { kind: 'reuse' };
    case 'in_flight':
      if (!same) return { kind: 'reuse' };
      return rerun(); // abandoned (its gateway died, its lease over): take it over, same service key
    case 'released':
      // Refused as invalid, it did nothing: another body is a new request, under a new service key (the next generation).
      if (!same && state.reason === INVALID_INPUT_RELEASE) return fresh(attempt.generation + 1);
      // Same request: the same generation, so the service deduplicates whatever the first try did. Another
      // body is API.md's reuse: a released try (a 5xx) may still have moved money, and would move it again.
      return same ? rerun() : { kind: 'reuse' };
  }
}

function reserve(attempt: Attempt, nowMs: number, limits: KeyLimits): KeyDecision {
  return {
    kind: 'proceed',
    attempt,
    event: { type: IDEMPOTENCY_EVENT_TYPES.reserved, data: { ...attempt, leaseUntilMs: nowMs + limits.leaseMs } },
  };
}

export function recorded(attempt: Attempt, response: RecordedResponse): IdempotencyEvent {
  return { type: IDEMPOTENCY_EVENT_TYPES.recorded, data: { ...attempt, status: response.status, body: response.body } };
}

export function released(attempt: Attempt, reason: string): IdempotencyEvent {
  return { type: IDEMPOTENCY_EVENT_TYPES.released, data: { ...attempt, reason } };
}

export function isIdempotencyEvent(event: { type: string; data: unknown }): event is IdempotencyEvent {
  return (Object.values(IDEMPOTENCY_EVENT_TYPES) as string[]).includes(event.type) && typeof event.data === 'object' && event.data !== null;
}
