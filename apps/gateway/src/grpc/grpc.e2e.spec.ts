// The gateway's gRPC API (package ledger.v1) with @grpc/grpc-js clients, in front of the real
// wallet-ledger and an identity on the bus: every Identity and Wallets method, its errors as
// gRPC statuses with API.md's envelope in grpc-status-details-bin, ownership, Idempotency-Key
// replays (also across the HTTP edge), and server reflection.
import { connect } from 'node:http2';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { FAKE_TOTP_CODE } from '../testing/fake-identity';
import { newKey, newWalletView, startGatewaySystem, TEST_NETWORK_KEY, type GatewaySystem, type TestUser } from '../testing/gateway.harness';
import { connectGrpc, type GrpcAnswer, type GrpcCallOptions, type GrpcClients, type GrpcServiceName } from '../testing/grpc-client';
import { decodeStatus, STATUS_DETAILS_TRAILER } from '../transport/grpc-errors';

function expectFailure(answer: GrpcAnswer, grpcStatus: status, code: string): void {
  expect(answer.response).toBeUndefined();
  expect(answer.error).toEqual({
    status: grpcStatus,
    message: expect.any(String),
    code,
    details: expect.any(Object),
    typeUrl: 'type.googleapis.com/ledger.v1.ErrorDetail',
  });
}

describe('gateway gRPC API (e2e)', () => {
  let s: GatewaySystem;
  let g: GrpcClients;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    s = await startGatewaySystem();
    g = connectGrpc(s.gateway().grpcPort);
    alice = await s.register('alice');
    bob = await s.register('bob');
  });

  afterAll(async () => {
    g?.close();
    await s?.close();
  });

  const call = (service: GrpcServiceName, method: string, request: object, options?: GrpcCallOptions) => g.call(service, method, request, options);
  const wallets = (method: string, request: object, user: TestUser | undefined, key?: string) => call('Wallets', method, request, { token: user?.token, key });
  const topUp = (user: TestUser, walletId: string, amount: string, key = newKey('top-up')) => wallets('TopUp', { walletId, amount }, user, key);

  it('binds GRPC_PORT 0 to a free port and reports it', () => {
    expect(s.gateway().grpcPort).toBeGreaterThan(0);
    expect(s.gateway().grpcPort).not.toBe(s.gateway().port);
  });

  describe('identity', () => {
    it('registers a user; the same email in any case is ALREADY_EXISTS email_taken; a short password is INVALID_ARGUMENT', async () => {
      const email = `grpc-carol-${Date.now()}@example.com`;
      const created = await call('Identity', 'RegisterUser', { email, password: 'a-long-password', displayName: 'Carol' });
      expect(created.response).toEqual({ id: expect.any(String), email, displayName: 'Carol', createdAt: expect.any(String) });
      expectFailure(await call('Identity', 'RegisterUser', { email: email.toUpperCase(), password: 'a-long-password' }), status.ALREADY_EXISTS, 'email_taken');
      const short = await call('Identity', 'RegisterUser', { email: 'short@example.com', password: 'short' });
      expectFailure(short, status.INVALID_ARGUMENT, 'validation_failed');
      expect(short.error?.details.fields).toEqual([expect.objectContaining({ field: 'password', reason: 'invalid_length' })]);
      // proto3 cannot tell an empty string from an absent field: both are `missing`.
      const missing = await call('Identity', 'RegisterUser', { password: 'a-long-password' });
      expect(missing.error?.details.fields).toEqual([expect.objectContaining({ field: 'email', reason: 'missing' })]);
    });

    it('logs in, refreshes once (reuse is UNAUTHENTICATED), logs out; a wrong password is UNAUTHENTICATED invalid_credentials', async () => {
      const login = await call('Identity', 'Login', { email: alice.email, password: alice.password });
      expect(login.response).toEqual({ accessToken: expect.any(String), refreshToken: expect.any(String), tokenType: 'Bearer', expiresIn: expect.any(Number) });
      expectFailure(await call('Identity', 'Login', { email: alice.email, password: 'not-the-password' }), status.UNAUTHENTICATED, 'invalid_credentials');

      const refreshed = await call('Identity', 'Refresh', { refreshToken: login.response.refreshToken });
      expect(refreshed.response.refreshToken).not.toBe(login.response.refreshToken);
      expectFailure(await call('Identity', 'Refresh', { refreshToken: login.response.refreshToken }), status.UNAUTHENTICATED, 'unauthenticated');

      const fresh = await call('Identity', 'Login', { email: alice.email, password: alice.password });
      expect(await call('Identity', 'Logout', { refreshToken: fresh.response.refreshToken })).toEqual({ response: {}, replayed: false });
      expectFailure(await call('Identity', 'Refresh', { refreshToken: fresh.response.refreshToken }), status.UNAUTHENTICATED, 'unauthenticated');
    });

    it('locks a user after five failures in a row: PERMISSION_DENIED account_locked', async () => {
      const dave = await s.register('grpc-dave');
      for (let i = 0; i < 5; i++) await call('Identity', 'Login', { email: dave.email, password: 'wrong-password' });
      expectFailure(await call('Identity', 'Login', { email: dave.email, password: dave.password }), status.PERMISSION_DENIED, 'account_locked');
    });

    it('GetMe needs a valid bearer token in `authorization` metadata', async () => {
      const me = await call('Identity', 'GetMe', {}, { token: alice.token });
      expect(me.response).toEqual({ id: alice.id, email: alice.email, roles: ['user'], mfaEnabled: false });
      expectFailure(await call('Identity', 'GetMe', {}), status.UNAUTHENTICATED, 'unauthenticated');
      expectFailure(await call('Identity', 'GetMe', {}, { token: 'not.a.token' }), status.UNAUTHENTICATED, 'unauthenticated');
      expectFailure(await call('Identity', 'GetMe', {}, { metadata: { authorization: `Basic ${alice.token}` } }), status.UNAUTHENTICATED, 'unauthenticated');
    });

    it('enrols TOTP: StartTotpEnrolment gives the secret, ConfirmTotp takes the code; a wrong code is INVALID_ARGUMENT', async () => {
      const erin = await s.register('grpc-erin');
      const started = await call('Identity', 'StartTotpEnrolment', {}, { token: erin.token });
      expect(started.response).toEqual({ secret: expect.any(String), otpauthUrl: expect.stringMatching(/^otpauth:\/\/totp\//) });
      expectFailure(await call('Identity', 'ConfirmTotp', { code: '000000' }, { token: erin.token }), status.INVALID_ARGUMENT, 'validation_failed');
      expect((await call('Identity', 'ConfirmTotp', { code: FAKE_TOTP_CODE }, { token: erin.token })).response).toEqual({});
      expect((await call('Identity', 'GetMe', {}, { token: erin.token })).response.mfaEnabled).toBe(true);
    });
  });

  describe('wallets', () => {
    it('opens, lists, gets and reads the balance of a wallet; amounts are strings', async () => {
      const opened = await wallets('OpenWallet', { currency: 'EUR' }, alice);
      expect(opened.response).toEqual(newWalletView(alice.id, 'EUR'));
      const walletId = opened.response.id;
      expect((await topUp(alice, walletId, '1050')).response).toMatchObject({ kind: 'top_up', status: 'posted', amount: '1050', currency: 'EUR', toWalletId: walletId });
      expect((await wallets('ListWallets', {}, alice)).response.items.map((w: { id: string }) => w.id)).toContain(walletId);
      expect((await wallets('GetWallet', { walletId }, alice)).response.balance).toEqual({ posted: '1050', pending: '0', available: '1050' });
      const balance = await wallets('GetBalance', { walletId }, alice);
      expect(balance.response).toEqual({ posted: '1050', pending: '0', available: '1050', asOf: expect.any(String) });
      const before = await wallets('GetBalance', { walletId, at: '2000-01-01T00:00:00Z' }, alice);
      expect(before.response).toMatchObject({ posted: '0', available: '0' });
      expectFailure(await wallets('GetBalance', { walletId, at: 'yesterday' }, alice), status.INVALID_ARGUMENT, 'validation_failed');
      expect((await wallets('ListWallets', {}, bob)).response.items.map((w: { id: string }) => w.id)).not.toContain(walletId);
    });

    it('refuses an unsupported currency, a missing wallet id, and an unknown wallet', async () => {
      expectFailure(await wallets('OpenWallet', { currency: 'XXX' }, alice), status.INVALID_ARGUMENT, 'validation_failed');
      const missing = await wallets('GetWallet', {}, alice);
      expectFailure(missing, status.INVALID_ARGUMENT, 'validation_failed');
      expect(missing.error?.details.fields).toEqual([{ field: 'walletId', reason: 'missing' }]);
      expectFailure(await wallets('GetWallet', { walletId: 'no-such-wallet' }, alice), status.NOT_FOUND, 'not_found');
      expectFailure(await wallets('OpenWallet', { currency: 'USD' }, undefined), status.UNAUTHENTICATED, 'unauthenticated');
    });

    it("checks ownership: another user's wallet is PERMISSION_DENIED forbidden to read or move; an admin may read and freeze it", async () => {
      const walletId = await s.openWallet(alice, 'USD', '500');
      expectFailure(await wallets('GetWallet', { walletId }, bob), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await wallets('ListTransactions', { walletId }, bob), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await topUp(bob, walletId, '1'), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await wallets('Withdraw', { walletId, amount: '1' }, bob, newKey()), status.PERMISSION_DENIED, 'forbidden');
      const bobs = await s.openWallet(bob, 'USD');
      expectFailure(await wallets('Transfer', { fromWalletId: walletId, toWalletId: bobs, amount: '1' }, bob, newKey()), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await wallets('FreezeWallet', { walletId }, bob), status.PERMISSION_DENIED, 'forbidden');

      const admin = await s.admin();
      expect((await wallets('GetWallet', { walletId }, admin)).response.id).toBe(walletId);
      expect((await wallets('FreezeWallet', { walletId }, admin)).response.status).toBe('frozen');
      expectFailure(await topUp(admin, walletId, '1'), status.PERMISSION_DENIED, 'forbidden');
      expect((await wallets('UnfreezeWallet', { walletId }, admin)).response.status).toBe('active');
    });

    it('withdraws and transfers; too much is FAILED_PRECONDITION insufficient_funds; another currency is currency_mismatch', async () => {
      const from = await s.openWallet(alice, 'USD', '1000');
      const to = await s.openWallet(bob, 'USD');
      const euros = await s.openWallet(bob, 'EUR');
      expect((await wallets('Withdraw', { walletId: from, amount: '100', reference: 'atm' }, alice, newKey())).response).toMatchObject({
        kind: 'withdrawal',
        amount: '100',
        fromWalletId: from,
      });
      const sent = await wallets('Transfer', { fromWalletId: from, toWalletId: to, amount: '300', memo: 'rent' }, alice, newKey());
      expect(sent.response).toMatchObject({ kind: 'transfer', amount: '300', currency: 'USD', fromWalletId: from, toWalletId: to });
      expectFailure(await wallets('Withdraw', { walletId: from, amount: '601' }, alice, newKey()), status.FAILED_PRECONDITION, 'insufficient_funds');
      const mismatch = await wallets('Transfer', { fromWalletId: from, toWalletId: euros, amount: '1' }, alice, newKey());
      expectFailure(mismatch, status.FAILED_PRECONDITION, 'currency_mismatch');
      expect(mismatch.error?.details).toEqual({ fromCurrency: 'USD', toCurrency: 'EUR' });
      expectFailure(await wallets('Transfer', { fromWalletId: from, toWalletId: 'no-such-wallet', amount: '1' }, alice, newKey()), status.NOT_FOUND, 'not_found');
      expectFailure(await wallets('Withdraw', { walletId: from, amount: '-5' }, alice, newKey()), status.INVALID_ARGUMENT, 'validation_failed');
      expectFailure(await topUp(alice, from, '1000000000000'), status.FAILED_PRECONDITION, 'limit_exceeded');
      await s.ledger.projection.waitUntil(await s.store.headPosition(), 5_000);
      expect((await wallets('GetWallet', { walletId: from }, alice)).response.balance).toEqual({ posted: '600', pending: '0', available: '600' });
    });

    it('freezes and unfreezes: a frozen wallet cannot send (FAILED_PRECONDITION wallet_not_active) but receives', async () => {
      const walletId = await s.openWallet(alice, 'USD', '100');
      const other = await s.openWallet(bob, 'USD', '100');
      expect((await wallets('FreezeWallet', { walletId }, alice)).response.status).toBe('frozen');
      expect((await wallets('FreezeWallet', { walletId }, alice)).response.status).toBe('frozen');
      expectFailure(await wallets('Withdraw', { walletId, amount: '1' }, alice, newKey()), status.FAILED_PRECONDITION, 'wallet_not_active');
      expect((await wallets('Transfer', { fromWalletId: other, toWalletId: walletId, amount: '5' }, bob, newKey())).response.kind).toBe('transfer');
      expect((await wallets('UnfreezeWallet', { walletId }, alice)).response.status).toBe('active');
      expect((await wallets('Withdraw', { walletId, amount: '1' }, alice, newKey())).response.kind).toBe('withdrawal');
    });

    it('lists transactions newest first, a page at a time; a limit out of 1..200 is INVALID_ARGUMENT', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      for (const amount of ['1', '2', '3']) await topUp(alice, walletId, amount);
      await s.ledger.projection.waitUntil(await s.store.headPosition(), 5_000);
      const first = await wallets('ListTransactions', { walletId, limit: 2 }, alice);
      expect(first.response.items.map((line: { amount: string }) => line.amount)).toEqual(['3', '2']);
      expect(first.response.items[0]).toEqual({
        transactionId: expect.any(String),
        kind: 'top_up',
        amount: '3',
        direction: 'credit',
        status: 'posted',
        balanceAfter: '6',
        createdAt: expect.any(String),
      });
      const second = await wallets('ListTransactions', { walletId, limit: 2, cursor: first.response.nextCursor }, alice);
      expect(second.response.items.map((line: { amount: string }) => line.amount)).toEqual(['1']);
      expect(second.response.nextCursor).toBeUndefined();
      expectFailure(await wallets('ListTransactions', { walletId, limit: 0 }, alice), status.INVALID_ARGUMENT, 'validation_failed');
      expectFailure(await wallets('ListTransactions', { walletId, limit: 201 }, alice), status.INVALID_ARGUMENT, 'validation_failed');
    });
  });

  describe('admin', () => {
    // API.md's admin read is one of "the same operations": it had no gRPC method, so an operator's gRPC client had no way to it.
    it('GetLedgerAccount: the four sums of any ledger account, for admins only (PERMISSION_DENIED forbidden to others)', async () => {
      const walletId = await s.openWallet(alice, 'USD', '700');
      const admin = await s.admin();
      const admins = (request: object, user: TestUser | undefined) => call('Admin', 'GetLedgerAccount', request, { token: user?.token });
      expect((await admins({ accountId: walletId }, admin)).response).toEqual({
        accountId: walletId,
        currency: 'USD',
        debitsPosted: '0',
        creditsPosted: '700',
        debitsPending: '0',
        creditsPending: '0',
      });
      expectFailure(await admins({ accountId: walletId }, alice), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await admins({ accountId: 'sys:nothing:USD:0' }, admin), status.NOT_FOUND, 'not_found');
      expectFailure(await admins({ accountId: walletId }, undefined), status.UNAUTHENTICATED, 'unauthenticated');
      const missing = await admins({}, admin);
      expectFailure(missing, status.INVALID_ARGUMENT, 'validation_failed');
      expect(missing.error?.details.fields).toEqual([{ field: 'accountId', reason: 'missing' }]);
    });
  });

  describe('idempotency-key', () => {
    it('is required to move money: INVALID_ARGUMENT idempotency_key_required; a malformed one is validation_failed', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      expectFailure(await wallets('TopUp', { walletId, amount: '1' }, alice), status.INVALID_ARGUMENT, 'idempotency_key_required');
      expectFailure(await wallets('Withdraw', { walletId, amount: '1' }, alice), status.INVALID_ARGUMENT, 'idempotency_key_required');
      expectFailure(await wallets('Transfer', { fromWalletId: walletId, toWalletId: walletId, amount: '1' }, alice), status.INVALID_ARGUMENT, 'idempotency_key_required');
      expectFailure(await topUp(alice, walletId, '1', 'has space'), status.INVALID_ARGUMENT, 'validation_failed');
      // The key's absence is told before the body's faults, as over HTTP (which answers 400 idempotency_key_required).
      expectFailure(await wallets('TopUp', { walletId, amount: 'abc' }, alice), status.INVALID_ARGUMENT, 'idempotency_key_required');
      const overHttp = await s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: alice.token, body: { amount: 'abc' } });
      expect(overHttp.body.error.code).toBe('idempotency_key_required');
      expectFailure(await call('CardNetwork', 'Capture', { authorizationId: 'has space', amount: 'abc' }, { networkKey: TEST_NETWORK_KEY }), status.INVALID_ARGUMENT, 'idempotency_key_required');
    });

    it('replays the first answer for the same key and request, with `idempotent-replayed: true`; another request is idempotency_key_reuse', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('grpc-replay');
      const first = await topUp(alice, walletId, '700', key);
      expect(first.replayed).toBe(false);
      const again = await topUp(alice, walletId, '700', key);
      expect(again).toEqual({ response: first.response, replayed: true });
      expectFailure(await topUp(alice, walletId, '701', key), status.FAILED_PRECONDITION, 'idempotency_key_reuse');
      // Keys are per caller: bob's same key on his own wallet is his own request.
      const bobs = await s.openWallet(bob, 'USD');
      expect((await topUp(bob, bobs, '700', key)).replayed).toBe(false);
      await s.ledger.projection.waitUntil(await s.store.headPosition(), 5_000);
      expect((await wallets('GetWallet', { walletId }, alice)).response.balance.posted).toBe('700');
    });

    it('replays a recorded refusal as the same status and detail, flagged', async () => {
      const walletId = await s.openWallet(alice, 'USD', '10');
      const key = newKey('grpc-refusal');
      const refused = await wallets('Withdraw', { walletId, amount: '11' }, alice, key);
      expectFailure(refused, status.FAILED_PRECONDITION, 'insufficient_funds');
      await topUp(alice, walletId, '100');
      const replayed = await wallets('Withdraw', { walletId, amount: '11' }, alice, key);
      expect(replayed).toEqual({ ...refused, replayed: true });
    });

    it('replays an OpenWallet (the same wallet) and a Transfer', async () => {
      const key = newKey('grpc-open');
      const opened = await wallets('OpenWallet', { currency: 'GBP' }, alice, key);
      expect(await wallets('OpenWallet', { currency: 'GBP' }, alice, key)).toEqual({ response: opened.response, replayed: true });
      const from = await s.openWallet(alice, 'USD', '50');
      const to = await s.openWallet(bob, 'USD');
      const transferKey = newKey('grpc-transfer');
      const request = { fromWalletId: from, toWalletId: to, amount: '20', memo: 'once' };
      const sent = await wallets('Transfer', request, alice, transferKey);
      expect(await wallets('Transfer', request, alice, transferKey)).toEqual({ response: sent.response, replayed: true });
      await s.ledger.projection.waitUntil(await s.store.headPosition(), 5_000);
      expect((await wallets('GetWallet', { walletId: from }, alice)).response.balance.posted).toBe('30');
    });

    it('runs concurrent calls with one key once: the others replay it or are ABORTED idempotency_key_in_use (with retry-after)', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('grpc-concurrent');
      const answers = await Promise.all(Array.from({ length: 6 }, () => topUp(alice, walletId, '25', key)));
      const succeeded = answers.filter((answer) => answer.response !== undefined);
      expect(succeeded.length).toBeGreaterThanOrEqual(1);
      for (const answer of succeeded) expect(answer.response).toEqual(succeeded[0].response);
      for (const answer of answers.filter((a) => a.error !== undefined)) {
        expect(answer.error).toMatchObject({ status: status.ABORTED, code: 'idempotency_key_in_use', retryAfter: expect.any(String) });
      }
      await s.ledger.projection.waitUntil(await s.store.headPosition(), 5_000);
      expect((await wallets('GetWallet', { walletId }, alice)).response.balance.posted).toBe('25');
    });

    it('shares records with the HTTP edge: the same caller, key and request replays on the other edge', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const grpcKey = newKey('grpc-to-http');
      const overGrpc = await topUp(alice, walletId, '40', grpcKey);
      const overHttp = await s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: alice.token, key: grpcKey, body: { amount: '40' } });
      expect(overHttp.status).toBe(201);
      expect(overHttp.headers.get('idempotent-replayed')).toBe('true');
      expect(overHttp.body).toEqual(overGrpc.response);
      const reused = await s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: alice.token, key: grpcKey, body: { amount: '41' } });
      expect(reused.status).toBe(422);

      const httpKey = newKey('http-to-grpc');
      const first = await s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: alice.token, key: httpKey, body: { amount: '60', reference: 'r-1' } });
      const second = await g.call('Wallets', 'TopUp', { walletId, amount: '60', reference: 'r-1' }, { token: alice.token, key: httpKey });
      expect(second).toEqual({ response: first.body, replayed: true });
    });

    it('replays a call whose HTTP route takes no body on the other edge, whatever body the HTTP request carried', async () => {
      const walletId = await s.openWallet(alice, 'USD');
      const key = newKey('bodyless');
      const overHttp = await s.request('POST', `/v1/wallets/${walletId}/freeze`, { token: alice.token, key, body: {} });
      expect(overHttp.status).toBe(200);
      expect(await wallets('FreezeWallet', { walletId }, alice, key)).toEqual({ response: overHttp.body, replayed: true });
      const withoutBody = await s.request('POST', `/v1/wallets/${walletId}/freeze`, { token: alice.token, key });
      expect([withoutBody.status, withoutBody.headers.get('idempotent-replayed')]).toEqual([200, 'true']);
    });
  });

  it('counts each call by method and status code, and logs one line per call with its x-request-id', async () => {
    await g.call('Wallets', 'GetWallet', { walletId: 'no-such-wallet' }, { token: alice.token, metadata: { 'x-request-id': 'grpc-trace-1' } });
    const metrics = await s.request('GET', '/metrics');
    expect(metrics.text).toMatch(/gateway_grpc_calls_total\{method="\/ledger\.v1\.Wallets\/GetWallet",code="NOT_FOUND"\} [1-9]/);
    const line = s.logLines.map((text) => JSON.parse(text)).find((entry) => entry.requestId === 'grpc-trace-1');
    expect(line).toMatchObject({ msg: 'grpc call', grpcMethod: '/ledger.v1.Wallets/GetWallet', grpcStatus: 'NOT_FOUND', durationMs: expect.any(Number) });
  });

  it("never writes a credential that grpc-js refused as metadata (a token or network key with a non-ASCII character) to any log", async () => {
    const stderr = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const wallet = stringField(1, await s.openWallet(alice, 'USD'));
      // grpc-js clients refuse to send such values; any other HTTP/2 client can (a token pasted with a stray character).
      const badToken = await rawGrpcCall(s.gateway().grpcPort, '/ledger.v1.Wallets/GetWallet', wallet, { authorization: `Bearer ${alice.token}\u00e9` });
      expect(badToken).toBe(String(status.UNAUTHENTICATED));
      const badKey = await rawGrpcCall(s.gateway().grpcPort, '/ledger.v1.CardNetwork/Capture', wallet, { 'x-network-key': `${TEST_NETWORK_KEY}\u00e9` });
      expect(badKey).toBe(String(status.UNAUTHENTICATED));
      const [, payload] = alice.token.split('.');
      const written = [...stderr.mock.calls.map((args) => args.join(' ')), ...s.logLines].join('\n');
      expect(written).not.toContain(payload);
      expect(written).not.toContain(TEST_NETWORK_KEY);
      expect(s.logLines.some((line) => line.includes('refused the metadata entry x-network-key'))).toBe(true); // still told, without the value
    } finally {
      stderr.mockRestore();
    }
  });

  it('refuses an idempotency-key that is not printable ASCII (grpc-js drops it) as over HTTP, instead of running the call without a key', async () => {
    const port = s.gateway().grpcPort;
    const opened = () => s.request('GET', '/v1/wallets', { token: alice.token }).then((answer) => answer.body.items.length as number);
    const before = await opened();
    const answer = await rawGrpcExchange(port, '/ledger.v1.Wallets/OpenWallet', grpcFrame(stringField(1, 'USD')), { authorization: `Bearer ${alice.token}`, 'idempotency-key': 'cl\u00e9-1' });
    expect(answer).toEqual({ status: String(status.INVALID_ARGUMENT), detail: expect.objectContaining({ code: 'validation_failed', details: { fields: [expect.objectContaining({ field: 'idempotency-key', reason: 'invalid_format' })] } }) });
    const overHttp = await s.request('POST', '/v1/wallets', { token: alice.token, body: { currency: 'USD' }, headers: { 'idempotency-key': 'cl\u00e9-1' } });
    expect([overHttp.status, overHttp.body.error?.details.fields[0].field]).toEqual([400, 'Idempotency-Key']);
    expect(await opened()).toBe(before); // no wallet opened unkeyed, which a retry would have opened again
  });

  it('answers a request message that is not protobuf INVALID_ARGUMENT validation_failed (as malformed JSON is 400), not INTERNAL', async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff]); // a tag whose varint never ends
    expect(await rawGrpcCall(s.gateway().grpcPort, '/ledger.v1.Wallets/GetWallet', garbage, { authorization: `Bearer ${alice.token}` })).toBe(String(status.INVALID_ARGUMENT));
    const overClient = await call('Identity', 'GetMe', {}, { token: alice.token });
    expect(overClient.response?.id).toBe(alice.id); // a well-formed one still goes through
  });

  it("answers a call grpc-js refuses as malformed (a message that does not decompress, no message or two, a grpc-timeout that is not one) INVALID_ARGUMENT validation_failed with the detail, not INTERNAL or UNIMPLEMENTED", async () => {
    const port = s.gateway().grpcPort;
    const token = { authorization: `Bearer ${alice.token}` };
    const empty = grpcFrame(Buffer.alloc(0));
    const refusals: [string, Buffer, Record<string, string>, { field: string; reason: string }][] = [
      ['a corrupt gzip message', grpcFrame(Buffer.from('not gzip'), true), { ...token, 'grpc-encoding': 'gzip' }, { field: 'message', reason: 'undecodable' }],
      ['no message', Buffer.alloc(0), token, { field: 'message', reason: 'missing' }],
      ['a message cut short', Buffer.from([0, 0, 0, 0, 5, 1]), token, { field: 'message', reason: 'missing' }],
      ['two messages', Buffer.concat([empty, empty]), token, { field: 'message', reason: 'too_many' }],
      ['a grpc-timeout that is not one', empty, { ...token, 'grpc-timeout': 'soon' }, { field: 'grpc-timeout', reason: 'invalid_format' }],
    ];
    for (const [what, frames, metadata, field] of refusals) {
      const answer = await rawGrpcExchange(port, '/ledger.v1.Identity/GetMe', frames, metadata);
      expect({ what, status: answer.status, detail: answer.detail }).toEqual({
        what,
        status: String(status.INVALID_ARGUMENT),
        detail: expect.objectContaining({ code: 'validation_failed', details: { fields: [field] } }),
      });
    }
    // The reflection service's own messages too (grpcurl's first call).
    const reflection = await rawGrpcExchange(port, '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', grpcFrame(Buffer.from([0xff, 0xff, 0xff])), {});
    expect([reflection.status, reflection.detail?.code]).toEqual([String(status.INVALID_ARGUMENT), 'validation_failed']);
    expect((await call('Identity', 'GetMe', {}, { token: alice.token })).response?.id).toBe(alice.id); // a well-formed one still goes through
  });

  it('moves money for a call whose deadline is weeks away (grpc-js wrapped a timeout of 2^31 ms or more into the past: DEADLINE_EXCEEDED at once)', async () => {
    const port = s.gateway().grpcPort;
    const walletId = await s.openWallet(alice, 'USD');
    const message = Buffer.concat([stringField(1, walletId), stringField(2, '1')]);
    // What a grpc-js client sends for a deadline 30 days away, then 25 days and 41 days in other units.
    for (const timeout of ['2592000S', '36000M', '999H']) {
      const metadata = { authorization: `Bearer ${alice.token}`, 'idempotency-key': newKey('long-deadline'), 'grpc-timeout': timeout };
      const answer = await rawGrpcExchange(port, '/ledger.v1.Wallets/TopUp', grpcFrame(message), metadata);
      expect({ timeout, status: answer.status }).toEqual({ timeout, status: String(status.OK) });
    }
  });

  it('refuses a request message over BODY_LIMIT_BYTES (grpc-js: RESOURCE_EXHAUSTED)', async () => {
    const answer = await call('Identity', 'Login', { email: alice.email, password: 'x'.repeat(70_000) });
    expect(answer.error?.status).toBe(status.RESOURCE_EXHAUSTED);
  });

  it('counts the calls grpc-js answers itself too (too large, malformed, an unknown method), by the status the client got', async () => {
    const counted = async (method: string, code: string) => {
      const metrics = (await s.request('GET', '/metrics')).text;
      const line = metrics.split('\n').find((text) => text.startsWith(`gateway_grpc_calls_total{method="${method}",code="${code}"}`));
      return Number(line?.split(' ').pop() ?? 0);
    };
    const port = s.gateway().grpcPort;
    const before = [await counted('/ledger.v1.Identity/Login', 'RESOURCE_EXHAUSTED'), await counted('/ledger.v1.Identity/GetMe', 'INVALID_ARGUMENT'), await counted('unknown', 'UNIMPLEMENTED')];
    await call('Identity', 'Login', { email: alice.email, password: 'x'.repeat(70_000) });
    await rawGrpcExchange(port, '/ledger.v1.Identity/GetMe', Buffer.alloc(0), {});
    await rawGrpcExchange(port, `/ledger.v1.Identity/NoSuchMethod${Date.now()}`, grpcFrame(Buffer.alloc(0)), {}); // never its own label
    const after = [await counted('/ledger.v1.Identity/Login', 'RESOURCE_EXHAUSTED'), await counted('/ledger.v1.Identity/GetMe', 'INVALID_ARGUMENT'), await counted('unknown', 'UNIMPLEMENTED')];
    expect(after).toEqual(before.map((n) => n + 1));
  });

  it('refuses a call whose metadata is over 16 KiB, as HTTP answers 431 (validation_failed, field request), and serves one just under', async () => {
    const port = s.gateway().grpcPort;
    // grpc-js takes up to HTTP/2's 64 KiB of headers: 40 KB reached the handler (GetMe without a token: UNAUTHENTICATED).
    expect(await rawGrpcExchange(port, '/ledger.v1.Identity/GetMe', grpcFrame(Buffer.alloc(0)), { 'x-pad': 'a'.repeat(40_000) })).toEqual({
      status: String(status.INVALID_ARGUMENT),
      detail: expect.objectContaining({ code: 'validation_failed', details: { fields: [{ field: 'request', reason: 'headers_too_large' }] } }),
    });
    expect(await rawGrpcExchange(port, '/ledger.v1.Identity/GetMe', grpcFrame(Buffer.alloc(0)), { 'x-pad': 'a'.repeat(15_000) })).toMatchObject({ status: String(status.UNAUTHENTICATED) });
  });

  it('lets one connection hold at most GRPC_MAX_CONCURRENT_STREAMS calls open (default 100): calls that never send their message cannot pile up', async () => {
    const session = connect(`http://127.0.0.1:${s.gateway().grpcPort}`);
    try {
      await new Promise((resolve) => session.once('remoteSettings', resolve));
      // grpc-js announced none, so HTTP/2's default held: 2^32 - 1 streams on one connection.
      expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    } finally {
      session.destroy();
    }
  });

  it('lists exactly the five services of ledger.v1 through server reflection, and describes the error detail for generic clients', async () => {
    const reflectionProto = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');
    const loaded = loadPackageDefinition(loadSync(reflectionProto, { keepCase: false }));
    const v1 = ((loaded.grpc as GrpcObject).reflection as GrpcObject).v1 as GrpcObject;
    const Reflection = v1.ServerReflection as ServiceClientConstructor;
    const client = new Reflection(`127.0.0.1:${s.gateway().grpcPort}`, credentials.createInsecure());
    type Answer = { listServicesResponse?: { service: { name: string }[] }; fileDescriptorResponse?: { fileDescriptorProto: Buffer[] } };
    const ask = (question: object) =>
      new Promise<Answer>((resolve, reject) => {
        const stream = (client as unknown as { serverReflectionInfo(): NodeJS.ReadWriteStream & { end(): void } }).serverReflectionInfo();
        stream.on('data', (answer: Answer) => {
          resolve(answer);
          stream.end();
        });
        stream.on('error', reject);
        stream.write(question as never);
      });
    try {
      const listed = await ask({ listServices: '' });
      const services = listed.listServicesResponse?.service.map((service) => service.name);
      expect(services?.sort()).toEqual(['ledger.v1.Admin', 'ledger.v1.CardNetwork', 'ledger.v1.Cards', 'ledger.v1.Identity', 'ledger.v1.Wallets']);
      // grpcurl decodes grpc-status-details-bin by resolving the detail's type through reflection.
      const detail = await ask({ fileContainingSymbol: 'ledger.v1.ErrorDetail' });
      const files = detail.fileDescriptorResponse?.fileDescriptorProto.map((bytes) => Buffer.from(bytes).toString('latin1')) ?? [];
      expect(files.some((file) => file.includes('ledger.v1') && file.includes('ErrorDetail') && file.includes('detailsJson'))).toBe(true);
    } finally {
      client.close();
    }
  });

  // Last: it restarts the gateway with tight limits.
  it('rate-limits money-moving calls per user: RESOURCE_EXHAUSTED rate_limited with retry-after, the same buckets as HTTP', async () => {
    await s.restartGateway({ RATE_LIMIT_MONEY_PER_USER_BURST: '2', RATE_LIMIT_MONEY_PER_USER_PER_MINUTE: '1' });
    g.close();
    g = connectGrpc(s.gateway().grpcPort);
    const walletId = await s.openWallet(alice, 'USD');
    expect((await topUp(alice, walletId, '1')).response.kind).toBe('top_up');
    const overHttp = await s.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: alice.token, key: newKey(), body: { amount: '1' } });
    expect(overHttp.status).toBe(201);
    const refused = await topUp(alice, walletId, '1');
    expect(refused.error).toMatchObject({
      status: status.RESOURCE_EXHAUSTED,
      code: 'rate_limited',
      details: { limit: 'money-per-user', retryAfterSeconds: 60 },
      retryAfter: '60',
    });
  });

  it('behind TRUST_PROXY_HOPS proxies, counts the client their x-forwarded-for names, in the same bucket as over HTTP', async () => {
    await s.restartGateway({ TRUST_PROXY_HOPS: '1', RATE_LIMIT_LOGIN_PER_IP_BURST: '2', RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE: '1' });
    g.close();
    g = connectGrpc(s.gateway().grpcPort);
    let attempts = 0; // a new email each time: only the per-IP limit may refuse
    const body = () => ({ email: `proxied-${++attempts}@example.com`, password: 'not-the-password' });
    const overGrpc = (forwardedFor: string) => call('Identity', 'Login', body(), { metadata: { 'x-forwarded-for': forwardedFor } });
    expect((await overGrpc('203.0.113.9, 198.51.100.7')).error?.code).toBe('invalid_credentials');
    const overHttp = await s.request('POST', '/v1/auth/login', { body: body(), headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(overHttp.status).toBe(401);
    expect((await overGrpc('198.51.100.7')).error).toMatchObject({ status: status.RESOURCE_EXHAUSTED, code: 'rate_limited', details: { limit: 'login-per-ip' } });
    // Another client behind the same proxy (so the same peer) has a bucket of its own.
    expect((await overGrpc('198.51.100.8')).error?.code).toBe('invalid_credentials');
    // The client's own claim before the proxy's entry, not printable ASCII: grpc-js dropped the whole header, and the
    // client was counted as the proxy (a fresh bucket), where HTTP reads the proxy's entry.
    const claimed = Buffer.concat([stringField(1, body().email), stringField(2, 'not-the-password')]);
    const spoofed = await rawGrpcExchange(s.gateway().grpcPort, '/ledger.v1.Identity/Login', grpcFrame(claimed), { 'x-forwarded-for': 'caf\u00e9, 198.51.100.7' });
    expect([spoofed.status, spoofed.detail?.code]).toEqual([String(status.RESOURCE_EXHAUSTED), 'rate_limited']);
    const overHttpSpoofed = await s.request('POST', '/v1/auth/login', { body: body(), headers: { 'x-forwarded-for': 'caf\u00e9, 198.51.100.7' } });
    expect(overHttpSpoofed.status).toBe(429);
  });

  it('counts a client on a dual-stack listener (HOST=::) by its address, not by the port of each connection', async () => {
    // grpc-js names the peer `address:port` without brackets (`::ffff:127.0.0.1:51234`), which no address parser reads.
    await s.restartGateway({ HOST: '::', RATE_LIMIT_LOGIN_PER_IP_BURST: '2', RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE: '1' });
    g.close();
    g = connectGrpc(s.gateway().grpcPort);
    let attempts = 0;
    // A new connection (and source port) for each call: each was a new client with a full bucket.
    const login = () => rawGrpcExchange(s.gateway().grpcPort, '/ledger.v1.Identity/Login', grpcFrame(Buffer.concat([stringField(1, `ported-${++attempts}@example.com`), stringField(2, 'not-the-password')])), {});
    expect([(await login()).detail?.code, (await login()).detail?.code]).toEqual(['invalid_credentials', 'invalid_credentials']);
    expect((await login()).detail).toMatchObject({ code: 'rate_limited', details: { limit: 'login-per-ip' } });
  });
});

/** A protobuf length-delimited string field: all a raw request here needs. */
function stringField(field: number, value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
}

/** One unary call over bare HTTP/2, with metadata a grpc-js client would not send: its grpc-status. */
async function rawGrpcCall(port: number, path: string, message: Buffer, metadata: Record<string, string>): Promise<string | undefined> {
  return (await rawGrpcExchange(port, path, grpcFrame(message), metadata)).status;
}

/** A message as gRPC frames it: compressed flag, length, bytes. */
function grpcFrame(message: Buffer, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(compressed ? 1 : 0, 0);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Sends these bytes as a call's request over bare HTTP/2: its grpc-status and error detail. */
async function rawGrpcExchange(port: number, path: string, frames: Buffer, metadata: Record<string, string>): Promise<{ status?: string; detail?: { code: string; details: unknown } }> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...metadata });
      let last: Record<string, unknown> = {};
      stream.on('response', (headers) => (last = headers)); // a trailers-only answer
      stream.on('trailers', (trailers) => (last = trailers));
      stream.on('data', () => undefined);
      stream.on('end', () => {
        const details = last[STATUS_DETAILS_TRAILER];
        resolve({ status: last['grpc-status'] as string | undefined, detail: typeof details === 'string' ? decodeStatus(Buffer.from(details, 'base64')).details[0] : undefined });
      });
      stream.on('error', reject);
      stream.end(frames);
    });
  } finally {
    session.close();
  }
}
