// Per-route policy as metadata, read by the one guard and the one interceptor: who may call a
// route, which wallet it touches and who may touch it, its rate limit, and its idempotency.
import { SetMetadata } from '@nestjs/common';
import type { IdempotencyPolicy } from '../application/idempotent-execution';
import type { RateLimitName } from '../application/rate-limiter';

export type { IdempotencyPolicy };

export const POLICY = {
  public: 'gateway:public',
  adminOnly: 'gateway:admin-only',
  walletAccess: 'gateway:wallet-access',
  rateLimit: 'gateway:rate-limit',
  idempotency: 'gateway:idempotency',
} as const;

/** No access token needed. */
export const Public = () => SetMetadata(POLICY.public, true);

/** Only users with the role `admin`. */
export const AdminOnly = () => SetMetadata(POLICY.adminOnly, true);

export interface WalletAccessPolicy {
  /** Where the wallet id is: a path parameter or a body field. */
  readonly from: 'param' | 'body';
  readonly name: string;
  /** `owner`: only its owner (moving money out); `owner_or_admin`: reads and freezes. */
  readonly allow: 'owner' | 'owner_or_admin';
}

/** Loads the named wallet: 404 when there is none, 403 when the caller may not touch it. */
export const WalletAccess = (policy: WalletAccessPolicy) => SetMetadata(POLICY.walletAccess, policy);

export const RateLimited = (name: RateLimitName) => SetMetadata(POLICY.rateLimit, name);

export const Idempotent = (policy: Partial<IdempotencyPolicy> = {}) =>
  SetMetadata(POLICY.idempotency, { required: policy.required ?? false, record: policy.record ?? true } satisfies IdempotencyPolicy);
