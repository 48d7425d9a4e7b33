// The one guard every route passes, in this order: who is calling (a bearer access token,
// verified locally, or on the card network's routes the X-Network-Key), whether the route wants a
// role, the route's rate limit, and whether the caller may touch the wallet or card it names
// (loaded once here, so handlers never check ownership). What each step decides lives in
// ../application/access-control.ts, shared with the gRPC edge.
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AccessControl, loginSubjectOf } from '../application/access-control';
import { AccessTokenVerifier } from '../application/access-tokens';
import { CardOperations } from '../application/card-operations';
import { RateLimiter, type RateLimitName } from '../application/rate-limiter';
import { WalletOperations } from '../application/wallet-operations';
import { networkApiKeyOf, type GatewayConfig } from '../gateway.config';
import { GATEWAY_CONFIG } from '../gateway.tokens';
import { GatewayMetrics } from '../observability/metrics';
import { clientIp, type GatewayRequest } from './request-context';
import { POLICY, type CardAccessPolicy, type WalletAccessPolicy } from './route-policy';

const NETWORK_KEY_HEADER = 'x-network-key';

@Injectable()
export class RequestGuard implements CanActivate {
  private readonly access: AccessControl;
  private readonly policies = new WeakMap<Function, RoutePolicy>();

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AccessTokenVerifier) tokens: AccessTokenVerifier,
    @Inject(RateLimiter) rateLimiter: RateLimiter,
    @Inject(WalletOperations) wallets: WalletOperations,
    @Inject(CardOperations) cards: CardOperations,
    @Inject(GatewayMetrics) metrics: GatewayMetrics,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.access = new AccessControl({ tokens, rateLimiter, wallets, cards, metrics, networkApiKey: networkApiKeyOf(config) });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    const policy = this.policyOf(context);

    if (!policy.public) request.caller = await this.access.authenticate(request.headers.authorization);
    if (policy.network) request.network = this.access.authenticateNetwork(request.headers[NETWORK_KEY_HEADER]);
    if (policy.adminOnly) this.access.requireAdmin(request.caller);
    const limit = policy.rateLimit;
    if (limit !== undefined) {
      this.access.takeRateToken(limit, { ip: clientIp(request), user: limit === 'login' ? loginSubjectOf(request.body) : request.caller?.userId });
    }
    const wallet = policy.walletAccess;
    if (wallet !== undefined) {
      const walletId: unknown = wallet.from === 'param' ? request.params?.[wallet.name] : (request.body as Record<string, unknown> | undefined)?.[wallet.name];
      request.wallet = await this.access.requireWalletAccess(wallet.allow, wallet.name, walletId, authenticated(request));
    }
    const card = policy.cardAccess;
    if (card !== undefined) request.card = await this.access.requireCardAccess(card.allow, card.name, request.params?.[card.name], authenticated(request));
    return true;
  }

  /** The route's policy, read from its metadata once per handler (metadata never changes at run time). */
  private policyOf(context: ExecutionContext): RoutePolicy {
    const handler = context.getHandler();
    let policy = this.policies.get(handler);
    if (policy === undefined) {
      const targets = [handler, context.getClass()];
      policy = {
        public: this.reflector.getAllAndOverride<boolean>(POLICY.public, targets) === true,
        network: this.reflector.getAllAndOverride<boolean>(POLICY.network, targets) === true,
        adminOnly: this.reflector.getAllAndOverride<boolean>(POLICY.adminOnly, targets) === true,
        rateLimit: this.reflector.get<RateLimitName | undefined>(POLICY.rateLimit, handler),
        walletAccess: this.reflector.get<WalletAccessPolicy | undefined>(POLICY.walletAccess, handler),
        cardAccess: this.reflector.get<CardAccessPolicy | undefined>(POLICY.cardAccess, handler),
      };
      this.policies.set(handler, policy);
    }
    return policy;
  }
}

interface RoutePolicy {
  readonly public: boolean;
  readonly network: boolean;
  readonly adminOnly: boolean;
  readonly rateLimit: RateLimitName | undefined;
  readonly walletAccess: WalletAccessPolicy | undefined;
  readonly cardAccess: CardAccessPolicy | undefined;
}

function authenticated(request: GatewayRequest) {
  // A route with an ownership check and no caller is a wiring bug, not a client error.
  if (request.caller === undefined) throw new Error('an ownership check needs an authenticated route');
  return request.caller;
}
