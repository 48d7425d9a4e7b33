// Per-route policy as metadata, read by the one guard and the one interceptor: who may call a
// route (a user, an admin, the card network), which wallet or card it touches and who may touch
// it, its rate limit, and its idempotency.
import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ERROR_HTTP_STATUS, type ErrorCode } from '@ledger/contracts';
import type { IdempotencyPolicy } from '../application/idempotent-execution';
import type { RateLimitName } from '../application/rate-limiter';
import { ErrorResponse } from './wallets.dto';

export type { IdempotencyPolicy };

export const POLICY = {
  public: 'gateway:public',
  adminOnly: 'gateway:admin-only',
  network: 'gateway:network',
  walletAccess: 'gateway:wallet-access',
  cardAccess: 'gateway:card-access',
  rateLimit: 'gateway:rate-limit',
  idempotency: 'gateway:idempotency',
} as const;

/** No access token needed. */
export const Public = () => SetMetadata(POLICY.public, true);

/** Only users with the role `admin`. */
export const AdminOnly = () => SetMetadata(POLICY.adminOnly, true);

/** The card network's routes: `X-Network-Key` instead of a bearer token. */
export const NetworkOnly = () => applyDecorators(SetMetadata(POLICY.public, true), SetMetadata(POLICY.network, true));

export interface WalletAccessPolicy {
  /** Where the wallet id is: a path parameter or a body field. */
  readonly from: 'param' | 'body';
  readonly name: string;
  /** `owner`: only its owner (moving money out); `owner_or_admin`: reads and freezes. */
  readonly allow: 'owner' | 'owner_or_admin';
}

/** Loads the named wallet: 404 when there is none, 403 when the caller may not touch it. */
export const WalletAccess = (policy: WalletAccessPolicy) => SetMetadata(POLICY.walletAccess, policy);

export interface CardAccessPolicy {
  /** The path parameter naming the card. */
  readonly name: string;
  /** `owner`: only its owner (reveal); `owner_or_admin`: reads, freeze, unfreeze, cancel, controls. */
  readonly allow: 'owner' | 'owner_or_admin';
}

/** Loads the named card once (GetCard): 404 when there is none, 403 when the caller may not touch it. */
export const CardAccess = (policy: CardAccessPolicy) => SetMetadata(POLICY.cardAccess, policy);

export const RateLimited = (name: RateLimitName) => SetMetadata(POLICY.rateLimit, name);

export const Idempotent = (policy: Partial<IdempotencyPolicy> = {}) =>
  SetMetadata(POLICY.idempotency, { required: policy.required ?? false, record: policy.record ?? true } satisfies IdempotencyPolicy);

/** An Idempotency-Key as IDEMPOTENCY_KEY_PATTERN takes it: 1 to 255 printable ASCII characters (! to ~). */
const IDEMPOTENCY_KEY_SCHEMA = { type: 'string', pattern: '^[!-~]{1,255}$', maxLength: 255 } as const;

/** How the OpenAPI document describes the Idempotency-Key header of a route. */
export const IDEMPOTENCY_KEY_DOC = {
  optional: { name: 'Idempotency-Key', required: false, description: 'Replays the first response for 24 h', schema: IDEMPOTENCY_KEY_SCHEMA },
  required: { name: 'Idempotency-Key', required: true, description: 'Required: this request moves money', schema: IDEMPOTENCY_KEY_SCHEMA },
} as const;

/** API.md's error codes of a route in the OpenAPI document: one response per status, listing its codes, with the error envelope. */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) byStatus.set(ERROR_HTTP_STATUS[code], [...(byStatus.get(ERROR_HTTP_STATUS[code]) ?? []), code]);
  return applyDecorators(...[...byStatus].map(([status, listed]) => ApiResponse({ status, description: listed.join(', '), type: ErrorResponse })));
}

/** The error codes every route of a kind can answer (API.md's conventions). */
export const ROUTE_ERRORS = {
  /** A bearer token is missing, invalid or expired. */
  user: ['unauthenticated', 'token_expired'],
  /** A route naming a wallet or card by id: a bad id, none, or not the caller's. */
  resource: ['validation_failed', 'not_found', 'forbidden'],
  /** A route recording its Idempotency-Key. */
  idempotent: ['validation_failed', 'idempotency_key_reuse'],
  /** Any other write of a user's (its own rate limit, `write`), recording its Idempotency-Key. */
  writes: ['validation_failed', 'idempotency_key_reuse', 'rate_limited'],
  /** A money-moving route: the key is required and the route is rate limited. */
  movesMoney: ['validation_failed', 'idempotency_key_required', 'idempotency_key_reuse', 'rate_limited'],
} as const satisfies Record<string, readonly ErrorCode[]>;
