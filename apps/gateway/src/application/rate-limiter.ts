// The named rate limits of the gateway: per client IP and per user on login, on the routes that
// move money, on the other writes and on card reveals; per client IP on the card network's routes. Token buckets in
// memory, one instance each (not shared between gateways).
import type { Clock } from '@ledger/contracts';
import { clientNetworkOf } from '../domain/client-network';
import { TokenBuckets, type BucketLimit } from '../domain/token-bucket';
import type { GatewayConfig } from '../gateway.config';

export type RateLimitName = 'login' | 'money' | 'write' | 'reveal' | 'network';

export interface RateLimitSubjects {
  readonly ip: string;
  /** The user id, or for login the email being logged in to (lower-cased); absent when unknown. */
  readonly user?: string;
}

export type RateLimitResult = { readonly allowed: true } | { readonly allowed: false; readonly limit: string; readonly retryAfterMs: number };

/** A limit without `user` counts per IP only (the network is not a user). */
type Limits = Record<RateLimitName, { readonly ip: BucketLimit; readonly user?: BucketLimit }>;

export class RateLimiter {
  /**
   * One bounded set of buckets per limit: a flood of logins (which need no account) fills only the
   * login set, never a user's money, write or reveal buckets.
   */
  private readonly buckets: Record<RateLimitName, TokenBuckets>;
  private readonly limits: Limits;

  constructor(
    config: GatewayConfig,
    private readonly clock: Clock,
  ) {
    const bounded = () => new TokenBuckets(config.RATE_LIMIT_BUCKETS_MAX);
    this.buckets = { login: bounded(), money: bounded(), write: bounded(), reveal: bounded(), network: bounded() };
    this.limits = {
      login: {
        ip: { burst: config.RATE_LIMIT_LOGIN_PER_IP_BURST, perMinute: config.RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE },
        user: { burst: config.RATE_LIMIT_LOGIN_PER_USER_BURST, perMinute: config.RATE_LIMIT_LOGIN_PER_USER_PER_MINUTE },
      },
      money: {
        ip: { burst: config.RATE_LIMIT_MONEY_PER_IP_BURST, perMinute: config.RATE_LIMIT_MONEY_PER_IP_PER_MINUTE },
        user: { burst: config.RATE_LIMIT_MONEY_PER_USER_BURST, perMinute: config.RATE_LIMIT_MONEY_PER_USER_PER_MINUTE },
      },
      write: {
        ip: { burst: config.RATE_LIMIT_WRITE_PER_IP_BURST, perMinute: config.RATE_LIMIT_WRITE_PER_IP_PER_MINUTE },
        user: { burst: config.RATE_LIMIT_WRITE_PER_USER_BURST, perMinute: config.RATE_LIMIT_WRITE_PER_USER_PER_MINUTE },
      },
      reveal: {
        ip: { burst: config.RATE_LIMIT_REVEAL_PER_IP_BURST, perMinute: config.RATE_LIMIT_REVEAL_PER_IP_PER_MINUTE },
        user: { burst: config.RATE_LIMIT_REVEAL_PER_USER_BURST, perMinute: config.RATE_LIMIT_REVEAL_PER_USER_PER_MINUTE },
      },
      network: {
        ip: { burst: config.RATE_LIMIT_NETWORK_PER_IP_BURST, perMinute: config.RATE_LIMIT_NETWORK_PER_IP_PER_MINUTE },
      },
    };
  }

  /** Takes a token from the IP's bucket (its /64 for IPv6), then from the user's; the first empty one refuses, and a refused request keeps no token. */
  take(name: RateLimitName, subjects: RateLimitSubjects): RateLimitResult {
    const nowMs = this.clock.nowMs();
    const buckets = this.buckets[name];
    const ipKey = `ip:${clientNetworkOf(subjects.ip)}`;
    const byIp = buckets.take(ipKey, this.limits[name].ip, nowMs);
    if (!byIp.allowed) return { allowed: false, limit: `${name}-per-ip`, retryAfterMs: byIp.retryAfterMs };
    const userLimit = this.limits[name].user;
    if (subjects.user === undefined || userLimit === undefined) return { allowed: true };
    const byUser = buckets.take(`user:${subjects.user}`, userLimit, nowMs);
    if (!byUser.allowed) {
      // Refused after all: a user over their own limit must not drain the address they share with others (a NAT).
      buckets.giveBack(ipKey, this.limits[name].ip);
      return { allowed: false, limit: `${name}-per-user`, retryAfterMs: byUser.retryAfterMs };
    }
    return { allowed: true };
  }
}
