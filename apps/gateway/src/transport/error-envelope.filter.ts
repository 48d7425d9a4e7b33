// The one exception filter: every error of every route (and of Express itself: malformed JSON,
// an oversized body, an unknown route) leaves as API.md's envelope, via toHttpError.
import { Catch, Inject, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { GATEWAY_LOGGER } from '../gateway.tokens';
import type { GatewayLogger } from '../observability/logger';
import { toHttpError } from './http-errors';
import type { GatewayRequest } from './request-context';

@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  constructor(@Inject(GATEWAY_LOGGER) private readonly logger: GatewayLogger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request & GatewayRequest>();
    const response = http.getResponse<Response>();
    const mapped = toHttpError(exception);
    if (mapped.unexpected) {
      this.logger.error({ err: exception, requestId: request.requestId, method: request.method, path: request.path }, 'request failed');
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    for (const [name, value] of Object.entries(mapped.headers)) response.setHeader(name, value);
    response.status(mapped.status).json(mapped.body);
  }
}
