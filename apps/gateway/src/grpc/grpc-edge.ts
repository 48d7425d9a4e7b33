// One gRPC call through the same steps as an HTTP request, with the same application pieces:
// the bearer token (AccessControl), the rate limit, the wallet's ownership, the HTTP route's
// DTO rules, and the Idempotency-Key (IdempotentExecution, fingerprinted as the equal HTTP
// request, so a key replays on either edge). Each method states its operation once, below.
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { MethodDefinition, PackageDefinition } from '@grpc/proto-loader';
import type { Type } from '@nestjs/common';
import { isErrorCode, type CardView, type IdGenerator } from '@ledger/contracts';
import { AccessControl, loginSubjectOf, requireIds, type AccessRule } from '../application/access-control';
import { GatewayError } from '../application/gateway-errors';
import { anonymousCaller, IDEMPOTENCY_KEY_PATTERN, IdempotentExecution, type IdempotencyPolicy } from '../application/idempotent-execution';
import type { RateLimitName } from '../application/rate-limiter';
import type { Caller, CommandKeys, WalletFacts } from '../application/wallet-operations';
import { forwardedClientOf, peerAddressOf } from '../domain/client-network';
import type { GatewayLogger } from '../observability/logger';
import { toGrpcError } from '../transport/grpc-errors';
import { validationFailed, type ErrorBody } from '../transport/http-errors';
import { REQUEST_ID_PATTERN } from '../transport/http-middleware';
import { bodyShapeError, gatewayValidationPipe } from '../transport/validation';

export const AUTHORIZATION_METADATA = 'authorization';
export const IDEMPOTENCY_KEY_METADATA = 'idempotency-key';
export const NETWORK_KEY_METADATA = 'x-network-key';
/** Sent as initial metadata when the answer (or the error) is the one recorded for the Idempotency-Key. */
export const REPLAYED_METADATA = 'idempotent-replayed';
/** A client's correlation id, as X-Request-Id over HTTP; a new UUIDv7 when absent or unusable. */
export const REQUEST_ID_METADATA = 'x-request-id';
/** Believed for TRUST_PROXY_HOPS proxies, as over HTTP. */
export const FORWARDED_FOR_METADATA = 'x-forwarded-for';

/** What a handler needs of grpc-js's call (ServerUnaryCall). */
export interface GrpcCall {
  readonly metadata: Metadata;
  getPeer(): string;
  getPath(): string;
  sendMetadata(metadata: Metadata): void;
  /** The client's deadline (Infinity: none). */
  getDeadline(): Date | number;
  /** The client cancelled, or the deadline passed: nobody waits for the answer. */
  readonly cancelled: boolean;
}

export interface HttpEquivalent {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  /** The JSON body the HTTP route takes (null: none). */
  readonly body: Record<string, unknown> | null;
  /** The query string the HTTP route takes, as strings. */
  readonly query?: Record<string, string | undefined>;
}

/** A gRPC method's rules: those of the HTTP route it equals. */
export interface GrpcOperation<Req> {
  readonly http: (request: Req) => HttpEquivalent;
  /** The HTTP status of a success (what an Idempotency-Key record keeps). */
  readonly status: 200 | 201 | 204;
  /** No access token needed. */
  readonly public?: true;
  /** The card network's methods: `x-network-key` instead of a bearer token. */
  readonly network?: true;
  /** Only users with the role `admin`. */
  readonly adminOnly?: true;
  readonly rateLimit?: RateLimitName;
  readonly wallet?: { readonly rule: AccessRule; readonly field: string; readonly id: (request: Req) => unknown };
  readonly card?: { readonly rule: AccessRule; readonly field: string; readonly id: (request: Req) => unknown };
  /** Other ids the request names (field -> value), checked as the HTTP route checks its path. */
  readonly ids?: (request: Req) => Record<string, unknown>;
  readonly idempotency?: IdempotencyPolicy;
  /** The HTTP route's body DTO and query DTO, validating `http(request)`. */
  readonly body?: Type;
  readonly query?: Type;
}

export interface OperationContext {
  readonly keys: CommandKeys;
  readonly ip: string;
  readonly correlationId: string;
  /** The authenticated caller (operations that are not public). */
  caller(): Caller;
  /** The wallet the ownership check loaded (operations with `wallet`). */
  wallet(): WalletFacts;
  /** The card the ownership check loaded (operations with `card`). */
  card(): CardView;
}

/** What a request message that does not decode becomes (decodeLeniently): the edge answers it validation_failed. */
const UNDECODABLE = Symbol('undecodable request message');

/**
 * Makes every method's request decoder answer a marker instead of throwing: grpc-js answers a
 * message that does not decode INTERNAL, where the same bad input over HTTP (malformed JSON) is 400.
 */
export function decodeLeniently(definition: PackageDefinition): void {
  for (const service of Object.values(definition)) {
    for (const method of Object.values(service) as Partial<MethodDefinition<object, object>>[]) {
      const decode = method?.requestDeserialize;
      if (typeof decode !== 'function') continue; // a message or enum type, not a service
      method.requestDeserialize = (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch {
          return { [UNDECODABLE]: true };
        }
      };
    }
  }
}

export class GrpcEdge {
  private readonly validation = gatewayValidationPipe();

  constructor(
    private readonly access: AccessControl,
    private readonly execution: IdempotentExecution,
    private readonly ids: IdGenerator,
    private readonly observability: { readonly logger: GatewayLogger },
    /** TRUST_PROXY_HOPS: the proxies in front whose x-forwarded-for is believed. */
    private readonly trustedHops: number,
    /** BUS_REQUEST_TIMEOUT_MS: a client's deadline later than this from now bounds nothing. */
    private readonly busTimeoutMs: number,
  ) {}

  /** One call: its answer, or its error for the filter to map; timed and logged in one line (as HTTP's access log; grpc-server.ts counts it). */
  async run<Req, Res>(operation: GrpcOperation<Req>, request: Req, call: GrpcCall, handler: (context: OperationContext) => Promise<Res | void>): Promise<Res> {
    const startedAt = performance.now();
    const offered = first(call.metadata, REQUEST_ID_METADATA);
    const correlationId = offered !== undefined && REQUEST_ID_PATTERN.test(offered) ? offered : this.ids.next();
    let code = GrpcStatus.OK;
    try {
      return await this.runChecked(operation, request, call, correlationId, handler);
    } catch (error) {
      code = toGrpcError(error).error.code;
      throw error;
    } finally {
      const seconds = (performance.now() - startedAt) / 1000;
      this.observability.logger.info({ requestId: correlationId, grpcMethod: call.getPath(), grpcStatus: GrpcStatus[code], durationMs: Math.round(seconds * 10_000) / 10 }, 'grpc call');
    }
  }

  private async runChecked<Req, Res>(
    operation: GrpcOperation<Req>,
    request: Req,
    call: GrpcCall,
    correlationId: string,
    handler: (context: OperationContext) => Promise<Res | void>,
  ): Promise<Res> {
    if (typeof request === 'object' && request !== null && UNDECODABLE in request) {
      throw validationFailed([{ field: 'message', reason: 'malformed', message: 'the request message is not this method\'s protobuf message' }]);
    }
    const forwardedFor = call.metadata.get(FORWARDED_FOR_METADATA).filter((value): value is string => typeof value === 'string');
    const ip = forwardedClientOf(peerAddressOf(call.getPeer()), forwardedFor, this.trustedHops);
    const http = operation.http(request);
    const caller = operation.public === true || operation.network === true ? undefined : await this.access.authenticate(first(call.metadata, AUTHORIZATION_METADATA));
    const network = operation.network === true ? this.access.authenticateNetwork(first(call.metadata, NETWORK_KEY_METADATA)) : undefined;
    if (operation.adminOnly === true) this.access.requireAdmin(caller);
    if (operation.rateLimit !== undefined) {
      this.access.takeRateToken(operation.rateLimit, { ip, user: operation.rateLimit === 'login' ? loginSubjectOf(http.body) : caller?.userId });
    }
    const wallet = operation.wallet && (await this.access.requireWalletAccess(operation.wallet.rule, operation.wallet.field, operation.wallet.id(request), required(caller, 'the caller')));
    const card = operation.card && (await this.access.requireCardAccess(operation.card.rule, operation.card.field, operation.card.id(request), required(caller, 'the caller')));
    const key = operation.idempotency === undefined ? undefined : keyOf(call.metadata);
    const shapeError = bodyShapeError(http.body);
    if (shapeError !== undefined) throw shapeError;
    // The HTTP route's rules, once: after the key's own checks (a missing required key is idempotency_key_required whatever
    // the body, as over HTTP) and before the key is reserved (bad input never reaches the store: a corrected request may use it).
    let validated: Promise<void> | undefined;
    const validate = () => (validated ??= this.validate(operation, request, http));

    const context = (keys: CommandKeys): OperationContext => ({
      // Every command goes out with the client's deadline: the bus sends none past it, and none at all once the client cancelled.
      keys: { ...keys, deadlineMs: () => (call.cancelled ? CANCELLED_DEADLINE_MS : this.boundingDeadlineMs(call)) },
      ip,
      correlationId,
      caller: () => required(caller, 'the caller'),
      wallet: () => required(wallet, 'the wallet'),
      card: () => required(card, 'the card'),
    });
    const executed = await this.execution.execute(
      {
        policy: operation.idempotency ?? { required: false, record: false },
        // Whose keys: the user, the card network, or the client network before login (as over HTTP).
        caller: caller !== undefined ? `user:${caller.userId}` : (network ?? anonymousCaller(ip, http.body)),
        key,
        fingerprint: { method: http.method, path: http.path, body: http.body },
        correlationId,
        validate,
      },
      async (keys) => {
        await validate();
        return { status: operation.status, body: (await handler(context(keys))) ?? null };
      },
    );
    if (executed.replayed) {
      const metadata = new Metadata();
      metadata.set(REPLAYED_METADATA, 'true');
      call.sendMetadata(metadata);
      if (executed.status >= 400) throw recordedError(executed.body as ErrorBody);
    }
    // A 204's null is the empty message.
    return (executed.body ?? {}) as Res;
  }

  /** The ids the request names and the HTTP route's body and query DTOs. */
  private async validate<Req>(operation: GrpcOperation<Req>, request: Req, http: HttpEquivalent): Promise<void> {
    if (operation.ids !== undefined) requireIds(operation.ids(request));
    if (operation.body !== undefined) await this.validation.transform(http.body ?? {}, { type: 'body', metatype: operation.body, data: undefined });
    if (operation.query !== undefined) await this.validation.transform(http.query ?? {}, { type: 'query', metatype: operation.query, data: undefined });
  }

  /**
   * The client's deadline in epoch ms (grpc-js's wall clock, as the bus's) when it is sooner than the
   * bus's own timeout; undefined otherwise, so a command it does not bound is still coalesced with others.
   */
  private boundingDeadlineMs(call: GrpcCall): number | undefined {
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    return Number.isFinite(ms) && ms < Date.now() + this.busTimeoutMs ? ms : undefined;
  }
}

/** The deadline of a call its client cancelled: long past, so no bus request is sent for it. */
const CANCELLED_DEADLINE_MS = 0;

function first(metadata: Metadata, name: string): string | undefined {
  const [value] = metadata.get(name);
  return typeof value === 'string' ? value : undefined;
}

function keyOf(metadata: Metadata): string | undefined {
  const values = metadata.get(IDEMPOTENCY_KEY_METADATA);
  if (values.length === 0) return undefined;
  const [value] = values;
  if (values.length > 1 || typeof value !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(value)) {
    throw validationFailed([{ field: 'idempotency-key', reason: 'invalid_format', message: 'idempotency-key must be one value of 1 to 255 printable ASCII characters' }]);
  }
  return value;
}

/** An error response recorded under the Idempotency-Key, thrown again as the same code. */
function recordedError(body: ErrorBody): GatewayError {
  const code = body?.error?.code;
  if (!isErrorCode(code)) return new GatewayError('internal_error', 'internal error');
  return new GatewayError(code, body.error.message, body.error.details);
}

function required<T>(value: T | undefined, what: string): T {
  // An operation that reads it without the rule that sets it is a wiring bug, not a client error.
  if (value === undefined) throw new Error(`${what} is not set for this operation`);
  return value;
}
