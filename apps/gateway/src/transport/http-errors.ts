// The gateway's one error mapper: whatever went wrong (bad input, a service's error reply, a
// broken dependency, a bug) becomes API.md's envelope with its status. The exception filter
// sends what this returns, and the idempotency interceptor records it.
import { HttpException } from '@nestjs/common';
import { ERROR_HTTP_STATUS, isErrorCode, type DomainError } from '@ledger/contracts';
import { EventStoreClosedError, isTransientSqliteError } from '@ledger/event-store';
import { BusClosedError, ClientClosedError, QueueFullError, RemoteHandlerError, RequestTimeoutError, TooManyPendingRequestsError } from '@ledger/messaging';
import { GATEWAY_ERROR_HTTP_STATUS, GatewayError, ServiceReplyError, type GatewayErrorCode } from '../application/gateway-errors';

export interface FieldProblem {
  readonly field: string;
  readonly reason: string;
  readonly message?: string;
}

export interface ErrorBody {
  readonly error: { readonly code: GatewayErrorCode; readonly message: string; readonly details: Record<string, unknown> };
}

/** The request failed its DTO's rules (thrown by the validation pipe, before any handler ran). */
export class RequestValidationError extends Error {
  constructor(readonly fields: readonly FieldProblem[]) {
    super(fields.map((problem) => `${problem.field}: ${problem.reason}`).join('; '));
    this.name = 'RequestValidationError';
  }
}

export function validationFailed(fields: readonly FieldProblem[], message?: string, status?: number): GatewayError {
  return new GatewayError('validation_failed', message ?? fields.map((f) => `${f.field}: ${f.reason}`).join('; '), { fields }, {}, status);
}

export interface HttpErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
  readonly headers: Record<string, string>;
  /** Not the caller's doing: logged with its stack. */
  readonly unexpected: boolean;
  /** An outcome of running the request (not bad input, not a failure to run it): an Idempotency-Key keeps it. */
  readonly recordable: boolean;
}

const RETRY_AFTER_S = '1';

/** body-parser's error types (http-errors `type`), as the envelope reports them. */
const BODY_PARSER_ERRORS: Record<string, { status: number; reason: string; message: string }> = {
  'entity.parse.failed': { status: 400, reason: 'malformed_json', message: 'the body is not valid JSON' },
  'entity.verify.failed': { status: 400, reason: 'malformed_json', message: 'the body is not valid JSON' },
  // http-middleware's refuseDuplicateKeys (a verify step).
  'entity.duplicate.key': { status: 400, reason: 'duplicate_key', message: 'the body names a field twice' },
  'entity.too.large': { status: 413, reason: 'too_large', message: 'the body is larger than this server accepts' },
  'encoding.unsupported': { status: 415, reason: 'unsupported_encoding', message: 'unsupported Content-Encoding' },
  'charset.unsupported': { status: 415, reason: 'unsupported_charset', message: 'unsupported charset: JSON bodies are UTF-8' },
  'request.aborted': { status: 400, reason: 'aborted', message: 'the request body was cut short' },
  'request.size.invalid': { status: 400, reason: 'size_mismatch', message: 'the body does not match its Content-Length' },
};

export function toHttpError(exception: unknown): HttpErrorResponse {
  if (exception instanceof GatewayError) {
    const status = exception.status ?? statusOf(exception.code);
    return response(status, exception.code, exception.message, exception.details, exception.headers, { recordable: isOutcome(exception.code, status) });
  }
  if (exception instanceof ServiceReplyError) return fromDomainError(exception.error);
  if (exception instanceof RequestValidationError) {
    return response(400, 'validation_failed', 'the request is not valid', { fields: exception.fields }, {}, { recordable: false });
  }
  if (isUnavailable(exception)) {
    const message = 'a service did not answer in time; retry with the same Idempotency-Key';
    return response(503, 'unavailable', message, { retryable: true }, { 'Retry-After': RETRY_AFTER_S }, { recordable: false });
  }
  if (exception instanceof HttpException) return fromHttpException(exception);
  return response(500, 'internal_error', 'internal error', {}, {}, { recordable: false, unexpected: true });
}

function fromDomainError(error: DomainError): HttpErrorResponse {
  if (!isErrorCode(error.code)) {
    return response(500, 'internal_error', 'internal error', {}, {}, { recordable: false, unexpected: true });
  }
  const status = ERROR_HTTP_STATUS[error.code];
  const headers: Record<string, string> = status === 503 ? { 'Retry-After': RETRY_AFTER_S } : {};
  const details = typeof error.details === 'object' && error.details !== null ? fieldsListed(error.code, error.details) : {};
  return response(status, error.code, String(error.message ?? error.code), details, headers, { recordable: isOutcome(error.code, status) });
}

function fromHttpException(exception: HttpException): HttpErrorResponse {
  const status = exception.getStatus();
  const cause = exception.cause as { type?: unknown } | undefined;
  const parserError = typeof cause?.type === 'string' ? BODY_PARSER_ERRORS[cause.type] : undefined;
  if (parserError !== undefined) {
    const fields = [{ field: 'body', reason: parserError.reason }];
    return response(parserError.status, 'validation_failed', parserError.message, { fields }, {}, { recordable: false });
  }
  if (status === 400 && isUnreadableBody(cause)) {
    // body-parser passes a Content-Encoding that does not decode (a corrupt gzip or deflate stream) on with zlib's error and no type.
    const fields = [{ field: 'body', reason: 'undecodable' }];
    return response(400, 'validation_failed', 'the body does not decode with its Content-Encoding', { fields }, {}, { recordable: false });
  }
  if (cause instanceof URIError) {
    const fields = [{ field: 'url', reason: 'malformed_encoding' }];
    return response(400, 'validation_failed', 'the URL is not correctly encoded', { fields }, {}, { recordable: false });
  }
  if (status === 404) return response(404, 'not_found', 'no such route', {}, {}, { recordable: false });
  if (status >= 500) return response(500, 'internal_error', 'internal error', {}, {}, { recordable: false, unexpected: true });
  const code: GatewayErrorCode =
    status === 401 ? 'unauthenticated' : status === 403 ? 'forbidden' : status === 429 ? 'rate_limited' : 'validation_failed';
  // Nest's own messages are about the request (never internals) below 500.
  return response(status, code, exception.message, {}, {}, { recordable: false });
}

/** API.md: validation_failed's details list the fields. Some service replies name one `field`: list it. */
function fieldsListed(code: string, details: Record<string, unknown>): Record<string, unknown> {
  if (code !== 'validation_failed' || Array.isArray(details.fields) || typeof details.field !== 'string') return details;
  const { field, reason, ...rest } = details;
  return { ...rest, fields: [{ field, reason: typeof reason === 'string' ? reason : 'invalid' }] };
}

/** zlib's errors (Z_DATA_ERROR, Z_BUF_ERROR...; brotli's ERR_BROTLI_*, ERR__ERROR_*): inflating a request body failed. */
function isUnreadableBody(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^(Z_|ERR_BROTLI|ERR__ERROR)/.test(code);
}

/** A 4xx the request's run decided is kept for its key; invalid input is not, whoever found it (a service: a transfer to its own source). */
function isOutcome(code: GatewayErrorCode, status: number): boolean {
  return status < 500 && code !== 'validation_failed';
}

function statusOf(code: GatewayErrorCode): number {
  return isErrorCode(code) ? ERROR_HTTP_STATUS[code] : GATEWAY_ERROR_HTTP_STATUS[code];
}

function isUnavailable(exception: unknown): boolean {
  return (
    exception instanceof RequestTimeoutError ||
    exception instanceof TooManyPendingRequestsError ||
    exception instanceof QueueFullError ||
    exception instanceof ClientClosedError ||
    exception instanceof BusClosedError ||
    exception instanceof EventStoreClosedError ||
    // The gateway's own store (Idempotency-Key records), or a service's (BusExceptionFilter), failing for a while: a full disk, a lock.
    isTransientSqliteError(exception) ||
    (exception instanceof RemoteHandlerError && (exception.error as { code?: unknown } | null)?.code === 'unavailable')
  );
}

function response(
  status: number,
  code: GatewayErrorCode,
  message: string,
  details: Record<string, unknown>,
  headers: Record<string, string>,
  flags: { recordable: boolean; unexpected?: boolean },
): HttpErrorResponse {
  return { status, body: { error: { code, message, details } }, headers, unexpected: flags.unexpected ?? false, recordable: flags.recordable };
}

/** An error as an Idempotency-Key record keeps it: API.md's HTTP response, whichever edge ran the request. */
export function recordedOutcomeOf(error: unknown): { recordable: boolean; response: { status: number; body: ErrorBody }; code: string } {
  const mapped = toHttpError(error);
  return { recordable: mapped.recordable, response: { status: mapped.status, body: mapped.body }, code: mapped.body.error.code };
}
