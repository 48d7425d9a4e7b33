// Idempotency-Key records in the event store, shared by every gateway instance: load the key's
// last event, decide (../domain/idempotency-key.ts), append with the revision it was read at.
// A lost race re-reads and decides again; a reservation is `no_stream` on a key's first use.
// The appends of concurrent requests share one durable commit (store.appendMany): each request
// still waits for its own record to be durable, and a lost race fails only its own key.
import { createHash, createHmac } from 'node:crypto';
import { canonicalJson, toIsoTime, type Clock, type IdGenerator, type Json } from '@ledger/contracts';
import { expectedState, GroupCommit, WrongExpectedVersionError, type EventStore } from '@ledger/event-store';
import {
  decide,
  evolve,
  IDEMPOTENCY_STREAM_PREFIX,
  isIdempotencyEvent,
  recorded,
  released,
  UNUSED_KEY,
  type Attempt,
  type IdempotencyEvent,
  type KeyState,
  type RecordedResponse,
} from '../domain/idempotency-key';

/** Responses larger than this are not kept (none of the gateway's are); the key is released instead. */
export const RECORDED_RESPONSE_BYTES_MAX = 64 * 1024;
/** Appends lost to a concurrent writer of the same key before the request is told to retry. */
const RACE_RETRIES_MAX = 3;

export interface IdempotencyOptions {
  readonly store: EventStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly windowMs: number;
  readonly leaseMs: number;
  /** The services' idempotency window (the ledger's IDEMPOTENCY_WINDOW_MS): a retry is sent under the first try's key only well within it. */
  readonly servicesWindowMs: number;
  readonly log: (message: string, error?: unknown) => void;
  /** The gateway's secret for request fingerprints (GATEWAY_FINGERPRINT_KEY_BASE64 or its DATA_DIR file), shared by every instance. */
  readonly fingerprintKey: Buffer;
}

/** Marks a fingerprint keyed by the gateway's secret; one without it is from before (see `begin`). */
const KEYED_FINGERPRINT = 'k1:';

export interface KeyedRequest {
  /** Whose key it is: `user:{id}`, the card network, or before login a refresh token's holder or the client network (anonymousCaller). */
  readonly caller: string;
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly correlationId: string;
}

/** A reservation this request holds: finish it with `complete` or `release`. */
export interface Reservation {
  readonly streamId: string;
  readonly revision: bigint;
  readonly attempt: Attempt;
  /** The idempotency key the service gets: derived from (caller, key, generation). */
  readonly serviceKey: string;
  readonly caller: string;
  readonly correlationId: string;
}

export type Begun =
  | { readonly kind: 'proceed'; readonly reservation: Reservation }
  | { readonly kind: 'replay'; readonly response: RecordedResponse }
  | { readonly kind: 'in_flight'; readonly retryAfterMs: number }
  | { readonly kind: 'reuse' };

export class IdempotencyService {
  private readonly commits: GroupCommit;
  /** Records being written, by stream (bounded by the requests in flight). */
  private readonly finishing = new Map<string, Promise<boolean>>();

  constructor(private readonly options: IdempotencyOptions) {
    this.commits = GroupCommit.of(options.store);
  }

  /** The key's stream: one per (caller, key), named by a hash so neither appears in it. */
  static streamOf(caller: string, key: string): string {
    return `${IDEMPOTENCY_STREAM_PREFIX}${createHash('sha256').update(caller).update('\u0000').update(key).digest('hex')}`;
  }

  /** The key the service sees: the same for every retry of one generation, new for the next. */
  static serviceKey(caller: string, key: string, generation: number): string {
    return `gw:${createHash('sha256').update(caller).update('\u0000').update(key).update('\u0000').update(String(generation)).digest('hex')}`;
  }

  /**
   * Caller, key, method, path and canonical body under the gateway's secret. Bodies carry
   * passwords, and a card's PAN and CVV: keyed by (caller, key) alone, a fingerprint in the store
   * could be matched against every PAN of a known BIN and last four, and every CVV, by anyone who
   * can guess a key; without the secret it cannot.
   */
  fingerprint(request: Pick<KeyedRequest, 'caller' | 'key' | 'method' | 'path' | 'body'>): string {
    const hmac = createHmac('sha256', this.options.fingerprintKey);
    for (const part of [request.caller, request.key, request.method, request.path]) hmac.update(part).update('\u0000');
    return KEYED_FINGERPRINT + hmac.update(canonicalJson(withoutEmptyLists(request.body ?? null) as Json)).digest('hex');
  }

  /** Records kept before the secret (within their window after an upgrade) were keyed by (caller, key) alone. */
  private static unkeyedFingerprint(request: Pick<KeyedRequest, 'caller' | 'key' | 'method' | 'path' | 'body'>): string {
    return createHmac('sha256', `${request.caller}\u0000${request.key}`)
      .update(`${request.method}\u0000${request.path}\u0000${canonicalJson(request.body ?? null)}`)
      .digest('hex');
  }

  async begin(request: KeyedRequest): Promise<Begun> {
    const streamId = IdempotencyService.streamOf(request.caller, request.key);
    const keyed = this.fingerprint(request);
    // A retry that overtakes the first response's record in this process reads it once written.
    await this.finishing.get(streamId);
    for (let attempt = 0; attempt < RACE_RETRIES_MAX; attempt++) {
      const { state, revision } = await this.load(streamId);
      const nowMs = this.options.clock.nowMs();
      const unkeyed = state.phase !== 'unused' && !state.attempt.fingerprint.startsWith(KEYED_FINGERPRINT);
      const fingerprint = unkeyed ? IdempotencyService.unkeyedFingerprint(request) : keyed;
      const decision = decide(state, { fingerprint, nowMs, newResourceId: this.options.ids.next() }, this.options);
      if (decision.kind !== 'proceed') return decision;
      try {
        const appended = await this.append(streamId, decision.event, revision, request);
        return {
          kind: 'proceed',
          reservation: {
            streamId,
            revision: appended,
            attempt: decision.attempt,
            serviceKey: IdempotencyService.serviceKey(request.caller, request.key, decision.attempt.generation),
            caller: request.caller,
            correlationId: request.correlationId,
          },
        };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        // Another request with this key appended first: decide again on what it wrote.
      }
    }
    return { kind: 'in_flight', retryAfterMs: 1_000 };
  }

  /**
   * Keeps the response for replays; true once it is durable. Never throws. The response must not
   * go out before: a retry that finds no record runs the request again once the lease is over, and
   * the services answer a deduplicated command with its state then (a card authorization captured
   * since), not with the first response. False: not kept (the store failed, or the key was taken
   * over), so the response is not the key's and must not go out.
   */
  async complete(reservation: Reservation, response: RecordedResponse): Promise<boolean> {
    const text = jsonText(response.body);
    if (text === undefined || Buffer.byteLength(text) > RECORDED_RESPONSE_BYTES_MAX) {
      await this.release(reservation, 'response_not_recordable');
      return true; // nothing to replay: a retry runs again, as for any unrecordable response
    }
    return this.finish(reservation, recorded(reservation.attempt, { status: response.status, body: JSON.parse(text) as Json }));
  }

  /** Gives the key back without a response: a retry of the same request runs again (and the service deduplicates). */
  async release(reservation: Reservation, reason: string): Promise<void> {
    await this.finish(reservation, released(reservation.attempt, reason.slice(0, 64)));
  }

  /** Resolves once every record started so far is written (or failed): before the store closes. */
  async settled(): Promise<void> {
    await Promise.all([...this.finishing.values()]);
  }

  /** True once the event is written. */
  private finish(reservation: Reservation, event: IdempotencyEvent): Promise<boolean> {
    const { streamId } = reservation;
    const written = this.append(streamId, event, reservation.revision, reservation).then(
      () => true,
      // Taken over after its lease, or the store failed: the next retry decides from what is there.
      (error: unknown) => {
        this.options.log(`idempotency record ${streamId} not written`, error);
        return false;
      },
    );
    const tracked = written.finally(() => {
      if (this.finishing.get(streamId) === tracked) this.finishing.delete(streamId);
    });
    this.finishing.set(streamId, tracked);
    return tracked;
  }

  private async load(streamId: string): Promise<{ state: KeyState; revision: bigint | undefined }> {
    const revision = await this.options.store.streamRevision(streamId);
    if (revision === undefined) return { state: UNUSED_KEY, revision };
    const [last] = await this.options.store.readStream(streamId, { fromRevision: revision, maxCount: 1 });
    if (last === undefined || !isIdempotencyEvent(last)) throw new Error(`${streamId}: last event is not an idempotency event`);
    return { state: evolve(UNUSED_KEY, last), revision };
  }

  private async append(
    streamId: string,
    event: IdempotencyEvent,
    revision: bigint | undefined,
    request: { caller: string; correlationId: string },
  ): Promise<bigint> {
    const result = await this.commits.append({
      streamId,
      events: [
        {
          eventId: this.options.ids.next(),
          type: event.type,
          schemaVersion: 1,
          data: event.data as unknown as Json,
          metadata: {
            correlationId: request.correlationId,
            causationId: request.correlationId,
            actor: request.caller,
            occurredAt: toIsoTime(this.options.clock.nowMs()),
          },
        },
      ],
      expected: revision === undefined ? expectedState.noStream : expectedState.revision(revision),
    });
    return result.nextExpectedRevision;
  }
}

/** The body as JSON text, serialised once for both the size check and the copy kept; undefined when it has none. */
function jsonText(value: unknown): string | undefined {
  try {
    // JSON.stringify answers undefined (not a string) for a function or symbol: not recordable.
    return value === undefined ? 'null' : (JSON.stringify(value) as string | undefined);
  } catch {
    return undefined;
  }
}

/**
 * The body as the services read it: a field holding an empty list is the field left out (a card's
 * `blockedMccs: []` is no block list). gRPC cannot send an empty list (proto3), so without this a
 * request recorded over HTTP with `[]` and retried over gRPC with the same key was a reused key.
 */
function withoutEmptyLists(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmptyLists);
  if (typeof value !== 'object' || value === null) return value;
  const kept: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (!(Array.isArray(field) && field.length === 0)) kept[key] = withoutEmptyLists(field);
  return kept;
}
