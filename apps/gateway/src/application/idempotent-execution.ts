// API.md's Idempotency-Key around one operation, whatever the edge: the first response to a key
// is recorded and replayed for the same key and request for 24 h; the same key with another
// request is idempotency_key_reuse; while the first is still in flight a duplicate is
// idempotency_key_in_use. The operation gets the keys its command carries, derived from the key.
// Records hold API.md's HTTP response (status and JSON body), so a key replays on either edge.
import { createHash } from 'node:crypto';
import type { IdGenerator } from '@ledger/contracts';
import { clientNetworkOf } from '../domain/client-network';
import type { RecordedResponse } from '../domain/idempotency-key';
import type { GatewayMetrics } from '../observability/metrics';
import { GatewayError } from './gateway-errors';
import { IdempotencyService, type Reservation } from './idempotency.service';
import type { CommandKeys } from './wallet-operations';

export interface IdempotencyPolicy {
  /** API.md: money-moving POSTs refuse to run without an Idempotency-Key (400 idempotency_key_required). */
  readonly required: boolean;
  /**
   * Whether the response is kept for replays. Not for responses that carry credentials (tokens,
   * a TOTP secret): those never enter the event store, so those routes run again instead (the key
   * is still reserved and released, so another request under it is idempotency_key_reuse).
   */
  readonly record: boolean;
}

export interface IdempotentRequest {
  readonly policy: IdempotencyPolicy;
  /** Whose key it is: `user:{id}`, the card network, or before login a refresh token's holder or the client network (anonymousCaller). */
  readonly caller: string;
  /** The Idempotency-Key, already checked against IDEMPOTENCY_KEY_PATTERN; undefined when none was sent. */
  readonly key: string | undefined;
  /** The request as HTTP states it (method, path, JSON body): what a replay must match. */
  readonly fingerprint: { readonly method: string; readonly path: string; readonly body: unknown };
  readonly correlationId: string;
  /** Runs just before a key is reserved: bad input never reaches the store, so a corrected request may reuse the key. */
  readonly validate?: () => Promise<void>;
}

/** The operation's result as API.md's HTTP response, or the recorded one with `replayed`. */
export interface Executed {
  readonly status: number;
  readonly body: unknown;
  readonly replayed: boolean;
}

/** Whether an operation's error is an outcome of the request (kept and replayed) and the response that states it. */
export type FailureOutcome = (error: unknown) => { readonly recordable: boolean; readonly response: RecordedResponse; readonly code: string };

/**
 * Whose keys an unauthenticated request's are. A request presenting a refresh token (refresh,
 * logout) is its holder's, wherever it comes from: a refresh retried from another network after
 * a lost answer must reach identity with the same key, or identity sees the rotated token used
 * again and revokes the login. Others are their client network's, as the rate limits count it,
 * so a retry from another address of an IPv6 client's /64 (a rotated temporary one) replays.
 */
export function anonymousCaller(ip: string, body: unknown): string {
  const refreshToken = typeof body === 'object' && body !== null ? (body as { refreshToken?: unknown }).refreshToken : undefined;
  if (typeof refreshToken === 'string' && refreshToken !== '') return `token:${createHash('sha256').update(refreshToken).digest('hex')}`;
  return `anon:${clientNetworkOf(ip)}`;
}

/** A path segment as a client puts it in the route's URL: the id encoded once (a missing one empty). */
export function pathSegment(id: unknown): string {
  return encodeURIComponent(typeof id === 'string' ? id : '');
}

/**
 * The path a request is fingerprinted by: its route's pattern with each parameter encoded once,
 * so the same request spelled another way (path case, a trailing slash, %-escapes) is the same.
 */
export function routePath(pattern: string, params: Readonly<Record<string, unknown>>): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, (_parameter, name: string) => pathSegment(params[name]));
}

/** The release reason of a request whose response is not kept (it carries credentials). */
const NOT_RECORDED_RELEASE = 'response_not_recorded';

/** Printable ASCII, 1 to 255 characters (as Stripe's); a UUID fits. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export class IdempotentExecution {
  constructor(
    private readonly idempotency: IdempotencyService,
    private readonly metrics: GatewayMetrics,
    private readonly ids: IdGenerator,
    private readonly failureOutcome: FailureOutcome,
  ) {}

  async execute(request: IdempotentRequest, operation: (keys: CommandKeys) => Promise<{ status: number; body: unknown }>): Promise<Executed> {
    const { policy, caller, key, correlationId } = request;
    if (key === undefined) {
      if (policy.required) {
        throw new GatewayError('idempotency_key_required', 'this request moves money: send an Idempotency-Key header', { header: 'Idempotency-Key' });
      }
      // The service still needs a key: one used once, as nothing will retry it.
      return ran(await operation({ idempotencyKey: `gw-once:${this.ids.next()}`, resourceId: this.ids.next(), correlationId }));
    }
    await request.validate?.();

    const begun = await this.idempotency.begin({ caller, key, ...request.fingerprint, correlationId });
    this.metrics.countIdempotency(begun.kind);
    switch (begun.kind) {
      case 'replay':
        return { status: begun.response.status, body: begun.response.body ?? undefined, replayed: true };
      case 'reuse':
        throw new GatewayError('idempotency_key_reuse', 'this Idempotency-Key was used for a different request', { header: 'Idempotency-Key' });
      case 'in_flight': {
        const retryAfterS = String(Math.max(1, Math.ceil(begun.retryAfterMs / 1000)));
        const message = 'a request with this Idempotency-Key is still in progress; retry later';
        throw new GatewayError('idempotency_key_in_use', message, { header: 'Idempotency-Key' }, { 'Retry-After': retryAfterS });
      }
      case 'proceed': {
        const { reservation } = begun;
        let result: { status: number; body: unknown };
        try {
          result = await operation({ idempotencyKey: reservation.serviceKey, resourceId: reservation.attempt.resourceId, correlationId });
        } catch (error) {
          // Kept if it is an outcome of the request (a 4xx a handler or service decided), else the key is given back.
          const outcome = this.failureOutcome(error);
          if (!outcome.recordable || !policy.record) {
            void this.idempotency.release(reservation, outcome.code); // not awaited: a lost release only holds the key until its lease ends
            throw error;
          }
          await this.recorded(reservation, outcome.response);
          throw error;
        }
        // A response with credentials is not kept: the key is given back, so the same request runs again and another is still reuse.
        if (!policy.record) void this.idempotency.release(reservation, NOT_RECORDED_RELEASE);
        else await this.recorded(reservation, { status: result.status, body: result.body ?? null });
        return ran(result);
      }
    }
  }

  /**
   * Waits until the response is durable: an answer a crash could leave unrecorded would be run
   * again by a retry, and answered as the state is then. Not kept: 503, retry with the same key.
   */
  private async recorded(reservation: Reservation, response: RecordedResponse): Promise<void> {
    if (await this.idempotency.complete(reservation, response)) return;
    throw new GatewayError('unavailable', 'the answer could not be recorded; retry with the same Idempotency-Key', { retryable: true }, { 'Retry-After': '1' });
  }
}

function ran(result: { status: number; body: unknown }): Executed {
  return { ...result, replayed: false };
}
