import { BadRequestException, HttpException, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { domainError } from '@ledger/contracts';
import { EventStoreClosedError } from '@ledger/event-store';
import { QueueFullError, RemoteHandlerError, RequestTimeoutError, STORAGE_UNAVAILABLE, TooManyPendingRequestsError } from '@ledger/messaging';
import { GatewayError, ServiceReplyError } from '../application/gateway-errors';
import { RequestValidationError, toHttpError } from './http-errors';

describe('the one error mapper', () => {
  it('maps a service error reply to its ERROR_HTTP_STATUS, keeping code, message and details', () => {
    expect(toHttpError(new ServiceReplyError(domainError('insufficient_funds', 'not enough', { available: '5' })))).toMatchObject({
      status: 422,
      body: { error: { code: 'insufficient_funds', message: 'not enough', details: { available: '5' } } },
      recordable: true,
    });
    expect(toHttpError(new ServiceReplyError(domainError('wallet_not_active', 'frozen'))).status).toBe(409);
    expect(toHttpError(new ServiceReplyError(domainError('account_locked', 'locked'))).status).toBe(423);
  });

  it('lists a single `field` of a service validation error as `fields`', () => {
    const mapped = toHttpError(new ServiceReplyError(domainError('validation_failed', 'cursor: bad', { field: 'cursor', reason: 'invalid_cursor' })));
    expect(mapped.body.error.details).toEqual({ fields: [{ field: 'cursor', reason: 'invalid_cursor' }] });
    // Invalid input, whoever found it: not an outcome an Idempotency-Key keeps.
    expect(mapped.recordable).toBe(false);
  });

  it('answers unavailable with 503 and Retry-After, whether the service said so or the bus gave up', () => {
    for (const error of [
      new ServiceReplyError(domainError('unavailable', 'shard moving')),
      new RequestTimeoutError('ledger.commands', 5000, 'c1'),
      new TooManyPendingRequestsError(10),
      new QueueFullError('ledger.commands', 0, 10),
      new EventStoreClosedError('append'),
      Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), // the gateway's own store
      new RemoteHandlerError(STORAGE_UNAVAILABLE), // a service's, through BusExceptionFilter
    ]) {
      const mapped = toHttpError(error);
      expect(mapped).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } }, recordable: false });
      expect(mapped.headers['Retry-After']).toBe('1');
    }
  });

  it('answers anything unexpected with a generic 500 that leaks nothing', () => {
    for (const error of [
      new Error('SQLITE_CORRUPT: /var/data/events.sqlite at line 42'),
      new TypeError("Cannot read properties of undefined (reading 'secret')"),
      new RemoteHandlerError({ status: 'error', message: 'stack at /srv/app.js' }),
      new ServiceReplyError({ code: 'made_up' as never, message: 'internal detail' }),
      'a thrown string',
      undefined,
    ]) {
      const mapped = toHttpError(error);
      expect(mapped).toEqual({
        status: 500,
        body: { error: { code: 'internal_error', message: 'internal error', details: {} } },
        headers: {},
        unexpected: true,
        recordable: false,
      });
    }
  });

  it('maps body-parser failures by their type: malformed 400, too large 413, charset 415', () => {
    const parserError = (status: number, type: string) => new HttpException('raw parser message', status, { cause: Object.assign(new Error('x'), { type }) });
    expect(toHttpError(parserError(400, 'entity.parse.failed'))).toMatchObject({ status: 400, body: { error: { code: 'validation_failed' } } });
    expect(toHttpError(parserError(413, 'entity.too.large'))).toMatchObject({ status: 413, body: { error: { code: 'validation_failed' } } });
    expect(toHttpError(parserError(415, 'charset.unsupported'))).toMatchObject({ status: 415, body: { error: { code: 'validation_failed' } } });
    expect(toHttpError(new BadRequestException('bad uri', { cause: new URIError('URI malformed') }))).toMatchObject({ status: 400 });
    expect(toHttpError(new PayloadTooLargeException())).toMatchObject({ status: 413, body: { error: { code: 'validation_failed' } } });
  });

  it('maps an unknown route to 404 not_found, and validation to 400 with the fields, not kept for replays', () => {
    expect(toHttpError(new NotFoundException('Cannot GET /secret/path'))).toMatchObject({ status: 404, body: { error: { code: 'not_found', message: 'no such route' } } });
    expect(toHttpError(new RequestValidationError([{ field: 'amount', reason: 'invalid_amount' }]))).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: { fields: [{ field: 'amount', reason: 'invalid_amount' }] } } },
      recordable: false,
    });
  });

  it('gives the gateway’s own codes their statuses and headers', () => {
    expect(toHttpError(new GatewayError('idempotency_key_in_use', 'busy', {}, { 'Retry-After': '3' }))).toMatchObject({ status: 409, headers: { 'Retry-After': '3' } });
    expect(toHttpError(new GatewayError('validation_failed', 'not json', {}, {}, 415)).status).toBe(415);
    expect(toHttpError(new GatewayError('rate_limited', 'slow down')).status).toBe(429);
  });
});
