// What every edge (HTTP guard, gRPC handlers) decides before an operation runs, in one place:
// who is calling (a bearer access token, verified locally), whether they are an admin, the
// rate limits, and whether they may touch the wallet they name (404 before 403).
import type { WalletView } from '@ledger/contracts';
import type { GatewayMetrics } from '../observability/metrics';
import type { AccessTokenVerifier } from './access-tokens';
import { GatewayError } from './gateway-errors';
import type { RateLimiter, RateLimitName, RateLimitSubjects } from './rate-limiter';
import type { Caller, WalletOperations } from './wallet-operations';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
/** Wallet, account and user ids: the ledger's limit (ID_LENGTH_MAX); printable ASCII, no spaces. */
export const ID_LENGTH_MAX = 128;
const ID_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${ID_LENGTH_MAX}}$`);
export const EMAIL_LENGTH_MAX = 254;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** `owner`: only its owner (moving money out); `owner_or_admin`: reads and freezes. */
export type WalletAccessRule = 'owner' | 'owner_or_admin';

export class AccessControl {
  constructor(
    private readonly tokens: AccessTokenVerifier,
    private readonly rateLimiter: RateLimiter,
    private readonly wallets: WalletOperations,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** The caller of an `Authorization: Bearer <accessToken>` value (HTTP header or gRPC metadata). */
  async authenticate(authorization: unknown): Promise<Caller> {
    const match = typeof authorization === 'string' ? BEARER.exec(authorization) : null;
    if (match === null) {
      throw new GatewayError('unauthenticated', 'an access token is required: Authorization: Bearer <accessToken>', {}, { 'WWW-Authenticate': 'Bearer' });
    }
    const check = await this.tokens.verify(match[1]);
    if (!check.ok) {
      const message = check.code === 'token_expired' ? 'the access token has expired; refresh it' : 'the access token is not valid';
      throw new GatewayError(check.code, message, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    return { userId: check.claims.sub, roles: check.claims.roles, sessionId: check.claims.sid };
  }

  requireAdmin(caller: Caller | undefined): void {
    if (!caller?.roles.includes('admin')) throw new GatewayError('forbidden', 'this route is for admins');
  }

  /** Takes a token from the named limit's buckets, or refuses with rate_limited (and how long to wait). */
  takeRateToken(name: RateLimitName, subjects: RateLimitSubjects): void {
    const result = this.rateLimiter.take(name, subjects);
    if (result.allowed) return;
    this.metrics.countRateLimited(result.limit);
    const retryAfterS = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    const details = { limit: result.limit, retryAfterSeconds: retryAfterS };
    throw new GatewayError('rate_limited', 'too many requests; retry later', details, { 'Retry-After': String(retryAfterS) });
  }

  /** Loads the wallet `walletId` (named by `field` in the request): validation_failed, not_found, or forbidden when the caller may not touch it. */
  async requireWalletAccess(rule: WalletAccessRule, field: string, walletId: unknown, caller: Caller): Promise<WalletView> {
    if (!isId(walletId)) {
      throw new GatewayError('validation_failed', `${field}: ${walletId === undefined ? 'missing' : 'invalid_id'}`, {
        fields: [{ field, reason: walletId === undefined ? 'missing' : 'invalid_id' }],
      });
    }
    const wallet = await this.wallets.walletForChecks(walletId); // not_found (404) when there is none
    const mayTouch = wallet.ownerId === caller.userId || (rule === 'owner_or_admin' && caller.roles.includes('admin'));
    if (!mayTouch) throw new GatewayError('forbidden', 'this wallet is not yours');
    return wallet;
  }
}

/** The email a login is for, as the per-user login limit counts it. */
export function loginSubjectOf(body: unknown): string | undefined {
  const email = typeof body === 'object' && body !== null ? (body as { email?: unknown }).email : undefined;
  return typeof email === 'string' && email.length <= EMAIL_LENGTH_MAX ? email.trim().toLowerCase() : undefined;
}
