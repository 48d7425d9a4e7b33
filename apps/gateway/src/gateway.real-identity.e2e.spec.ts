// The gateway in front of the real identity service (apps/identity, cheap argon2) and the real
// wallet-ledger: API.md's Identity routes end to end, tokens verified with identity's own keys,
// the bootstrapped admin, and a wallet round trip as a user it registered.
import { totpCodeAt } from '../../identity/src/application/totp-codes';
import { ADMIN, newKey, startGatewaySystem, type GatewaySystem, type HttpAnswer } from './testing/gateway.harness';

function expectError(answer: HttpAnswer, status: number, code: string): void {
  expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({ status, code });
  expect(answer.body.error).toEqual({ code, message: expect.any(String), details: expect.any(Object) });
}

describe('gateway with the real identity service (e2e)', () => {
  let s: GatewaySystem;

  beforeAll(async () => {
    s = await startGatewaySystem({ identity: 'real' });
  });

  afterAll(async () => {
    await s?.close();
  });

  const post = (path: string, body: unknown, token?: string, key?: string) => s.request('POST', path, { body, token, key });

  it('registers (201), refuses a taken email in any case (409) and a common password (400)', async () => {
    const email = `Rita-${Date.now()}@example.com`;
    const created = await post('/v1/users', { email, password: 'a rather long passphrase', displayName: 'Rita' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), email, displayName: 'Rita', createdAt: expect.any(String) });
    expectError(await post('/v1/users', { email: email.toLowerCase(), password: 'another long passphrase' }), 409, 'email_taken');
    const common = await post('/v1/users', { email: `common-${Date.now()}@example.com`, password: 'Password123' });
    expectError(common, 400, 'validation_failed');
    expect(common.body.error.details.fields).toEqual([expect.objectContaining({ field: 'password', reason: 'too_common' })]);
  });

  // Odd inputs of the Identity routes are 400 validation_failed naming the field, never a 5xx.
  it.each([
    ['/v1/users', { email: '"quoted"@example.com', password: 'a rather long passphrase' }, 'email'],
    ['/v1/users', { email: 'ip@[127.0.0.1]', password: 'a rather long passphrase' }, 'email'],
    ['/v1/users', { email: 'ip@127.0.0.1', password: 'a rather long passphrase' }, 'email'],
    ['/v1/users', { email: 'élise@example.com', password: 'a rather long passphrase' }, 'email'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'a rather long passphrase', displayName: '' }, 'displayName'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'a rather long passphrase', displayName: 'x'.repeat(101) }, 'displayName'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'a rather long passphrase', displayName: 'bell\u0007' }, 'displayName'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'a rather long passphrase', displayName: null }, 'displayName'],
    ['/v1/users', { email: 'kelvin@example.com', password: '🔒'.repeat(129) }, 'password'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'short' }, 'password'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'a rather long \ud800 passphrase' }, 'password'],
    ['/v1/users', { email: 'kelvin@example.com', password: 'a rather long passphrase', displayName: 'Ada \udc00' }, 'displayName'],
    ['/v1/auth/login', { email: 'kelvin@example.com', password: 'a rather long passphrase', totp: '12345' }, 'totp'],
    ['/v1/auth/login', { email: 'kelvin@example.com', password: 'a rather long passphrase', totp: '１２３４５６' }, 'totp'],
    ['/v1/auth/login', { email: 'kelvin@example.com', password: '' }, 'password'],
    ['/v1/auth/refresh', { refreshToken: '' }, 'refreshToken'],
  ])('answers %s %j with 400 naming %s', async (path, body, field) => {
    const answer = await post(path, body);
    expectError(answer, 400, 'validation_failed');
    expect(answer.body.error.details.fields).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });

  it('answers odd logins and refresh tokens 4xx, never a 5xx', async () => {
    const user = await s.register('real-odd');
    for (const body of [
      { email: `${user.email}\u0000`, password: user.password },
      { email: user.email, password: 'x'.repeat(128), totp: '1234567' },
      { email: ' '.repeat(254), password: user.password },
    ]) {
      expectError(await post('/v1/auth/login', body), 401, 'invalid_credentials');
    }
    expectError(await post('/v1/auth/refresh', { refreshToken: 'x'.repeat(86) }), 401, 'unauthenticated');
    expectError(await post('/v1/auth/logout', { refreshToken: 'A'.repeat(86) }), 401, 'unauthenticated');
  });

  it('logs in, reads /v1/me with the access token, refreshes once, and logs out', async () => {
    const user = await s.register('real');
    expect(user.tokens).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    const me = await s.request('GET', '/v1/me', { token: user.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: user.id, email: user.email, displayName: null, roles: ['user'], mfaEnabled: false });

    const refreshed = await post('/v1/auth/refresh', { refreshToken: user.tokens.refreshToken });
    expect(refreshed.status).toBe(200);
    expect((await s.request('GET', '/v1/me', { token: refreshed.body.accessToken })).status).toBe(200);
    expectError(await post('/v1/auth/refresh', { refreshToken: user.tokens.refreshToken }), 401, 'unauthenticated'); // reuse revokes the login
    expectError(await post('/v1/auth/refresh', { refreshToken: refreshed.body.refreshToken }), 401, 'unauthenticated');
    // API.md: every token of that login, its access tokens too (once SESSION_CHECK_CACHE_MS has passed).
    s.clock.advance(5_000);
    expectError(await s.request('GET', '/v1/me', { token: refreshed.body.accessToken }), 401, 'unauthenticated');
    expectError(await s.request('GET', '/v1/me', { token: user.token }), 401, 'unauthenticated');

    const again = await post('/v1/auth/login', { email: user.email, password: user.password });
    expect((await s.request('GET', '/v1/me', { token: again.body.accessToken })).status).toBe(200); // a new login lives
    expect((await post('/v1/auth/logout', { refreshToken: again.body.refreshToken })).status).toBe(204);
    expectError(await post('/v1/auth/refresh', { refreshToken: again.body.refreshToken }), 401, 'unauthenticated');
    s.clock.advance(5_000);
    expectError(await s.request('GET', '/v1/me', { token: again.body.accessToken }), 401, 'unauthenticated'); // logout ends it too
  });

  it('answers 401 invalid_credentials, then 423 account_locked after five failures', async () => {
    const user = await s.register('real-lock');
    for (let i = 0; i < 4; i++) expectError(await post('/v1/auth/login', { email: user.email, password: 'not the password' }), 401, 'invalid_credentials');
    expectError(await post('/v1/auth/login', { email: user.email, password: 'not the password' }), 423, 'account_locked');
    expectError(await post('/v1/auth/login', { email: user.email, password: user.password }), 423, 'account_locked');
  });

  it('enrols TOTP (the same Idempotency-Key gets the same secret), confirms it, and then login needs the code', async () => {
    const user = await s.register('real-totp');
    const key = newKey('totp');
    const started = await post('/v1/me/mfa/totp', undefined, user.token, key);
    expect(started.status).toBe(200);
    expect(started.body).toEqual({ secret: expect.any(String), otpauthUrl: expect.stringMatching(/^otpauth:\/\/totp\//) });
    expect((await post('/v1/me/mfa/totp', undefined, user.token, key)).body).toEqual(started.body);
    const code = totpCodeAt(started.body.secret, s.clock.nowMs());
    expect((await post('/v1/me/mfa/totp/confirm', { code }, user.token)).status).toBe(204);
    expect((await s.request('GET', '/v1/me', { token: user.token })).body.mfaEnabled).toBe(true);
    expectError(await post('/v1/auth/login', { email: user.email, password: user.password }), 401, 'invalid_credentials');
    s.clock.advance(30_000); // a fresh time step: a code is good once
    const loginKey = newKey('login');
    const login = await post('/v1/auth/login', { email: user.email, password: user.password, totp: totpCodeAt(started.body.secret, s.clock.nowMs()) }, undefined, loginKey);
    expect(login.status).toBe(200);
    // Logins are not recorded, but that key must not stand in for the code: without it, it is another request (API.md's reuse).
    expectError(await post('/v1/auth/login', { email: user.email, password: user.password }, undefined, loginKey), 422, 'idempotency_key_reuse');
  });

  it('answers a login retried with its Idempotency-Key but another body 422 idempotency_key_reuse, not the first try\'s 401', async () => {
    const user = await s.register('real-login-key');
    const key = newKey('login-typo');
    expectError(await post('/v1/auth/login', { email: user.email, password: 'a mistyped password' }, undefined, key), 401, 'invalid_credentials');
    // The right password under the same key: identity answers an attempt key's retry as it first was, so it was 401 too.
    expectError(await post('/v1/auth/login', { email: user.email, password: user.password }, undefined, key), 422, 'idempotency_key_reuse');
    // The same body again still reaches identity (nothing is recorded), answered as the first try was.
    expectError(await post('/v1/auth/login', { email: user.email, password: 'a mistyped password' }, undefined, key), 401, 'invalid_credentials');
    expect((await post('/v1/auth/login', { email: user.email, password: user.password }, undefined, newKey('login-typo'))).status).toBe(200);
  });

  it('expires access tokens by identity’s TTL: 401 token_expired', async () => {
    const user = await s.register('real-expiry');
    s.clock.advance(901_000 + 5_000);
    expectError(await s.request('GET', '/v1/me', { token: user.token }), 401, 'token_expired');
  });

  it('lets the bootstrapped admin (ADMIN_EMAIL) read ledger accounts, and nobody else', async () => {
    const admin = await s.admin();
    expect(admin.email).toBe(ADMIN.email);
    expect((await s.request('GET', '/v1/me', { token: admin.token })).body.roles).toEqual(expect.arrayContaining(['admin']));
    const user = await s.register('real-wallets');
    const walletId = await s.openWallet(user, 'USD', '900');
    const sums = await s.request('GET', `/v1/admin/ledger/accounts/${walletId}`, { token: admin.token });
    expect(sums.body).toMatchObject({ accountId: walletId, creditsPosted: '900' });
    expectError(await s.request('GET', `/v1/admin/ledger/accounts/${walletId}`, { token: user.token }), 403, 'forbidden');
  });

  it('moves money for a user identity registered, with replays', async () => {
    const alice = await s.register('real-alice');
    const bob = await s.register('real-bob');
    const from = await s.openWallet(alice, 'EUR', '1000');
    const to = await s.openWallet(bob, 'EUR');
    const key = newKey('real-transfer');
    const body = { fromWalletId: from, toWalletId: to, amount: '250' };
    const first = await post('/v1/transfers', body, alice.token, key);
    expect(first.status).toBe(201);
    const again = await post('/v1/transfers', body, alice.token, key);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expectError(await post('/v1/transfers', { ...body, fromWalletId: to, toWalletId: from }, alice.token, newKey('x')), 403, 'forbidden');
    expect((await s.request('GET', `/v1/wallets/${from}`, { token: alice.token })).body.balance.posted).toBe('750');
  });

  // Last: it restarts the gateway behind a trusted proxy.
  it('replays a refresh retried with its key from another network, and the login stays alive', async () => {
    await s.restartGateway({ TRUST_PROXY_HOPS: '1' });
    const user = await s.register('real-roaming');
    const key = newKey('refresh');
    const refreshFrom = (network: string) =>
      s.request('POST', '/v1/auth/refresh', { body: { refreshToken: user.tokens.refreshToken }, key, headers: { 'x-forwarded-for': network } });
    expect((await refreshFrom('198.51.100.7')).status).toBe(200); // its answer is lost on wifi
    const retried = await refreshFrom('203.0.113.9'); // the same retry over mobile data
    expect(retried.status).toBe(200);
    expect((await post('/v1/auth/refresh', { refreshToken: retried.body.refreshToken })).status).toBe(200);
  });
});
