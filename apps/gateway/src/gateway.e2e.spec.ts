// The gateway over HTTP in front of the real wallet-ledger and an identity on the bus: every
// Identity, Wallets and Operations route of API.md with its status codes, ownership, admin
// access, freeze semantics, and Idempotency-Key replays.
import { isUuidV7 } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard } from '@ledger/ledger';
import { FAKE_TOTP_CODE } from './testing/fake-identity';
import { documentedErrors, newKey, newWalletView, SHARDS, startGatewaySystem, type GatewaySystem, type HttpAnswer, type TestUser } from './testing/gateway.harness';

function expectError(answer: HttpAnswer, status: number, code: string): void {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: { error: { code, message: expect.any(String), details: expect.any(Object) } },
  });
}

describe('gateway (e2e)', () => {
  let s: GatewaySystem;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    s = await startGatewaySystem();
    alice = await s.register('alice');
    bob = await s.register('bob');
  });

  afterAll(async () => {
    await s?.close();
  });

  const post = (path: string, user: TestUser | undefined, body?: unknown, key?: string) => s.request('POST', path, { token: user?.token, body, key });
  const get = (path: string, user?: TestUser) => s.request('GET', path, { token: user?.token });
  const topUp = (user: TestUser, walletId: string, amount: string, key = newKey('top-up')) => post(`/v1/wallets/${walletId}/top-ups`, user, { amount }, key);
  const withdraw = (user: TestUser, walletId: string, amount: string, key = newKey('withdrawal')) =>
    post(`/v1/wallets/${walletId}/withdrawals`, user, { amount }, key);
  const transfer = (user: TestUser, body: Record<string, unknown>, key = newKey('transfer')) => post('/v1/transfers', user, body, key);
  const balanceOf = async (user: TestUser, walletId: string) => (await get(`/v1/wallets/${walletId}`, user)).body.balance;

  /** Opens wallets for `user` until one lands on `shard` (the gateway mints the ids). */
  async function walletOnShard(user: TestUser, shard: number, currency = 'USD'): Promise<string> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const walletId = await s.openWallet(user, currency);
      if (accountShard(walletId, SHARDS) === shard) return walletId;
    }
    throw new Error(`no wallet on shard ${shard}`);
  }

  describe('identity', () => {
    it('registers a user: 201 {id, email, displayName, createdAt}; the same email in any case is 409 email_taken', async () => {
      const email = `carol-${Date.now()}@example.com`;
      const created = await post('/v1/users', undefined, { email, password: 'a-long-password', displayName: 'Carol' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), email, displayName: 'Carol', createdAt: expect.any(String) });
      expectError(await post('/v1/users', undefined, { email: email.toUpperCase(), password: 'a-long-password' }), 409, 'email_taken');
    });

    it('refuses a password outside 10 to 128 characters', async () => {
      expectError(await post('/v1/users', undefined, { email: 'short@example.com', password: 'short' }), 400, 'validation_failed');
      expectError(await post('/v1/users', undefined, { email: 'long@example.com', password: 'x'.repeat(129) }), 400, 'validation_failed');
    });

    it('logs in: 200 {accessToken, refreshToken, tokenType: Bearer, expiresIn}; a wrong password is 401 invalid_credentials', async () => {
      const answer = await post('/v1/auth/login', undefined, { email: alice.email, password: alice.password });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: expect.any(Number) });
      expectError(await post('/v1/auth/login', undefined, { email: alice.email, password: 'not-the-password' }), 401, 'invalid_credentials');
    });

    it('locks a user after five failures in a row: 423 account_locked', async () => {
      const dave = await s.register('dave');
      for (let i = 0; i < 5; i++) await post('/v1/auth/login', undefined, { email: dave.email, password: 'wrong-password' });
      expectError(await post('/v1/auth/login', undefined, { email: dave.email, password: dave.password }), 423, 'account_locked');
    });

    it('refreshes once: 200 a new pair; reusing a refresh token is 401 and revokes the login', async () => {
      const erin = await s.register('erin');
      const refreshed = await post('/v1/auth/refresh', undefined, { refreshToken: erin.tokens.refreshToken });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.refreshToken).not.toBe(erin.tokens.refreshToken);
      expectError(await post('/v1/auth/refresh', undefined, { refreshToken: erin.tokens.refreshToken }), 401, 'unauthenticated');
      expectError(await post('/v1/auth/refresh', undefined, { refreshToken: refreshed.body.refreshToken }), 401, 'unauthenticated');
    });

    it('logs out: 204, and the refresh token is dead', async () => {
      const frank = await s.register('frank');
      const out = await post('/v1/auth/logout', undefined, { refreshToken: frank.tokens.refreshToken });
      expect(out.status).toBe(204);
      expect(out.text).toBe('');
      expectError(await post('/v1/auth/refresh', undefined, { refreshToken: frank.tokens.refreshToken }), 401, 'unauthenticated');
    });

    it('GET /v1/me: {id, email, displayName, roles, mfaEnabled}; 401 unauthenticated without a valid token', async () => {
      const me = await get('/v1/me', alice);
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ id: alice.id, email: alice.email, displayName: null, roles: ['user'], mfaEnabled: false });
      expectError(await get('/v1/me'), 401, 'unauthenticated');
      expect((await get('/v1/me')).headers.get('www-authenticate')).toBe('Bearer');
      expectError(await s.request('GET', '/v1/me', { token: 'not.a.jwt' }), 401, 'unauthenticated');
      expectError(await s.request('GET', '/v1/me', { headers: { authorization: `Basic ${alice.token}` } }), 401, 'unauthenticated');
    });

    it('answers 401 token_expired once the access token is past its exp', async () => {
      const gina = await s.register('gina');
      s.clock.advance((gina.tokens.expiresIn + 10) * 1000);
      expectError(await get('/v1/me', gina), 401, 'token_expired');
      alice = await s.login(alice); // fresh tokens for the tests that follow
      bob = await s.login(bob);
    });

    it('refuses a token signed with a key identity does not have', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const forged = s.fake!.signAccessToken(
        { iss: 'ledger-identity', aud: 'ledger-gateway', sub: alice.id, roles: ['admin'], exp: Math.floor(s.clock.nowMs() / 1000) + 60 },
        { key: generateKeyPairSync('ed25519').privateKey },
      );
      expectError(await s.request('GET', '/v1/me', { token: forged }), 401, 'unauthenticated');
    });

    it('enrols TOTP: 200 {secret, otpauthUrl}, then confirm 204 (a wrong code is 400)', async () => {
      const hank = await s.register('hank');
      const started = await post('/v1/me/mfa/totp', hank);
      expect(started.status).toBe(200);
      expect(started.body).toEqual({ secret: expect.any(String), otpauthUrl: expect.stringMatching(/^otpauth:\/\/totp\//) });
      expectError(await post('/v1/me/mfa/totp/confirm', hank, { code: '000000' }), 400, 'validation_failed');
      const confirmed = await post('/v1/me/mfa/totp/confirm', hank, { code: FAKE_TOTP_CODE });
      expect(confirmed.status).toBe(204);
      expect((await get('/v1/me', hank)).body.mfaEnabled).toBe(true);
    });

    it('never writes passwords or tokens to its logs', async () => {
      const ivan = await s.register('ivan');
      await get('/v1/me', ivan);
      const logs = s.logLines.join('');
      expect(logs).toContain('"route":"/v1/auth/login"');
      for (const secret of [ivan.password, ivan.token, ivan.tokens.refreshToken]) expect(logs).not.toContain(secret);
    });
  });

  describe('wallets', () => {
    it('POST /v1/wallets: 201 a wallet with a UUIDv7 id the gateway minted, owned by the caller', async () => {
      const opened = await post('/v1/wallets', alice, { currency: 'EUR' });
      expect(opened.status).toBe(201);
      expect(opened.body).toEqual(newWalletView(alice.id, 'EUR'));
      expect(isUuidV7(opened.body.id)).toBe(true);
      expectError(await post('/v1/wallets', alice, { currency: 'XYZ' }), 400, 'validation_failed');
      expectError(await post('/v1/wallets', undefined, { currency: 'USD' }), 401, 'unauthenticated');
    });

    it('GET /v1/wallets lists the caller’s own wallets only', async () => {
      const mine = await s.openWallet(alice, 'GBP');
      const theirs = await s.openWallet(bob, 'GBP');
      const listed = await get('/v1/wallets', alice);
      expect(listed.status).toBe(200);
      const ids = (listed.body.items as { id: string; ownerId: string }[]).map((wallet) => wallet.id);
      expect(ids).toContain(mine);
      expect(ids).not.toContain(theirs);
      expect((listed.body.items as { ownerId: string }[]).every((wallet) => wallet.ownerId === alice.id)).toBe(true);
    });

    it('GET /v1/wallets/{id}: the owner and an admin read it, anyone else is 403 forbidden, an unknown id 404 not_found', async () => {
      const walletId = await s.openWallet(alice, 'USD', '500');
      const read = await get(`/v1/wallets/${walletId}`, alice);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: walletId, ownerId: alice.id, balance: { posted: '500', pending: '0', available: '500' } });
      expect((await get(`/v1/wallets/${walletId}`, await s.admin())).status).toBe(200);
      expectError(await get(`/v1/wallets/${walletId}`, bob), 403, 'forbidden');
      expectError(await get('/v1/wallets/0190d2c4-0000-7000-8000-000000000000', alice), 404, 'not_found');
      expectError(await get('/v1/wallets/sys:funding:USD:0', await s.admin()), 404, 'not_found');
    });

    it('GET /v1/wallets/{id}/balance?at= answers the balance as of that time', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      s.clock.advance(1_000);
      await topUp(alice, walletId, '100');
      const afterFirst = new Date(s.clock.nowMs()).toISOString();
      s.clock.advance(1_000);
      await topUp(alice, walletId, '50');

      const before = await get(`/v1/wallets/${walletId}/balance?at=${encodeURIComponent(new Date(s.clock.nowMs() - 5_000).toISOString())}`, alice);
      expect(before.status).toBe(200);
      expect(before.body).toMatchObject({ posted: '0', pending: '0', available: '0' });
      const then = await get(`/v1/wallets/${walletId}/balance?at=${encodeURIComponent(afterFirst)}`, alice);
      expect(then.body).toEqual({ posted: '100', pending: '0', available: '100', asOf: afterFirst });
      const now = await get(`/v1/wallets/${walletId}/balance`, alice);
      expect(now.body).toMatchObject({ posted: '150', pending: '0', available: '150', asOf: expect.any(String) });
      expectError(await get(`/v1/wallets/${walletId}/balance?at=${encodeURIComponent(afterFirst)}`, bob), 403, 'forbidden');
    });

    it('GET /v1/wallets/{id}/transactions pages newest first with limit and cursor', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      for (const amount of ['1', '2', '3', '4', '5']) await topUp(alice, walletId, amount);
      const first = await get(`/v1/wallets/${walletId}/transactions?limit=2`, alice);
      expect(first.status).toBe(200);
      expect(first.body.items.map((line: { amount: string }) => line.amount)).toEqual(['5', '4']);
      expect(first.body.items[0]).toEqual({
        transactionId: expect.any(String),
        kind: 'top_up',
        amount: '5',
        direction: 'credit',
        status: 'posted',
        balanceAfter: '15',
        createdAt: expect.any(String),
      });
      const second = await get(`/v1/wallets/${walletId}/transactions?limit=2&cursor=${first.body.nextCursor}`, alice);
      expect(second.body.items.map((line: { amount: string }) => line.amount)).toEqual(['3', '2']);
      const last = await get(`/v1/wallets/${walletId}/transactions?limit=2&cursor=${second.body.nextCursor}`, alice);
      expect(last.body).toEqual({ items: [expect.objectContaining({ amount: '1' })], nextCursor: null });
      const all = await get(`/v1/wallets/${walletId}/transactions`, alice);
      expect(all.body.items).toHaveLength(5);
      expectError(await get(`/v1/wallets/${walletId}/transactions`, bob), 403, 'forbidden');
    });
  });

  describe('moving money', () => {
    it('a top-up is 201 a transaction; above the configured cap it is 422 limit_exceeded', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const answer = await topUp(alice, walletId, '1050');
      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({
        id: expect.any(String),
        kind: 'top_up',
        status: 'posted',
        amount: '1050',
        currency: 'USD',
        toWalletId: walletId,
        createdAt: expect.any(String),
      });
      expectError(await topUp(alice, walletId, '100000001'), 422, 'limit_exceeded');
      expect(await balanceOf(alice, walletId)).toEqual({ posted: '1050', pending: '0', available: '1050' });
    });

    it('a withdrawal is 201 a transaction; more than the balance is 422 insufficient_funds', async () => {
      const walletId = await s.openWallet(alice, 'USD', '300');
      const answer = await withdraw(alice, walletId, '120');
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ kind: 'withdrawal', status: 'posted', amount: '120', currency: 'USD', fromWalletId: walletId });
      expectError(await withdraw(alice, walletId, '181'), 422, 'insufficient_funds');
      expect(await balanceOf(alice, walletId)).toEqual({ posted: '180', pending: '0', available: '180' });
    });

    it('only the owner moves money out of a wallet: top-ups and withdrawals by anyone else (even an admin) are 403', async () => {
      const walletId = await s.openWallet(alice, 'USD', '100');
      expectError(await topUp(bob, walletId, '1'), 403, 'forbidden');
      expectError(await withdraw(bob, walletId, '1'), 403, 'forbidden');
      expectError(await withdraw(await s.admin(), walletId, '1'), 403, 'forbidden');
      expectError(await withdraw(alice, '0190d2c4-0000-7000-8000-000000000000', '1'), 404, 'not_found');
    });

    it('transfers within a shard and across shards: 201, and both balances move', async () => {
      for (const [fromShard, toShard] of [
        [0, 0],
        [1, 2],
      ]) {
        const from = await walletOnShard(alice, fromShard);
        const to = await walletOnShard(bob, toShard);
        await topUp(alice, from, '1000');
        const answer = await transfer(alice, { fromWalletId: from, toWalletId: to, amount: '400', memo: 'rent' });
        expect(answer.status).toBe(201);
        expect(answer.body).toEqual({
          id: expect.any(String),
          kind: 'transfer',
          status: 'posted',
          amount: '400',
          currency: 'USD',
          fromWalletId: from,
          toWalletId: to,
          createdAt: expect.any(String),
        });
        expect((await balanceOf(alice, from)).posted).toBe('600');
        // Across shards the credit lands when the saga's second leg is written.
        await waitFor('the credit on the destination', async () => expect((await balanceOf(bob, to)).posted).toBe('400'));
      }
    });

    it('refuses transfers: not the caller’s source 403, unknown wallets 404, different currencies 422 currency_mismatch, too much 422, to a closed wallet 409', async () => {
      const usd = await s.openWallet(alice, 'USD', '100');
      const bobsUsd = await s.openWallet(bob, 'USD');
      const eur = await s.openWallet(bob, 'EUR');
      expectError(await transfer(bob, { fromWalletId: usd, toWalletId: bobsUsd, amount: '1' }), 403, 'forbidden');
      expectError(await transfer(alice, { fromWalletId: usd, toWalletId: '0190d2c4-0000-7000-8000-000000000000', amount: '1' }), 404, 'not_found');
      expectError(await transfer(alice, { fromWalletId: '0190d2c4-0000-7000-8000-000000000000', toWalletId: usd, amount: '1' }), 404, 'not_found');
      const mismatch = await transfer(alice, { fromWalletId: usd, toWalletId: eur, amount: '1' });
      expectError(mismatch, 422, 'currency_mismatch');
      expect(mismatch.body.error.details).toEqual({ fromCurrency: 'USD', toCurrency: 'EUR' });
      expectError(await transfer(alice, { fromWalletId: usd, toWalletId: bobsUsd, amount: '101' }), 422, 'insufficient_funds');
      const closed = await s.openWallet(bob, 'USD');
      expect(await s.ledgerCommand({ type: 'CloseWallet', walletId: closed })).toMatchObject({ ok: true });
      expectError(await transfer(alice, { fromWalletId: usd, toWalletId: closed, amount: '1' }), 409, 'wallet_not_active');
      expect(await balanceOf(alice, usd)).toEqual({ posted: '100', pending: '0', available: '100' });
    });

    it('measures a reference and a memo as the ledger does (UTF-16 units): too long is 400 naming the request field, never a ledger-internal one', async () => {
      const walletId = await s.openWallet(alice, 'USD', '100');
      const other = await s.openWallet(bob, 'USD');
      const emoji = (count: number) => '\u{1F600}'.repeat(count);
      const tooLong = { error: { code: 'validation_failed', message: expect.any(String), details: { fields: [expect.objectContaining({ field: 'reference', reason: 'invalid_length' })] } } };
      expect((await topUp(alice, walletId, '1', undefined)).status).toBe(201);
      const refused = await post(`/v1/wallets/${walletId}/top-ups`, alice, { amount: '1', reference: emoji(129) }, newKey('top-up'));
      expect({ status: refused.status, body: refused.body }).toEqual({ status: 400, body: tooLong });
      const withdrawal = await post(`/v1/wallets/${walletId}/withdrawals`, alice, { amount: '1', reference: emoji(200) }, newKey('withdrawal'));
      expect({ status: withdrawal.status, body: withdrawal.body }).toEqual({ status: 400, body: tooLong });
      const memo = await transfer(alice, { fromWalletId: walletId, toWalletId: other, amount: '1', memo: emoji(129) });
      expect({ status: memo.status, field: memo.body.error.details.fields[0].field }).toEqual({ status: 400, field: 'memo' });
      // 128 emoji are 256 units: the longest the ledger keeps.
      expect((await post(`/v1/wallets/${walletId}/top-ups`, alice, { amount: '1', reference: emoji(128) }, newKey('top-up'))).status).toBe(201);
      expect((await transfer(alice, { fromWalletId: walletId, toWalletId: other, amount: '1', memo: emoji(128) })).status).toBe(201);
    });

    it('needs an Idempotency-Key: 400 idempotency_key_required for top-ups, withdrawals and transfers', async () => {
      const walletId = await s.openWallet(alice, 'USD', '100');
      const other = await s.openWallet(bob, 'USD');
      expectError(await s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: alice.token, body: { amount: '1' } }), 400, 'idempotency_key_required');
      expectError(await s.request('POST', `/v1/wallets/${walletId}/withdrawals`, { token: alice.token, body: { amount: '1' } }), 400, 'idempotency_key_required');
      expectError(
        await s.request('POST', '/v1/transfers', { token: alice.token, body: { fromWalletId: walletId, toWalletId: other, amount: '1' } }),
        400,
        'idempotency_key_required',
      );
      expect(await balanceOf(alice, walletId)).toEqual({ posted: '100', pending: '0', available: '100' });
    });
  });

  describe('freezing', () => {
    it('freeze and unfreeze answer 200 the wallet; a frozen wallet receives but does not send (409 wallet_not_active)', async () => {
      const frozen = await s.openWallet(alice, 'USD', '500');
      const other = await s.openWallet(bob, 'USD', '500');
      const answer = await post(`/v1/wallets/${frozen}/freeze`, alice);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ id: frozen, status: 'frozen', balance: { posted: '500' } });

      expectError(await withdraw(alice, frozen, '1'), 409, 'wallet_not_active');
      expectError(await transfer(alice, { fromWalletId: frozen, toWalletId: other, amount: '1' }), 409, 'wallet_not_active');
      expect((await transfer(bob, { fromWalletId: other, toWalletId: frozen, amount: '25' })).status).toBe(201);
      expect((await topUp(alice, frozen, '5')).status).toBe(201);
      await waitFor('the transfer into the frozen wallet', async () => expect((await balanceOf(alice, frozen)).posted).toBe('530'));

      // Freezing a frozen wallet is a no-op, not an error.
      expect((await post(`/v1/wallets/${frozen}/freeze`, alice)).body.status).toBe('frozen');
      const unfrozen = await post(`/v1/wallets/${frozen}/unfreeze`, alice);
      expect(unfrozen.status).toBe(200);
      expect(unfrozen.body.status).toBe('active');
      expect((await post(`/v1/wallets/${frozen}/unfreeze`, alice)).body.status).toBe('active');
      expect((await withdraw(alice, frozen, '1')).status).toBe(201);
    });

    it('an admin may freeze anyone’s wallet; another user may not (403)', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      expectError(await post(`/v1/wallets/${walletId}/freeze`, bob), 403, 'forbidden');
      const byAdmin = await post(`/v1/wallets/${walletId}/freeze`, await s.admin());
      expect(byAdmin.status).toBe(200);
      expect(byAdmin.body.status).toBe('frozen');
      expect((await post(`/v1/wallets/${walletId}/unfreeze`, await s.admin())).body.status).toBe('active');
      expectError(await post('/v1/wallets/0190d2c4-0000-7000-8000-000000000000/freeze', alice), 404, 'not_found');
    });
  });

  describe('admin', () => {
    it('GET /v1/admin/ledger/accounts/{accountId}: the four sums of any account, for admins only', async () => {
      const walletId = await s.openWallet(alice, 'USD', '700');
      const admin = await s.admin();
      const sums = await get(`/v1/admin/ledger/accounts/${walletId}`, admin);
      expect(sums.status).toBe(200);
      expect(sums.body).toEqual({ accountId: walletId, currency: 'USD', debitsPosted: '0', creditsPosted: '700', debitsPending: '0', creditsPending: '0' });
      const funding = await get(`/v1/admin/ledger/accounts/sys:funding:USD:${accountShard(walletId, SHARDS)}`, admin);
      expect(funding.status).toBe(200);
      expect(BigInt(funding.body.debitsPosted)).toBeGreaterThanOrEqual(700n);
      expectError(await get(`/v1/admin/ledger/accounts/${walletId}`, alice), 403, 'forbidden');
      expectError(await get('/v1/admin/ledger/accounts/sys:nothing:USD:0', admin), 404, 'not_found');
      expectError(await get(`/v1/admin/ledger/accounts/${walletId}`), 401, 'unauthenticated');
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the first response (same status and body) with Idempotent-Replayed: true, and moves money once', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('replay');
      const first = await topUp(alice, walletId, '250', key);
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const again = await topUp(alice, walletId, '250', key);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await balanceOf(alice, walletId)).posted).toBe('250');
    });

    it('the same key with another body is 422 idempotency_key_reuse', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('reuse');
      expect((await topUp(alice, walletId, '10', key)).status).toBe(201);
      expectError(await topUp(alice, walletId, '11', key), 422, 'idempotency_key_reuse');
      expectError(await withdraw(alice, walletId, '10', key), 422, 'idempotency_key_reuse'); // another path is another request
      expect((await balanceOf(alice, walletId)).posted).toBe('10');
    });

    it('replays the same request however its URL is spelled (path case, a trailing slash, %-escapes), as the route it reaches is the same', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('spelling');
      const first = await topUp(alice, walletId, '30', key);
      expect(first.status).toBe(201);
      for (const path of [`/V1/Wallets/${walletId}/TOP-UPS`, `/v1/wallets/${walletId}/top-ups/`, `/v1/wallets/${walletId.replace(/-/g, '%2D')}/top-ups`]) {
        const again = await s.request('POST', path, { token: alice.token, key, body: { amount: '30' } });
        expect([path, again.status, again.headers.get('idempotent-replayed')]).toEqual([path, 201, 'true']);
        expect(again.body).toEqual(first.body);
      }
      expect((await balanceOf(alice, walletId)).posted).toBe('30');
    });

    it('replays an error outcome too: a 422 stays the answer to that key', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('error');
      expectError(await withdraw(alice, walletId, '5', key), 422, 'insufficient_funds');
      await topUp(alice, walletId, '100');
      const again = await withdraw(alice, walletId, '5', key);
      expectError(again, 422, 'insufficient_funds');
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await balanceOf(alice, walletId)).posted).toBe('100');
    });

    it('does not keep invalid requests: a corrected body may reuse the key', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('corrected');
      expectError(await topUp(alice, walletId, '1.5', key), 400, 'validation_failed');
      expect((await topUp(alice, walletId, '15', key)).status).toBe(201);
    });

    it('nor requests a service finds invalid (a transfer to its own source): a corrected body may reuse the key, the same one is refused again', async () => {
      const from = await s.openWallet(alice, 'USD', '100');
      const to = await s.openWallet(alice, 'USD');
      const key = newKey('service-invalid');
      const transfer = (toWalletId: string) => s.request('POST', '/v1/transfers', { token: alice.token, key, body: { fromWalletId: from, toWalletId, amount: '10' } });
      expectError(await transfer(from), 400, 'validation_failed');
      const again = await transfer(from);
      expectError(again, 400, 'validation_failed');
      expect(again.headers.get('idempotent-replayed')).toBeNull();
      expect((await transfer(to)).status).toBe(201);
      expect((await transfer(to)).headers.get('idempotent-replayed')).toBe('true');
      expect((await balanceOf(alice, to)).posted).toBe('10');
    });

    it('keeps no record of a request whose path names a malformed id: bad input never reaches the store', async () => {
      const reservations = async () => (await s.storedText()).split('gateway.IdempotencyKeyReserved').length;
      const before = await reservations();
      const answer = await s.network('POST', `/v1/network/authorizations/${'a'.repeat(129)}/capture`, { amount: '1' });
      expectError(answer, 400, 'validation_failed');
      expect(await reservations()).toBe(before);
    });

    it('replays POST /v1/wallets: the same key opens one wallet', async () => {
      const key = newKey('open');
      const first = await post('/v1/wallets', alice, { currency: 'JPY' }, key);
      const again = await post('/v1/wallets', alice, { currency: 'JPY' }, key);
      expect(first.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      const other = await post('/v1/wallets', alice, { currency: 'JPY' });
      expect(other.body.id).not.toBe(first.body.id);
    });

    it('keeps keys per caller: another user with the same key runs their own request', async () => {
      const key = newKey('shared');
      const mine = await post('/v1/wallets', alice, { currency: 'USD' }, key);
      const theirs = await post('/v1/wallets', bob, { currency: 'USD' }, key);
      expect(theirs.status).toBe(201);
      expect(theirs.body.ownerId).toBe(bob.id);
      expect(theirs.body.id).not.toBe(mine.body.id);
      expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    });

    it('identical requests in flight at once run once: one answer, the rest replays or 409 idempotency_key_in_use', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('race');
      const answers = await Promise.all(Array.from({ length: 12 }, () => topUp(alice, walletId, '7', key)));
      const fresh = answers.filter((answer) => answer.status === 201 && answer.headers.get('idempotent-replayed') === null);
      expect(fresh).toHaveLength(1);
      for (const answer of answers) {
        if (answer.status === 201) expect(answer.body).toEqual(fresh[0].body);
        else {
          expectError(answer, 409, 'idempotency_key_in_use');
          expect(answer.headers.get('retry-after')).toMatch(/^[0-9]+$/);
        }
      }
      expect((await balanceOf(alice, walletId)).posted).toBe('7');
    });

    it('survives a gateway restart: records live in the event store', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('restart');
      const first = await topUp(alice, walletId, '33', key);
      await s.restartGateway();
      const again = await topUp(alice, walletId, '33', key);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await balanceOf(alice, walletId)).posted).toBe('33');
    });

    it('forgets a key after 24 h: the same request runs again', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('window');
      const first = await topUp(alice, walletId, '5', key);
      s.clock.advance(24 * 60 * 60 * 1000 - 1);
      alice = await s.login(alice); // the clock moved past every access token
      bob = await s.login(bob);
      expect((await topUp(alice, walletId, '5', key)).headers.get('idempotent-replayed')).toBe('true');
      s.clock.advance(1);
      const later = await topUp(alice, walletId, '5', key);
      expect(later.status).toBe(201);
      expect(later.headers.get('idempotent-replayed')).toBeNull();
      expect(later.body.id).not.toBe(first.body.id);
      expect((await balanceOf(alice, walletId)).posted).toBe('10');
    });

    it('sends the service a key derived from (caller, Idempotency-Key), the same for a replay of a released attempt', async () => {
      const key = newKey('derived');
      await post('/v1/users', undefined, { email: `kim-${Date.now()}@example.com`, password: 'a-long-password' }, key);
      const register = s.fake!.received.filter((message) => message.type === 'RegisterUser').at(-1);
      expect(register?.meta.idempotencyKey).toMatch(/^gw:[0-9a-f]{64}$/);
    });
  });

  describe('operations', () => {
    it('GET /healthz is 200 {status: ok}; GET /readyz is 200 with every check ok', async () => {
      const health = await get('/healthz');
      expect({ status: health.status, body: health.body }).toEqual({ status: 200, body: { status: 'ok' } });
      const ready = await get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ready', checks: { 'event-store': 'ok', bus: 'ok', 'wallet-ledger-projection': 'ok' } });
      // Each check is a gauge too, so a stall (a relay failing to publish) can alert from /metrics.
      expect((await get('/metrics')).text).toMatch(/gateway_readiness_check_ok\{check="wallet-ledger-projection"\} 1/);
    });

    it('GET /metrics: Prometheus text with requests per route and status, and bus requests per command type', async () => {
      const walletId = await s.openWallet(alice, 'USD', '10');
      await get(`/v1/wallets/${walletId}`, alice);
      const key = newKey('metrics');
      await withdraw(alice, walletId, '11', key);
      await withdraw(alice, walletId, '11', key);
      const metrics = await get('/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(metrics.text).toMatch(/gateway_http_requests_total\{method="POST",route="\/v1\/wallets\/:id\/top-ups",status="201"\} [1-9]/);
      expect(metrics.text).toMatch(/gateway_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/v1\/wallets\/:id",status="200"\}/);
      expect(metrics.text).toMatch(/gateway_bus_requests_total\{topic="ledger.commands",type="TopUp",outcome="ok"\} [1-9]/);
      expect(metrics.text).toMatch(/gateway_bus_requests_total\{topic="ledger.commands",type="Withdraw",outcome="insufficient_funds"\} [1-9]/);
      expect(metrics.text).toMatch(/gateway_bus_requests_total\{topic="identity.commands",type="Login",outcome="ok"\} [1-9]/);
      expect(metrics.text).toMatch(/gateway_bus_request_duration_seconds_count\{topic="ledger.queries",type="GetWallet"\} [1-9]/);
      expect(metrics.text).toMatch(/gateway_idempotency_keys_total\{decision="replay"\} [1-9]/);
      // Route patterns, never raw paths with ids.
      expect(metrics.text).not.toMatch(/route="\/v1\/wallets\/[0-9a-f]{8}-/);
    });

    it('GET /docs serves the OpenAPI UI and /docs-json the document, generated from the DTOs', async () => {
      const ui = await get('/docs');
      expect(ui.status).toBe(200);
      expect(ui.headers.get('content-type')).toMatch(/text\/html/);
      const document = await get('/docs-json');
      expect(document.status).toBe(200);
      expect(Object.keys(document.body.paths)).toEqual(
        expect.arrayContaining([
          '/v1/users',
          '/v1/auth/login',
          '/v1/auth/refresh',
          '/v1/auth/logout',
          '/v1/me',
          '/v1/me/mfa/totp',
          '/v1/me/mfa/totp/confirm',
          '/v1/wallets',
          '/v1/wallets/{id}',
          '/v1/wallets/{id}/balance',
          '/v1/wallets/{id}/top-ups',
          '/v1/wallets/{id}/withdrawals',
          '/v1/transfers',
          '/v1/wallets/{id}/freeze',
          '/v1/wallets/{id}/unfreeze',
          '/v1/wallets/{id}/transactions',
          '/v1/admin/ledger/accounts/{accountId}',
        ]),
      );
      expect(document.body.components.schemas.TransferDto.properties.amount).toMatchObject({ pattern: '^(?=[0-9]*[1-9])[0-9]{1,30}$' });
      expect(document.body.components.schemas.TransferDto.required).toEqual(expect.arrayContaining(['fromWalletId', 'toWalletId', 'amount']));
      // Each route states API.md's error statuses and codes, with the error envelope's schema.
      const errorsOf = (path: string, method: string) => documentedErrors(document.body, path, method);
      expect(errorsOf('/v1/transfers', 'post')).toMatchObject({
        400: expect.arrayContaining(['validation_failed', 'idempotency_key_required']),
        401: expect.arrayContaining(['unauthenticated']),
        403: ['forbidden'],
        404: ['not_found'],
        409: ['wallet_not_active'],
        422: expect.arrayContaining(['insufficient_funds', 'currency_mismatch', 'idempotency_key_reuse']),
        429: ['rate_limited'],
      });
      expect(errorsOf('/v1/wallets/{id}/top-ups', 'post')).toMatchObject({ 422: expect.arrayContaining(['limit_exceeded']), 409: ['wallet_not_active'] });
      expect(errorsOf('/v1/wallets', 'post')).toMatchObject({ 422: expect.arrayContaining(['idempotency_key_reuse', 'limit_exceeded']) }); // WALLETS_PER_OWNER_MAX
      expect(errorsOf('/v1/wallets/{id}/withdrawals', 'post')).toMatchObject({ 422: expect.arrayContaining(['insufficient_funds']) });
      expect(errorsOf('/v1/wallets/{id}/freeze', 'post')).toMatchObject({ 403: ['forbidden'], 404: ['not_found'] });
      expect(errorsOf('/v1/wallets/{id}/balance', 'get')).toMatchObject({ 400: ['validation_failed'], 403: ['forbidden'], 404: ['not_found'] });
      expect(errorsOf('/v1/admin/ledger/accounts/{accountId}', 'get')).toMatchObject({ 403: ['forbidden'], 404: ['not_found'] });
      expect(document.body.paths['/v1/transfers'].post.responses['422'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorResponse' });
      // The Identity routes too, with the codes API.md names for them (email_taken, account_locked, reuse's 401).
      expect(errorsOf('/v1/users', 'post')).toMatchObject({ 400: ['validation_failed'], 409: ['email_taken'], 422: ['idempotency_key_reuse'], 429: ['rate_limited'] });
      expect(errorsOf('/v1/auth/login', 'post')).toMatchObject({ 400: ['validation_failed'], 401: ['invalid_credentials'], 423: ['account_locked'], 429: ['rate_limited'] });
      expect(errorsOf('/v1/auth/refresh', 'post')).toMatchObject({ 400: ['validation_failed'], 401: ['unauthenticated', 'token_expired'], 429: ['rate_limited'] });
      expect(errorsOf('/v1/auth/logout', 'post')).toMatchObject({ 400: ['validation_failed'], 401: ['unauthenticated'], 422: ['idempotency_key_reuse'] });
      expect(errorsOf('/v1/me', 'get')).toMatchObject({ 401: ['unauthenticated', 'token_expired'], 404: ['not_found'] });
      expect(errorsOf('/v1/me/mfa/totp', 'post')).toMatchObject({ 400: ['validation_failed'], 401: ['unauthenticated', 'token_expired'] });
      expect(errorsOf('/v1/me/mfa/totp/confirm', 'post')).toMatchObject({ 400: ['validation_failed'], 401: ['unauthenticated', 'token_expired'], 422: ['idempotency_key_reuse'] });
      expect(document.body.paths['/v1/auth/login'].post.responses['423'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorResponse' });
      // API.md's Operations routes are in the document too, each with what it answers.
      expect(document.body.paths['/healthz'].get.responses).toHaveProperty(['200']);
      expect(Object.keys(document.body.paths['/readyz'].get.responses).sort()).toEqual(['200', '503']);
      expect(Object.keys(document.body.paths['/metrics'].get.responses['200'].content)).toEqual([expect.stringMatching(/^text\/plain/)]);
    });

    it('marks every answer Cache-Control: no-store: tokens (RFC 6749 5.1 requires it), balances, errors', async () => {
      const login = await s.request('POST', '/v1/auth/login', { body: { email: alice.email, password: alice.password } });
      expect(login.status).toBe(200);
      const walletId = await s.openWallet(alice, 'USD');
      const answers = [login, await get(`/v1/wallets/${walletId}`, alice), await get('/v1/me', alice), await get('/v1/wallets/nope', alice), await get('/v2/nothing')];
      expect(answers.map((answer) => answer.headers.get('cache-control'))).toEqual(answers.map(() => 'no-store'));
    });

    it('echoes a usable X-Request-Id, and makes one otherwise', async () => {
      expect((await s.request('GET', '/healthz', { headers: { 'x-request-id': 'trace-123' } })).headers.get('x-request-id')).toBe('trace-123');
      expect(isUuidV7((await s.request('GET', '/healthz', { headers: { 'x-request-id': 'bad id!' } })).headers.get('x-request-id'))).toBe(true);
    });
  });
});
