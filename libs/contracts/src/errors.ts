// Every error a caller can cause, as one typed list (API.md). Edges map these to HTTP, gRPC
// and ISO 8583 with one mapper each; inside, they travel as values, not exceptions.

export const ERROR_HTTP_STATUS = {
  validation_failed: 400,
  idempotency_key_required: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  token_expired: 401,
  forbidden: 403,
  step_up_required: 403,
  not_found: 404,
  email_taken: 409,
  wallet_not_active: 409,
  card_not_active: 409,
  hold_not_pending: 409,
  // Beyond API.md's list, for conditions it does not name (extra codes are not breaking).
  account_exists: 409,
  balance_not_zero: 409,
  hold_not_expired: 409,
  insufficient_funds: 422,
  currency_mismatch: 422,
  limit_exceeded: 422,
  idempotency_key_reuse: 422,
  amount_exceeds_hold: 422,
  account_locked: 423,
  rate_limited: 429,
  // Not a caller's fault: another writer owns the shard, or the service is not ready. Retryable.
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_HTTP_STATUS;

export const ERROR_CODES = Object.keys(ERROR_HTTP_STATUS) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_HTTP_STATUS, value);
}

/** An error as a value, with the API's envelope fields. */
export interface DomainError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export function domainError(code: ErrorCode, message: string, details?: Record<string, unknown>): DomainError {
  return details === undefined ? { code, message } : { code, message, details };
}

/** The wire envelope of API.md. */
export interface ErrorEnvelope {
  readonly error: { code: ErrorCode; message: string; details: Record<string, unknown> };
}

export function toErrorEnvelope(error: DomainError): ErrorEnvelope {
  return { error: { code: error.code, message: error.message, details: error.details ?? {} } };
}

export type Result<T, E = DomainError> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = <E>(error: E): { ok: false; error: E } => ({ ok: false, error });
