// API.md's Idempotency-Key on every POST route, through ../application/idempotent-execution.ts
// (shared with the gRPC edge): a replay answers the recorded status and body with
// `Idempotent-Replayed: true`. Every command also gets the keys it carries (`CommandKeysOf`),
// derived from the Idempotency-Key when there is one.
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor, type Type } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/internal';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { defer, lastValueFrom, map, type Observable } from 'rxjs';
import type { IdGenerator } from '@ledger/contracts';
import { IDEMPOTENCY_KEY_PATTERN, IdempotentExecution, routePath } from '../application/idempotent-execution';
import { IdempotencyService } from '../application/idempotency.service';
import type { CommandKeys } from '../application/wallet-operations';
import { ID_GENERATOR } from '../gateway.tokens';
import { GatewayMetrics } from '../observability/metrics';
import { recordedOutcomeOf, validationFailed } from './http-errors';
import { idempotencyCallerOf, type GatewayRequest } from './request-context';
import { POLICY, type IdempotencyPolicy } from './route-policy';
import { gatewayValidationPipe } from './validation';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  /** The same rules as the global pipe, applied before a key is reserved (the pipe then lets that body through). */
  private readonly validation = gatewayValidationPipe();
  private readonly execution: IdempotentExecution;
  private readonly routes = new WeakMap<Function, IdempotentRoute>();

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(IdempotencyService) idempotency: IdempotencyService,
    @Inject(GatewayMetrics) metrics: GatewayMetrics,
    @Inject(ID_GENERATOR) private readonly ids: IdGenerator,
  ) {
    this.execution = new IdempotentExecution(idempotency, metrics, ids, recordedOutcomeOf);
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    const response = context.switchToHttp().getResponse<Response>();
    const { policy, bodyType, paramsType } = this.routeOf(context);
    if (policy === undefined) return next.handle();
    const idempotent = {
      policy,
      caller: idempotencyCallerOf(request),
      key: keyOf(request),
      // A route without a body reads none: what a client sends anyway (`{}`) is no other request (gRPC states it as null).
      // One with a body reads a missing one as `{}` (a whole reversal): sent either way, and as gRPC states it, it is one request.
      fingerprint: { method: request.method, path: pathOf(request), body: bodyType === undefined ? null : (request.body ?? {}) },
      correlationId: request.requestId ?? this.ids.next(),
      // Runs only when a key is about to be reserved, not on every POST.
      validate: async () => {
        // Path ids too: a route whose guard loads nothing (the network's capture) would otherwise reserve the key first.
        if (paramsType !== undefined) await this.validation.transform(request.params, { type: 'param', metatype: paramsType, data: undefined });
        if (bodyType !== undefined) request.body = await this.validation.validateBody(request.body, bodyType);
      },
    };
    const handle = async (keys: CommandKeys) => {
      request.commandKeys = keys;
      const body: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
      return { status: response.statusCode, body };
    };
    return defer(() => this.execution.execute(idempotent, handle)).pipe(
      map(({ status, body, replayed }) => {
        if (replayed) {
          response.status(status);
          response.setHeader(REPLAYED_HEADER, 'true');
        }
        return body;
      }),
    );
  }

  /** The route's idempotency policy and body DTO, found once per handler. */
  private routeOf(context: ExecutionContext): IdempotentRoute {
    const handler = context.getHandler();
    let route = this.routes.get(handler);
    if (route === undefined) {
      const policy = this.reflector.get<IdempotencyPolicy | undefined>(POLICY.idempotency, handler);
      route = {
        policy,
        bodyType: policy === undefined ? undefined : argumentTypeOf(context, RouteParamtypes.BODY),
        paramsType: policy === undefined ? undefined : argumentTypeOf(context, RouteParamtypes.PARAM),
      };
      this.routes.set(handler, route);
    }
    return route;
  }
}

interface IdempotentRoute {
  readonly policy: IdempotencyPolicy | undefined;
  readonly bodyType: Type | undefined;
  readonly paramsType: Type | undefined;
}

/** The DTO class of the handler's whole @Body() or @Param() parameter, as Nest's own pipes find it. */
function argumentTypeOf(context: ExecutionContext, kind: RouteParamtypes.BODY | RouteParamtypes.PARAM): Type | undefined {
  const controller = context.getClass();
  const method = context.getHandler().name;
  const args: Record<string, { index: number; data?: unknown }> = Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {};
  const argument = Object.entries(args).find(([key, value]) => key.startsWith(`${kind}:`) && value.data === undefined);
  if (argument === undefined) return undefined;
  const types: unknown[] | undefined = Reflect.getMetadata('design:paramtypes', controller.prototype, method);
  const type = types?.[argument[1].index];
  // A bare @Param() typed as a plain object (no DTO) validates nothing.
  return typeof type === 'function' && type !== Object ? (type as Type) : undefined;
}

/** The request's path as its route states it (as the gRPC edge states its calls), not as this client spelled the URL. */
function pathOf(request: GatewayRequest): string {
  const pattern: unknown = request.route?.path;
  return typeof pattern === 'string' ? routePath(pattern, request.params ?? {}) : request.path;
}

function keyOf(request: GatewayRequest): string | undefined {
  const value = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(value)) {
    throw validationFailed([{ field: 'Idempotency-Key', reason: 'invalid_format', message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' }]);
  }
  return value;
}
