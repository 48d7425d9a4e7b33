// The one guard every route passes, in this order: who is calling (a bearer access token,
// verified locally), whether the route wants a role, the route's rate limit, and whether the
// caller may touch the wallet it names (loaded once here, so handlers never check ownership).
// What each step decides lives in ../application/access-control.ts, shared with the gRPC edge.
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AccessControl, loginSubjectOf } from '../application/access-control';
import { AccessTokenVerifier } from '../application/access-tokens';
import { RateLimiter, type RateLimitName } from '../application/rate-limiter';
import { WalletOperations } from '../application/wallet-operations';
import { GatewayMetrics } from '../observability/metrics';
import { clientIp, type GatewayRequest } from './request-context';
import { POLICY, type WalletAccessPolicy } from './route-policy';

@Injectable()
export class RequestGuard implements CanActivate {
  private readonly access: AccessControl;

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AccessTokenVerifier) tokens: AccessTokenVerifier,
    @Inject(RateLimiter) rateLimiter: RateLimiter,
    @Inject(WalletOperations) wallets: WalletOperations,
    @Inject(GatewayMetrics) metrics: GatewayMetrics,
  ) {
    this.access = new AccessControl(tokens, rateLimiter, wallets, metrics);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<GatewayRequest>();
    const targets = [context.getHandler(), context.getClass()];

    if (this.reflector.getAllAndOverride<boolean>(POLICY.public, targets) !== true) {
      request.caller = await this.access.authenticate(request.headers.authorization);
    }
    if (this.reflector.getAllAndOverride<boolean>(POLICY.adminOnly, targets) === true) this.access.requireAdmin(request.caller);
    const limit = this.reflector.get<RateLimitName | undefined>(POLICY.rateLimit, context.getHandler());
    if (limit !== undefined) {
      this.access.takeRateToken(limit, { ip: clientIp(request), user: limit === 'login' ? loginSubjectOf(request.body) : request.caller?.userId });
    }
    const policy = this.reflector.get<WalletAccessPolicy | undefined>(POLICY.walletAccess, context.getHandler());
    if (policy !== undefined) {
      const walletId: unknown = policy.from === 'param' ? request.params?.[policy.name] : (request.body as Record<string, unknown> | undefined)?.[policy.name];
      if (request.caller === undefined) throw new Error('wallet access needs an authenticated route');
      request.wallet = await this.access.requireWalletAccess(policy.allow, policy.name, walletId, request.caller);
    }
    return true;
  }
}
