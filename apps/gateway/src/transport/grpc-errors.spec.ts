import { status } from '@grpc/grpc-js';
import { ERROR_CODES } from '@ledger/contracts';
import { GatewayError, ServiceReplyError } from '../application/gateway-errors';
import { decodeStatus, ERROR_DETAIL_TYPE_URL, ERROR_GRPC_STATUS, STATUS_DETAILS_TRAILER, toGrpcError } from './grpc-errors';

describe('toGrpcError', () => {
  it('gives every API code a gRPC status other than OK and UNKNOWN', () => {
    for (const code of ERROR_CODES) expect([status.OK, status.UNKNOWN, undefined]).not.toContain(ERROR_GRPC_STATUS[code]);
  });

  it("carries API.md's envelope as a google.rpc.Status detail in grpc-status-details-bin", () => {
    const details = { fields: [{ field: 'amount', reason: 'invalid_amount' }], note: 'ü €' };
    const { error, unexpected } = toGrpcError(new GatewayError('validation_failed', 'amount: invalid_amount', details));
    expect(unexpected).toBe(false);
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe('amount: invalid_amount');
    const [trailer] = error.metadata.get(STATUS_DETAILS_TRAILER);
    expect(decodeStatus(trailer as Buffer)).toEqual({
      code: status.INVALID_ARGUMENT,
      message: 'amount: invalid_amount',
      details: [{ typeUrl: ERROR_DETAIL_TYPE_URL, code: 'validation_failed', message: 'amount: invalid_amount', details }],
    });
  });

  it('maps a service refusal by its code, and hides a bug as INTERNAL internal_error', () => {
    expect(toGrpcError(new ServiceReplyError({ code: 'insufficient_funds', message: 'not enough' })).error.code).toBe(status.FAILED_PRECONDITION);
    const bug = toGrpcError(new Error('secret stack'));
    expect(bug.unexpected).toBe(true);
    expect(bug.error.code).toBe(status.INTERNAL);
    expect(bug.error.details).toBe('internal error');
    expect(decodeStatus(bug.error.metadata.get(STATUS_DETAILS_TRAILER)[0] as Buffer).details[0].code).toBe('internal_error');
  });

  it('passes Retry-After on as retry-after metadata (rate limits)', () => {
    const { error } = toGrpcError(new GatewayError('rate_limited', 'slow down', { retryAfterSeconds: 3 }, { 'Retry-After': '3' }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.metadata.get('retry-after')).toEqual(['3']);
  });

  it('encodes long messages (multi-byte varint lengths)', () => {
    const message = 'x'.repeat(70_000);
    const { error } = toGrpcError(new GatewayError('not_found', message));
    expect(decodeStatus(error.metadata.get(STATUS_DETAILS_TRAILER)[0] as Buffer).message).toBe(message);
  });
});
