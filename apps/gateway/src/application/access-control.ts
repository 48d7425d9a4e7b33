// What every edge (HTTP guard, gRPC handlers) decides before an operation runs, in one place:
// who is calling (a bearer access token, verified locally, or the card network's key), whether
// they are an admin, the rate limits, and whether they may touch the wallet or card they name
// (404 before 403).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { CardView } from '@ledger/contracts';
import type { GatewayMetrics } from '../observability/metrics';
import type { AccessTokenVerifier } from './access-tokens';
import { NETWORK_ACTOR, type CardOperations } from './card-operations';
import { GatewayError } from './gateway-errors';
import type { RateLimiter, RateLimitName, RateLimitSubjects } from './rate-limiter';
import type { Caller, WalletFacts, WalletOperations } from './wallet-operations';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
/** Wallet, account and user ids: the ledger's limit (ID_LENGTH_MAX); printable ASCII, no spaces. */
export const ID_LENGTH_MAX = 128;
const ID_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${ID_LENGTH_MAX}}$`);
export const EMAIL_LENGTH_MAX = 254;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** `owner`: only its owner (moving money out, revealing a card); `owner_or_admin`: reads and changes. */
export type AccessRule = 'owner' | 'owner_or_admin';

export interface AccessControlOptions {
  readonly tokens: AccessTokenVerifier;
  readonly rateLimiter: RateLimiter;
  readonly wallets: WalletOperations;
  readonly cards: CardOperations;
  readonly metrics: GatewayMetrics;
  /** The key the card network sends (NETWORK_API_KEY or the embedded default). */
  readonly networkApiKey: string;
}

export class AccessControl {
  /** The network key as a SHA-256 digest: compared in constant time with the digest of what is sent. */
  private readonly networkKeyDigest: Buffer;

  constructor(private readonly options: AccessControlOptions) {
    this.networkKeyDigest = digest(options.networkApiKey);
  }

  /** The caller of an `Authorization: Bearer <accessToken>` value (HTTP header or gRPC metadata). */
  async authenticate(authorization: unknown): Promise<Caller> {
    const match = typeof authorization === 'string' ? BEARER.exec(authorization) : null;
    if (match === null) {
      throw new GatewayError('unauthenticated', 'an access token is required: Authorization: Bearer <accessToken>', {}, { 'WWW-Authenticate': 'Bearer' });
    }
    const check = await this.options.tokens.verify(match[1]);
    if (!check.ok) {
      const message = check.code === 'token_expired' ? 'the access token has expired; refresh it' : 'the access token is not valid';
      throw new GatewayError(check.code, message, {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    }
    return { userId: check.claims.sub, roles: check.claims.roles, sessionId: check.claims.sid };
  }

  /** The card network's name, for a valid `X-Network-Key` value (HTTP header or gRPC metadata). */
  authenticateNetwork(offered: unknown): string {
    if (typeof offered !== 'string' || !timingSafeEqual(digest(offered), this.networkKeyDigest)) {
      throw new GatewayError('unauthenticated', "the card network's routes need a valid X-Network-Key header");
    }
    return NETWORK_ACTOR;
  }

  requireAdmin(caller: Caller | undefined): void {
    if (!caller?.roles.includes('admin')) throw new GatewayError('forbidden', 'this route is for admins');
  }

  /** Takes a token from the named limit's buckets, or refuses with rate_limited (and how long to wait). */
  takeRateToken(name: RateLimitName, subjects: RateLimitSubjects): void {
    const result = this.options.rateLimiter.take(name, subjects);
    if (result.allowed) return;
    this.options.metrics.countRateLimited(result.limit);
    const retryAfterS = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    const details = { limit: result.limit, retryAfterSeconds: retryAfterS };
    throw new GatewayError('rate_limited', 'too many requests; retry later', details, { 'Retry-After': String(retryAfterS) });
  }

  /** Loads the wallet `walletId` (named by `field` in the request): validation_failed, not_found, or forbidden when the caller may not touch it. */
  requireWalletAccess(rule: AccessRule, field: string, walletId: unknown, caller: Caller): Promise<WalletFacts> {
    return this.requireOwnership(rule, field, walletId, caller, 'wallet', (id) => this.options.wallets.walletFacts(id));
  }

  /** Loads the card `cardId` once (GetCard), with the same answers as requireWalletAccess. */
  requireCardAccess(rule: AccessRule, field: string, cardId: unknown, caller: Caller): Promise<CardView> {
    return this.requireOwnership(rule, field, cardId, caller, 'card', (id) => this.options.cards.getCard(id));
  }

  private async requireOwnership<T extends { ownerId: string }>(
    rule: AccessRule,
    field: string,
    id: unknown,
    caller: Caller,
    what: string,
    load: (id: string) => Promise<T>,
  ): Promise<T> {
    requireIds({ [field]: id });
    const resource = await load(id as string); // not_found (404) when there is none
    const mayTouch = resource.ownerId === caller.userId || (rule === 'owner_or_admin' && caller.roles.includes('admin'));
    if (!mayTouch) throw new GatewayError('forbidden', `this ${what} is not yours`);
    return resource;
  }
}

/** Each named value is an id, or validation_failed naming the fields that are missing or not ids. */
export function requireIds(values: Record<string, unknown>): void {
  const fields = Object.entries(values)
    .filter(([, value]) => !isId(value))
    .map(([field, value]) => ({ field, reason: value === undefined ? 'missing' : 'invalid_id' }));
  if (fields.length > 0) throw new GatewayError('validation_failed', fields.map((f) => `${f.field}: ${f.reason}`).join('; '), { fields });
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The email a login is for, as the per-user login limit counts it. */
export function loginSubjectOf(body: unknown): string | undefined {
  const email = typeof body === 'object' && body !== null ? (body as { email?: unknown }).email : undefined;
  return typeof email === 'string' && email.length <= EMAIL_LENGTH_MAX ? email.trim().toLowerCase() : undefined;
}
