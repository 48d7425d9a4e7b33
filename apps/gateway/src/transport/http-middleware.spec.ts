import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { uuidv7 } from '@ledger/contracts';
import { createGatewayLogger } from '../observability/logger';
import { GatewayMetrics } from '../observability/metrics';
import { requestContext } from './http-middleware';

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
