// The gateway's limits and failure modes over HTTP: rate limits per user and per IP (429 with
// Retry-After), BODY_LIMIT_BYTES (413), readiness that fails (503), and a service that does not
// answer (503 unavailable with Retry-After).
import { waitFor } from '@ledger/contracts/testing';
import { loadGatewayConfig } from './gateway.config';
import { startGateway } from './gateway.app';
import { newKey, startGatewaySystem, type GatewaySystem, type HttpAnswer } from './testing/gateway.harness';
import { closedWithoutAnswer, openSocket } from './testing/sockets';

const LIMITS = {
  RATE_LIMIT_LOGIN_PER_IP_BURST: '1000',
  RATE_LIMIT_LOGIN_PER_USER_BURST: '3',
  RATE_LIMIT_LOGIN_PER_USER_PER_MINUTE: '10',
  RATE_LIMIT_MONEY_PER_USER_BURST: '4',
  RATE_LIMIT_MONEY_PER_USER_PER_MINUTE: '60',
};

function expectRateLimited(answer: HttpAnswer): void {
  expect(answer.status).toBe(429);
  expect(answer.body.error).toMatchObject({ code: 'rate_limited', details: { limit: expect.any(String), retryAfterSeconds: expect.any(Number) } });
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe('gateway limits and failures (e2e)', () => {
  let s: GatewaySystem;

  beforeAll(async () => {
    s = await startGatewaySystem({ env: LIMITS });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('limits logins per user (the email): 429 rate_limited with Retry-After, others unaffected, refilled with time', async () => {
    const user = await s.register('limited-login'); // registering and logging in spent two of three
    const login = (email: string) => s.request('POST', '/v1/auth/login', { body: { email, password: user.password } });
    expect((await login(user.email.toUpperCase())).status).toBe(200); // the same user, however spelled
    const refused = await login(user.email);
    expectRateLimited(refused);
    expect(refused.body.error.details.limit).toBe('login-per-user');
    expect(refused.headers.get('retry-after')).toBe('6'); // 10 a minute: one every 6 s
    expect((await s.register('someone-else')).token).toEqual(expect.any(String));
    s.clock.advance(6_000);
    expect((await login(user.email)).status).toBe(200);
  });

  it('limits money-moving requests per user', async () => {
    const user = await s.register('limited-money');
    const other = await s.register('unlimited-money');
    const walletId = await s.openWallet(user, 'USD'); // opening a wallet moves no money
    const otherWallet = await s.openWallet(other, 'USD');
    const topUp = (walletId: string, token: string) => s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token, key: newKey('limit'), body: { amount: '1' } });
    for (let i = 0; i < 4; i++) expect((await topUp(walletId, user.token)).status).toBe(201);
    const refused = await topUp(walletId, user.token);
    expectRateLimited(refused);
    expect(refused.body.error.details.limit).toBe('money-per-user');
    expect((await topUp(otherWallet, other.token)).status).toBe(201);
    s.clock.advance(1_000);
    expect((await topUp(walletId, user.token)).status).toBe(201);
    const metrics = await s.request('GET', '/metrics');
    expect(metrics.text).toMatch(/gateway_rate_limited_total\{limit="money-per-user"\} 1/);
  });

  it('limits money-moving requests per client IP', async () => {
    await s.restartGateway({ ...LIMITS, RATE_LIMIT_MONEY_PER_IP_BURST: '3', RATE_LIMIT_MONEY_PER_USER_BURST: '100' });
    const users = [await s.register('ip-1'), await s.register('ip-2')];
    const wallets = [await s.openWallet(users[0], 'USD'), await s.openWallet(users[1], 'USD')];
    const topUp = (i: number) => s.request('POST', `/v1/wallets/${wallets[i]}/top-ups`, { token: users[i].token, key: newKey('ip'), body: { amount: '1' } });
    expect([(await topUp(0)).status, (await topUp(1)).status, (await topUp(0)).status]).toEqual([201, 201, 201]);
    const refused = await topUp(1);
    expectRateLimited(refused);
    expect(refused.body.error.details.limit).toBe('money-per-ip');
  });

  it("limits the other writes per user (a wallet's or card's state, a new wallet or card, TOTP set-up): each wrote its key's record, and events, without end", async () => {
    await s.restartGateway({ ...LIMITS, RATE_LIMIT_WRITE_PER_USER_BURST: '3', RATE_LIMIT_WRITE_PER_USER_PER_MINUTE: '60' });
    const user = await s.register('limited-writes');
    const walletId = await s.openWallet(user, 'USD'); // one of three
    // Freezing a frozen wallet sends no command, but a new Idempotency-Key is two events each time.
    const freeze = () => s.request('POST', `/v1/wallets/${walletId}/freeze`, { token: user.token, key: newKey('write') });
    expect([(await freeze()).status, (await freeze()).status]).toEqual([200, 200]);
    const refused = await freeze();
    expectRateLimited(refused);
    expect(refused.body.error.details.limit).toBe('write-per-user');
    s.clock.advance(1_000);
    expect((await freeze()).status).toBe(200);
    await s.restartGateway(LIMITS);
  });

  it('limits logouts per client IP as logins and refreshes are: a flood of made-up refresh tokens is refused 429, not passed on to identity', async () => {
    await s.restartGateway({ ...LIMITS, RATE_LIMIT_LOGIN_PER_IP_BURST: '3' });
    const logout = () => s.request('POST', '/v1/auth/logout', { body: { refreshToken: `made-up-${newKey('token')}` } });
    for (let i = 0; i < 3; i++) expect((await logout()).status).not.toBe(429);
    const refused = await logout();
    expectRateLimited(refused);
    expect(refused.body.error.details.limit).toBe('login-per-ip');
  });

  it('counts an IPv6 client per /64 and an IPv4 client however it is spelled (behind TRUST_PROXY_HOPS=1)', async () => {
    await s.restartGateway({ ...LIMITS, TRUST_PROXY_HOPS: '1', RATE_LIMIT_LOGIN_PER_IP_BURST: '2', RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE: '1' });
    let attempts = 0; // a new email each time: only the per-IP limit may refuse
    const loginFrom = (forwardedFor: string) =>
      s.request('POST', '/v1/auth/login', { body: { email: `nobody-${++attempts}@example.com`, password: 'not-the-password' }, headers: { 'x-forwarded-for': forwardedFor } });
    // One IPv6 client owns 2001:db8:0:1::/64: a new address in it is no new bucket.
    expect((await loginFrom('2001:db8:0:1::1')).status).toBe(401);
    expect((await loginFrom('2001:db8:0:1::2')).status).toBe(401);
    const refused = await loginFrom('2001:db8:0:1:ffff::3');
    expectRateLimited(refused);
    expect(refused.body.error.details.limit).toBe('login-per-ip');
    expect((await loginFrom('2001:db8:0:2::1')).status).toBe(401); // the next /64 is someone else
    // An IPv4 client mapped into IPv6 is the same client.
    expect((await loginFrom('203.0.113.7')).status).toBe(401);
    expect((await loginFrom('::ffff:203.0.113.7')).status).toBe(401);
    expectRateLimited(await loginFrom('::ffff:cb00:7107'));
    // A proxy that appends the client's port (as Azure's do) names the same client on each connection.
    expect((await loginFrom('192.0.2.44:50001')).status).toBe(401);
    expect((await loginFrom('192.0.2.44:50002')).status).toBe(401);
    expectRateLimited(await loginFrom('[::ffff:192.0.2.44]:50003'));
    // Without trusted proxies, X-Forwarded-For is the client's own claim and is ignored.
    await s.restartGateway({ ...LIMITS, RATE_LIMIT_LOGIN_PER_IP_BURST: '2', RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE: '1' });
    expect((await loginFrom('198.51.100.1')).status).toBe(401);
    expect((await loginFrom('198.51.100.2')).status).toBe(401);
    expectRateLimited(await loginFrom('198.51.100.3'));
  });

  it("keys an anonymous client's Idempotency-Keys by the same client network: a retry from another address of its /64 replays", async () => {
    await s.restartGateway({ ...LIMITS, TRUST_PROXY_HOPS: '1' });
    const body = { email: `rotating-${process.pid}@example.com`, password: 'correct-horse-battery' };
    const key = newKey('register');
    const register = (forwardedFor: string) => s.request('POST', '/v1/users', { body, key, headers: { 'x-forwarded-for': forwardedFor } });
    const first = await register('2001:db8:0:7::1');
    expect(first.status).toBe(201);
    // Its temporary address rotated (RFC 8981) before the retry.
    const retried = await register('2001:db8:0:7:a::2');
    expect([retried.status, retried.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
    expect(retried.body).toEqual(first.body);
  });

  it('refuses a body over BODY_LIMIT_BYTES with 413, and takes one under it', async () => {
    await s.restartGateway({ ...LIMITS, BODY_LIMIT_BYTES: '1024' });
    const user = await s.register('body-limit');
    const walletId = await s.openWallet(user, 'USD');
    const send = (reference: string) => s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: user.token, key: newKey('body'), body: { amount: '1', reference } });
    expect((await send('r'.repeat(200))).status).toBe(201);
    const refused = await send('r'.repeat(1_100));
    expect(refused.status).toBe(413);
    expect(refused.body.error).toMatchObject({ code: 'validation_failed', details: { fields: [{ field: 'body', reason: 'too_large' }] } });
  });

  it('answers /readyz 503 naming the failing check', async () => {
    const gateway = await startGateway({
      config: loadGatewayConfig({
        PORT: '0',
        GRPC_PORT: '0',
        LOG_LEVEL: 'silent',
        READINESS_TIMEOUT_MS: '100',
        GATEWAY_KEY_SOURCE: 'config', // no DATA_DIR here
        GATEWAY_FINGERPRINT_KEY_BASE64: Buffer.alloc(32, 3).toString('base64'),
      }),
      store: s.store,
      bus: s.bus,
      clock: s.clock,
      readinessChecks: [
        { name: 'event-store', ready: async () => true },
        { name: 'projection', ready: async () => false },
        { name: 'hangs', ready: () => new Promise<boolean>(() => undefined) },
      ],
    });
    try {
      const answer = await fetch(`${gateway.url}/readyz`);
      expect(answer.status).toBe(503);
      expect(await answer.json()).toEqual({ status: 'not_ready', checks: { 'event-store': 'ok', projection: 'failing', hangs: 'failing' } });
    } finally {
      await gateway.close();
    }
  });

  it('holds at most HTTP_MAX_CONNECTIONS connections: one more is closed at accept, and a freed place serves again', async () => {
    await s.restartGateway({ ...LIMITS, HTTP_MAX_CONNECTIONS: '2' });
    const { port } = new URL(s.url());
    const held = await Promise.all([openSocket(Number(port)), openSocket(Number(port))]);
    try {
      // The server accepts the third and closes it at once: the request gets no answer.
      const third = await openSocket(Number(port));
      third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await closedWithoutAnswer(third)).toBe(true);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await waitFor('a freed place to serve', async () => expect((await s.request('GET', '/healthz')).status).toBe(200));
  });

  it('answers 503 unavailable with Retry-After when a service does not answer in time', async () => {
    const user = await s.register('before-the-outage');
    await s.restartGateway({ ...LIMITS, BUS_REQUEST_TIMEOUT_MS: '300' });
    await s.identity.close(); // identity goes away: no public keys, no logins
    const me = await s.request('GET', '/v1/me', { token: user.token });
    expect(me.status).toBe(503);
    expect(me.body.error).toMatchObject({ code: 'unavailable' });
    expect(me.headers.get('retry-after')).toBe('1');
    const login = await s.request('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
    expect(login.status).toBe(503);
    expect(s.logLines.some((line) => line.includes('"level":50'))).toBe(false); // expected, not a bug
  });
});
