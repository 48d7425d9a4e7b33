// Errors as values with a code (libs/contracts' list plus the gateway's own), thrown inside the
// gateway and turned into HTTP responses by the one mapper in ../transport/http-errors.ts.
import { type DomainError, type ErrorCode, type Reply } from '@ledger/contracts';

/**
 * Codes beyond libs/contracts' list, for conditions only the gateway meets (proposed for
 * ERROR_HTTP_STATUS): a request with the same Idempotency-Key still in flight, and a bug.
 */
export const GATEWAY_ERROR_HTTP_STATUS = {
  idempotency_key_in_use: 409,
  internal_error: 500,
} as const;

export type GatewayErrorCode = ErrorCode | keyof typeof GATEWAY_ERROR_HTTP_STATUS;

/** An error the gateway itself decides, as a value with a code; `status` only where the code's own status does not fit (413, 415). */
export class GatewayError extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/** A service answered with an error value (`{ok: false, error}`). */
export class ServiceReplyError extends Error {
  constructor(readonly error: DomainError) {
    super(error.message);
    this.name = 'ServiceReplyError';
  }
}

/** The value of a service reply, or its error thrown as a ServiceReplyError. */
export async function valueOf<T>(reply: Promise<Reply<T>>): Promise<T> {
  const answer = await reply;
  if (answer === null || typeof answer !== 'object' || typeof answer.ok !== 'boolean') {
    throw new TypeError('a service reply must be {ok, value} or {ok, error}');
  }
  if (!answer.ok) throw new ServiceReplyError(answer.error);
  return answer.value;
}
