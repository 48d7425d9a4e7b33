import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { uuidv7 } from '@ledger/contracts';
import { createGatewayLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { answerClientError, duplicateKeyOf, requestContext } from './http-middleware';

/** Runs the middleware on a fake request, finishes the response, and answers what was logged. */
function logLinesAt(level: string): { lines: Record<string, unknown>[]; metrics: GatewayMetrics } {
  const lines: Record<string, unknown>[] = [];
  const logger = createGatewayLogger({ level, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  const metrics = new GatewayMetrics();
  const request = { headers: {}, method: 'POST', route: { path: '/v1/transfers' }, ip: '127.0.0.1' } as unknown as Request;
  const response = Object.assign(new EventEmitter(), { statusCode: 201, setHeader: () => undefined }) as unknown as Response;
  let called = false;
  requestContext({ ids: uuidv7, logger, metrics })(request, response, (() => (called = true)) as NextFunction);
  expect(called).toBe(true);
  response.emit('finish');
  return { lines, metrics };
}

describe('requestContext', () => {
  it('writes one access-log line per request at info', () => {
    expect(logLinesAt('info').lines).toEqual([expect.objectContaining({ msg: 'request', method: 'POST', route: '/v1/transfers', status: 201, ip: '127.0.0.1' })]);
  });

  it('writes none at warn, and still counts the request in the metrics', async () => {
    const { lines, metrics } = logLinesAt('warn');
    expect(lines).toEqual([]);
    expect(await metrics.registry.metrics()).toMatch(/gateway_http_requests_total\{method="POST",route="\/v1\/transfers",status="201"\} 1/);
  });
});

describe('answerClientError', () => {
  /** A socket that keeps what was written; `headersSent` as its in-flight response's. */
  function socket(headersSent?: boolean) {
    const written: string[] = [];
    const fake = { writable: true, _httpMessage: headersSent === undefined ? undefined : { headersSent }, destroyed: false, write: (text: string) => written.push(text), destroy: () => (fake.destroyed = true) };
    return { fake, written };
  }

  it('answers a request timeout 408 with the envelope, then closes', () => {
    const { fake, written } = socket(false);
    answerClientError(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), fake as never);
    const [head, body] = written.join('').split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(JSON.parse(body)).toEqual({ error: { code: 'validation_failed', message: expect.any(String), details: { fields: [{ field: 'request', reason: 'timeout' }] } } });
    expect(fake.destroyed).toBe(true);
  });

  it('writes nothing into a response already begun, and closes', () => {
    const { fake, written } = socket(true);
    answerClientError(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), fake as never);
    expect(written).toEqual([]);
    expect(fake.destroyed).toBe(true);
  });
});

describe('duplicateKeyOf', () => {
  it.each([
    ['{"amount":"1","amount":"2"}', 'amount'],
    ['{"amount":"1","\\u0061mount":"2"}', 'amount'],
    ['{"merchant":{"name":"a","mcc":"1","name":"b"}}', 'name'],
    ['{"a":{"b":1},"c":[{"d":1},{"d":2}],"a":2}', 'a'],
    ['{"a":"{\\"a\\":1,\\"a\\":2}","b":"a,\\"b\\":"}', undefined],
    ['[{"a":1},{"a":1}]', undefined],
    ['{"a":[1,{"a":1}],"b":{"a":1}}', undefined],
    ['{"a":', undefined],
  ])('%s: %s', (text, key) => {
    expect(duplicateKeyOf(text)).toBe(key);
  });
});
