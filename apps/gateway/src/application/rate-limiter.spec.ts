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

  it('still bounds the buckets of each limit, forgetting the least recently used', () => {
    const limiter = limiterWith({ RATE_LIMIT_LOGIN_PER_USER_BURST: '1' });
    const login = (email: string, host: number) => limiter.take('login', { ip: `192.0.2.${host}`, user: email }).allowed;
    expect([login('first', 0), login('first', 0)]).toEqual([true, false]);
    for (let i = 1; i <= BUCKETS_MAX; i++) login(`filler-${i}`, i);
    expect(login('first', 0)).toBe(true); // forgotten: it starts full again
  });
});
