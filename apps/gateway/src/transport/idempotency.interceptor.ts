// API.md's Idempotency-Key on every POST: the first response to a key is recorded in the event
// store and replayed (with `Idempotent-Replayed: true`) for the same key and body for 24 h; the
// same key with another body is 422 `idempotency_key_reuse`; while the first is still in flight
// a duplicate is 409 `idempotency_key_in_use`. Every command also gets the keys it carries
// (`CommandKeysOf`), derived from the Idempotency-Key when there is one.
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor, type Type } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/internal';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { catchError, from, mergeMap, of, throwError, type Observable } from 'rxjs';
import type { IdGenerator } from '@ledger/contracts';
import { GatewayError } from '../application/gateway-errors';
import { IdempotencyService, type Reservation } from '../application/idempotency.service';
import { ID_GENERATOR } from '../gateway.tokens';
import { GatewayMetrics } from '../observability/metrics';
import { toHttpError, validationFailed } from './http-errors';
import { idempotencyCallerOf, type GatewayRequest } from './request-context';
import { POLICY, type IdempotencyPolicy } from './route-policy';
import { gatewayValidationPipe } from './validation';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** Printable ASCII, 1 to 255 characters (as Stripe's); a UUID fits. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  /** The same rules as the global pipe, applied before a key is reserved. */
  private readonly validation = gatewayValidationPipe();

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(IdempotencyService) private readonly idempotency: IdempotencyService,
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    const response = context.switchToHttp().getResponse<Response>();
    const policy = this.reflector.get<IdempotencyPolicy | undefined>(POLICY.idempotency, context.getHandler());
    if (policy === undefined) return next.handle();
    const correlationId = request.requestId ?? this.ids.next();

    const key = keyOf(request);
    if (key === undefined) {
      if (policy.required) {
        throw new GatewayError('idempotency_key_required', 'this request moves money: send an Idempotency-Key header', { header: 'Idempotency-Key' });
      }
      // The service still needs a key: one used once, as nothing will retry it.
      request.commandKeys = { idempotencyKey: `gw-once:${this.ids.next()}`, resourceId: this.ids.next(), correlationId };
      return next.handle();
    }
    const caller = idempotencyCallerOf(request);
    if (!policy.record) {
      request.commandKeys = { idempotencyKey: IdempotencyService.serviceKey(caller, key, 0), resourceId: this.ids.next(), correlationId };
      return next.handle();
    }

    // Bad input never reaches the store: a corrected request may use the same key.
    const bodyType = bodyTypeOf(context);
    if (bodyType !== undefined) await this.validation.transform(request.body, { type: 'body', metatype: bodyType, data: undefined });

    const begun = await this.idempotency.begin({ caller, key, method: request.method, path: request.path, body: request.body ?? null, correlationId });
    this.metrics.countIdempotency(begun.kind);
    switch (begun.kind) {
      case 'replay':
        response.status(begun.response.status);
        response.setHeader(REPLAYED_HEADER, 'true');
        return of(begun.response.body ?? undefined);
      case 'reuse':
        throw new GatewayError('idempotency_key_reuse', 'this Idempotency-Key was used for a different request', { header: 'Idempotency-Key' });
      case 'in_flight': {
        const retryAfterS = String(Math.max(1, Math.ceil(begun.retryAfterMs / 1000)));
        const message = 'a request with this Idempotency-Key is still in progress; retry later';
        throw new GatewayError('idempotency_key_in_use', message, { header: 'Idempotency-Key' }, { 'Retry-After': retryAfterS });
      }
      case 'proceed': {
        const { reservation } = begun;
        request.commandKeys = { idempotencyKey: reservation.serviceKey, resourceId: reservation.attempt.resourceId, correlationId };
        return next.handle().pipe(
          mergeMap(async (body: unknown) => {
            await this.idempotency.complete(reservation, { status: response.statusCode, body: body ?? null });
            return body;
          }),
          catchError((error: unknown) => from(this.settleFailure(reservation, error)).pipe(mergeMap(() => throwError(() => error)))),
        );
      }
    }
  }

  /** On an error: keep it if it is an outcome of the request (a 4xx a handler or service decided), else give the key back. */
  private settleFailure(reservation: Reservation, error: unknown): Promise<void> {
    const mapped = toHttpError(error);
    return mapped.recordable
      ? this.idempotency.complete(reservation, { status: mapped.status, body: mapped.body })
      : this.idempotency.release(reservation, mapped.body.error.code);
  }
}

/** The DTO class of the handler's @Body() parameter, as Nest's own pipes find it. */
function bodyTypeOf(context: ExecutionContext): Type | undefined {
  const controller = context.getClass();
  const method = context.getHandler().name;
  const args: Record<string, { index: number }> = Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {};
  const body = Object.entries(args).find(([key]) => key.startsWith(`${RouteParamtypes.BODY}:`));
  if (body === undefined) return undefined;
  const types: unknown[] | undefined = Reflect.getMetadata('design:paramtypes', controller.prototype, method);
  const type = types?.[body[1].index];
  return typeof type === 'function' ? (type as Type) : undefined;
}

function keyOf(request: GatewayRequest): string | undefined {
  const value = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !KEY_PATTERN.test(value)) {
    throw validationFailed([{ field: 'Idempotency-Key', reason: 'invalid_format', message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' }]);
  }
  return value;
}
