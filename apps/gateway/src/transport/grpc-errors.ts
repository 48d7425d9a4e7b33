// The gRPC edge's one error mapper: whatever went wrong becomes a gRPC status code plus API.md's
// envelope as a google.rpc.Status in the `grpc-status-details-bin` trailer, its one detail a
// ledger.v1.ErrorDetail {code, message, details_json}. The codes and envelopes are the HTTP
// edge's (toHttpError decides them); this file only says which gRPC status each code is.
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { GatewayErrorCode } from '../application/gateway-errors';
import { toHttpError, type ErrorBody } from './http-errors';

export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';
export const ERROR_DETAIL_TYPE_URL = 'type.googleapis.com/ledger.v1.ErrorDetail';

/** Every API code and its gRPC status (exhaustive: a new code does not compile until it is placed). */
export const ERROR_GRPC_STATUS: Record<GatewayErrorCode, GrpcStatus> = {
  validation_failed: GrpcStatus.INVALID_ARGUMENT,
  idempotency_key_required: GrpcStatus.INVALID_ARGUMENT,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  invalid_credentials: GrpcStatus.UNAUTHENTICATED,
  token_expired: GrpcStatus.UNAUTHENTICATED,
  forbidden: GrpcStatus.PERMISSION_DENIED,
  step_up_required: GrpcStatus.PERMISSION_DENIED,
  not_found: GrpcStatus.NOT_FOUND,
  email_taken: GrpcStatus.ALREADY_EXISTS,
  account_exists: GrpcStatus.ALREADY_EXISTS,
  wallet_not_active: GrpcStatus.FAILED_PRECONDITION,
  card_not_active: GrpcStatus.FAILED_PRECONDITION,
  hold_not_pending: GrpcStatus.FAILED_PRECONDITION,
  balance_not_zero: GrpcStatus.FAILED_PRECONDITION,
  hold_not_expired: GrpcStatus.FAILED_PRECONDITION,
  insufficient_funds: GrpcStatus.FAILED_PRECONDITION,
  currency_mismatch: GrpcStatus.FAILED_PRECONDITION,
  limit_exceeded: GrpcStatus.FAILED_PRECONDITION,
  amount_exceeds_hold: GrpcStatus.FAILED_PRECONDITION,
  idempotency_key_reuse: GrpcStatus.FAILED_PRECONDITION,
  idempotency_key_in_use: GrpcStatus.ABORTED,
  account_locked: GrpcStatus.PERMISSION_DENIED,
  rate_limited: GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  internal_error: GrpcStatus.INTERNAL,
};

/** What grpc-js sends for a failed call (a ServiceError's fields). */
export interface GrpcError {
  readonly code: GrpcStatus;
  readonly details: string;
  readonly metadata: Metadata;
}

export interface GrpcErrorResponse {
  readonly error: GrpcError;
  /** Not the caller's doing: logged with its stack. */
  readonly unexpected: boolean;
}

export function toGrpcError(exception: unknown): GrpcErrorResponse {
  const mapped = toHttpError(exception);
  const metadata = new Metadata();
  const retryAfter = mapped.headers['Retry-After'];
  if (retryAfter !== undefined) metadata.set('retry-after', retryAfter);
  return { error: grpcErrorOf(mapped.body, metadata), unexpected: mapped.unexpected };
}

/** API.md's envelope as a gRPC error (also for an envelope recorded under an Idempotency-Key). */
export function grpcErrorOf(body: ErrorBody, metadata = new Metadata()): GrpcError {
  const { code, message, details } = body.error;
  const grpcCode = ERROR_GRPC_STATUS[code] ?? GrpcStatus.INTERNAL;
  metadata.set(STATUS_DETAILS_TRAILER, encodeStatus({ code: grpcCode, message, detail: { code, message, detailsJson: JSON.stringify(details) } }));
  return { code: grpcCode, details: message, metadata };
}

// google.rpc.Status and ledger.v1.ErrorDetail are three strings and an int: encoded by hand
// here rather than through a second protobuf runtime.
interface StatusDetails {
  readonly code: number;
  readonly message: string;
  readonly detail: { readonly code: string; readonly message: string; readonly detailsJson: string };
}

export function encodeStatus(status: StatusDetails): Buffer {
  const detail = Buffer.concat([field(1, status.detail.code), field(2, status.detail.message), field(3, status.detail.detailsJson)]);
  const any = Buffer.concat([field(1, ERROR_DETAIL_TYPE_URL), field(2, detail)]);
  return Buffer.concat([Buffer.from([0x08]), varint(status.code), field(2, status.message), field(3, any)]);
}

/** The error a `grpc-status-details-bin` trailer carries (clients and tests decode with this). */
export function decodeStatus(bytes: Buffer): { code: number; message: string; details: { typeUrl: string; code: string; message: string; details: unknown }[] } {
  const status = fields(bytes);
  return {
    code: Number(status.get(1)?.[0] ?? 0),
    message: text(status.get(2)?.[0]),
    details: (status.get(3) ?? []).map((any) => {
      const packed = fields(any as Buffer);
      const detail = fields(packed.get(2)?.[0] as Buffer);
      const detailsJson = text(detail.get(3)?.[0]);
      return { typeUrl: text(packed.get(1)?.[0]), code: text(detail.get(1)?.[0]), message: text(detail.get(2)?.[0]), details: detailsJson === '' ? {} : JSON.parse(detailsJson) };
    }),
  };
}

function field(number: number, value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return bytes.length === 0 ? Buffer.alloc(0) : Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Field number -> values (varints as numbers, length-delimited as Buffers); other wire types are not used here. */
function fields(bytes: Buffer | undefined): Map<number, (number | Buffer)[]> {
  const found = new Map<number, (number | Buffer)[]>();
  let offset = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      if (bytes === undefined || offset >= bytes.length) throw new Error('truncated status details');
      const byte = bytes[offset++];
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  };
  while (bytes !== undefined && offset < bytes.length) {
    const tag = readVarint();
    const wireType = tag & 7;
    let value: number | Buffer;
    if (wireType === 0) value = readVarint();
    else if (wireType === 2) {
      const length = readVarint();
      value = bytes.subarray(offset, offset + length);
      offset += length;
    } else throw new Error(`unexpected wire type ${wireType} in status details`);
    const number = Math.floor(tag / 8);
    found.set(number, [...(found.get(number) ?? []), value]);
  }
  return found;
}

function text(value: number | Buffer | undefined): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : '';
}
