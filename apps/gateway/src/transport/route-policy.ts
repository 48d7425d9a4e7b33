// Per-route policy as metadata, read by the one guard and the one interceptor: who may call a
// route (a user, an admin, the card network), which wallet or card it touches and who may touch
// it, its rate limit, and its idempotency.
import { applyDecorators, SetMetadata } from '@nestjs/common';
import type { IdempotencyPolicy } from '../application/idempotent-execution';
import type { RateLimitName } from '../application/rate-limiter';

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

/** How the OpenAPI document describes the Idempotency-Key header of a route. */
export const IDEMPOTENCY_KEY_DOC = {
  optional: { name: 'Idempotency-Key', required: false, description: 'Replays the first response for 24 h' },
  required: { name: 'Idempotency-Key', required: true, description: 'Required: this request moves money' },
} as const;
