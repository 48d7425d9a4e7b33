// The one guard every route passes, in this order: who is calling (a bearer access token,
// verified locally, or on the card network's routes the X-Network-Key), whether the route wants a
// role, the route's rate limit, and whether the caller may touch the wallet or card it names
// (loaded once here, so handlers never check ownership).
import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { CardView, WalletView } from '@ledger/contracts';
import { AccessTokenVerifier } from '../application/access-tokens';
import { CardOperations, NETWORK_ACTOR } from '../application/card-operations';
import { GatewayError } from '../application/gateway-errors';
import { RateLimiter, type RateLimitName } from '../application/rate-limiter';
import { WalletOperations, type Caller } from '../application/wallet-operations';
import { networkApiKeyOf, type GatewayConfig } from '../gateway.config';
import { GATEWAY_CONFIG } from '../gateway.tokens';
import { GatewayMetrics } from '../observability/metrics';
import { validationFailed } from './http-errors';
import { clientIp, type GatewayRequest } from './request-context';
import { POLICY, type CardAccessPolicy, type WalletAccessPolicy } from './route-policy';
import { isId, STRING_LIMITS } from './validation';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
const NETWORK_KEY_HEADER = 'x-network-key';

@Injectable()
export class RequestGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AccessTokenVerifier) private readonly tokens: AccessTokenVerifier,
    @Inject(RateLimiter) private readonly rateLimiter: RateLimiter,
    @Inject(WalletOperations) private readonly wallets: WalletOperations,
    @Inject(CardOperations) private readonly cards: CardOperations,
    @Inject(GatewayMetrics) private readonly metrics: GatewayMetrics,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.networkKeyDigest = digest(networkApiKeyOf(config));
  }

  /** The network key as a SHA-256 digest: compared in constant time with the digest of what is sent. */
  private readonly networkKeyDigest: Buffer;

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    const targets = [context.getHandler(), context.getClass()];

    if (this.reflector.getAllAndOverride<boolean>(POLICY.public, targets) !== true) {
      request.caller = await this.authenticate(request);
    }
    if (this.reflector.getAllAndOverride<boolean>(POLICY.network, targets) === true) request.network = this.authenticateNetwork(request);
    if (this.reflector.getAllAndOverride<boolean>(POLICY.adminOnly, targets) === true && !request.caller?.roles.includes('admin')) {
      throw new GatewayError('forbidden', 'this route is for admins');
    }
    const limit = this.reflector.get<RateLimitName | undefined>(POLICY.rateLimit, context.getHandler());
    if (limit !== undefined) this.takeToken(limit, request);
    const access = this.reflector.get<WalletAccessPolicy | undefined>(POLICY.walletAccess, context.getHandler());
    if (access !== undefined) request.wallet = await this.checkWalletAccess(access, request);
    const cardAccess = this.reflector.get<CardAccessPolicy | undefined>(POLICY.cardAccess, context.getHandler());
    if (cardAccess !== undefined) request.card = await this.checkCardAccess(cardAccess, request);
    return true;
  }

  private authenticateNetwork(request: GatewayRequest): string {
    const offered = request.headers[NETWORK_KEY_HEADER];
    if (typeof offered !== 'string' || !timingSafeEqual(digest(offered), this.networkKeyDigest)) {
      throw new GatewayError('unauthenticated', 'the card network\'s routes need a valid X-Network-Key header');
    }
    return NETWORK_ACTOR;
  }

  private async authenticate(request: GatewayRequest): Promise<Caller> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
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

  private takeToken(name: RateLimitName, request: GatewayRequest): void {
    const user = name === 'login' ? loginEmailOf(request.body) : request.caller?.userId;
    const result = this.rateLimiter.take(name, { ip: clientIp(request), user });
    if (result.allowed) return;
    this.metrics.countRateLimited(result.limit);
    const retryAfterS = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
    const details = { limit: result.limit, retryAfterSeconds: retryAfterS };
    throw new GatewayError('rate_limited', 'too many requests; retry later', details, { 'Retry-After': String(retryAfterS) });
  }

  private checkWalletAccess(policy: WalletAccessPolicy, request: GatewayRequest): Promise<WalletView> {
    const source: unknown = policy.from === 'param' ? request.params?.[policy.name] : (request.body as Record<string, unknown> | undefined)?.[policy.name];
    return this.checkOwnership(policy, request, source, 'wallet', (walletId) => this.wallets.walletForChecks(walletId));
  }

  private checkCardAccess(policy: CardAccessPolicy, request: GatewayRequest): Promise<CardView> {
    return this.checkOwnership(policy, request, request.params?.[policy.name], 'card', (cardId) => this.cards.getCard(cardId));
  }

  /** Loads what the route names (not_found, 404, when there is none) and checks that the caller may touch it (403). */
  private async checkOwnership<T extends { ownerId: string }>(
    policy: { name: string; allow: 'owner' | 'owner_or_admin' },
    request: GatewayRequest,
    id: unknown,
    what: string,
    load: (id: string) => Promise<T>,
  ): Promise<T> {
    if (!isId(id)) throw validationFailed([{ field: policy.name, reason: id === undefined ? 'missing' : 'invalid_id' }]);
    const caller = request.caller;
    if (caller === undefined) throw new Error(`${what} access needs an authenticated route`);
    const resource = await load(id);
    const mayTouch = resource.ownerId === caller.userId || (policy.allow === 'owner_or_admin' && caller.roles.includes('admin'));
    if (!mayTouch) throw new GatewayError('forbidden', `this ${what} is not yours`);
    return resource;
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The email a login is for, as the per-user login limit counts it. */
function loginEmailOf(body: unknown): string | undefined {
  const email = typeof body === 'object' && body !== null ? (body as { email?: unknown }).email : undefined;
  return typeof email === 'string' && email.length <= STRING_LIMITS.emailLengthMax ? email.trim().toLowerCase() : undefined;
}
