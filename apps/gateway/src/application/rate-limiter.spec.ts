import { ManualClock } from '@ledger/contracts';
import { loadGatewayConfig } from '../gateway.config';
import { RateLimiter } from './rate-limiter';

const BUCKETS_MAX = 100;

describe('the rate limiter', () => {
  const limiterWith = (env: Record<string, string>) => new RateLimiter(loadGatewayConfig({ RATE_LIMIT_BUCKETS_MAX: String(BUCKETS_MAX), ...env }), new ManualClock());

  it("keeps a user's reveal limit however many anonymous logins fill the login buckets", () => {
    const limiter = limiterWith({ RATE_LIMIT_REVEAL_PER_USER_BURST: '2' });
    const reveal = () => limiter.take('reveal', { ip: '198.51.100.1', user: 'victim' });
    expect([reveal().allowed, reveal().allowed, reveal().allowed]).toEqual([true, true, false]);
    // Logins need no account: anyone can make as many login buckets as they have addresses and emails.
    for (let i = 0; i < BUCKETS_MAX; i++) limiter.take('login', { ip: `203.0.113.${i % 250}`, user: `nobody-${i}@example.com` });
    expect(reveal()).toMatchObject({ allowed: false, limit: 'reveal-per-user' });
  });

  it("spends none of an IP's tokens on a request its user's limit refuses: one user over their limit does not lock out their neighbours", () => {
    const limiter = limiterWith({ RATE_LIMIT_MONEY_PER_IP_BURST: '5', RATE_LIMIT_MONEY_PER_USER_BURST: '2' });
    const money = (user: string) => limiter.take('money', { ip: '198.51.100.7', user });
    const greedy = Array.from({ length: 20 }, () => money('greedy'));
    expect(greedy.filter((result) => result.allowed)).toHaveLength(2);
    expect(greedy[2]).toMatchObject({ allowed: false, limit: 'money-per-user' });
    // Behind the same address (a NAT): the IP's other three tokens are still there.
    expect([money('neighbour').allowed, money('neighbour').allowed, money('other').allowed, money('other').allowed]).toEqual([true, true, true, false]);
    expect(money('third')).toMatchObject({ allowed: false, limit: 'money-per-ip' });
  });

  it('still bounds the buckets of each limit, and a flood of made-up emails never resets one that still limits (only refilled ones are forgotten)', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(loadGatewayConfig({ RATE_LIMIT_BUCKETS_MAX: String(BUCKETS_MAX), RATE_LIMIT_LOGIN_PER_USER_BURST: '1' }), clock);
    const login = (email: string, host: number) => limiter.take('login', { ip: `192.0.2.${host}`, user: email });
    expect([login('victim@example.com', 0).allowed, login('victim@example.com', 0).allowed]).toEqual([true, false]);
    // From other addresses: each made-up email is a new bucket, and so is each address.
    const flood = Array.from({ length: BUCKETS_MAX }, (_, i) => login(`made-up-${i}@example.com`, 1 + (i % 250)));
    expect(flood.at(-1)).toMatchObject({ allowed: false, limit: 'login-per-ip' });
    expect(login('victim@example.com', 0)).toMatchObject({ allowed: false, limit: 'login-per-user' });
    clock.advance(60_000); // every bucket has refilled: forgetting any loses nothing
    expect(Array.from({ length: BUCKETS_MAX / 2 }, (_, i) => login(`later-${i}@example.com`, 1 + (i % 250)).allowed).every(Boolean)).toBe(true);
  });
});
