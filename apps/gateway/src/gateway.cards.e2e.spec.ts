// The gateway's Cards and Card network routes over HTTP, in front of a fake card-issuer on the bus
// (testing/fake-card-issuer.ts): routing, validation, ownership (404 before 403), the network
// key, Idempotency-Key (required on the network's routes, ids minted once per key, reveal never
// recorded), rate limits, the envelope, and no PAN or CVV in logs or the event store.
import { isUuidV7 } from '@ledger/contracts';
import { IdempotencyService } from './application/idempotency.service';
import { IDEMPOTENCY_EVENT_TYPES } from './domain/idempotency-key';
import { documentedErrors, expectError, expectIssuedCard, newKey, startGatewaySystem, TEST_NETWORK_KEY, type GatewaySystem, type TestUser } from './testing/gateway.harness';

const MERCHANT = { name: 'Corner Coffee', mcc: '5814', country: 'US' };

describe('gateway cards and card network routes (e2e, fake card-issuer)', () => {
  let s: GatewaySystem;
  let alice: TestUser;
  let bob: TestUser;
  let aliceWallet: string;
  let bobWallet: string;

  beforeAll(async () => {
    s = await startGatewaySystem();
    alice = await s.register('card-alice');
    bob = await s.register('card-bob');
    aliceWallet = await s.openWallet(alice, 'USD', '100000');
    bobWallet = await s.openWallet(bob, 'USD');
  });

  afterAll(async () => {
    await s?.close();
  });

  const call = (method: string, path: string, user: TestUser | undefined, body?: unknown, key?: string) => s.request(method, path, { token: user?.token, body, key });
  /** An authorization request for `cardId`'s real PAN, CVV and expiry, with `overrides`. */
  const authorization = (cardId: string, overrides: Record<string, unknown> = {}) => {
    const { pan, cvv, expMonth, expYear } = s.fakeCards!.secretsOf(cardId);
    return { pan, cvv, expMonth, expYear, amount: '1000', currency: 'USD', merchant: MERCHANT, ...overrides };
  };
  const authorizeCount = () => s.fakeCards!.received.filter((message) => message.type === 'Authorize').length;

  describe('cards', () => {
    it('POST /v1/cards: 201 with API.md\'s card view (the gateway mints the id); no PAN or CVV in it', async () => {
      const fields = { walletId: aliceWallet, label: 'groceries', spendingControls: { daily: '50000', blockedMccs: ['7995'] } };
      const created = await call('POST', '/v1/cards', alice, fields);
      expectIssuedCard(created, fields);
      const { pan, cvv } = s.fakeCards!.secretsOf(created.body.id);
      expect(created.text).not.toContain(pan);
      expect(Object.keys(created.body)).not.toEqual(expect.arrayContaining(['pan', 'cvv']));
      expect(cvv).toMatch(/^[0-9]{3}$/);
    });

    it('measures a label and a merchant name as the card-issuer does (UTF-16 units): what it would refuse is 400 here, naming the field', async () => {
      const emoji = (count: number) => '\u{1F600}'.repeat(count);
      const label = await call('POST', '/v1/cards', alice, { walletId: aliceWallet, label: emoji(33) });
      expect({ status: label.status, fields: label.body.error?.details.fields }).toEqual({ status: 400, fields: [expect.objectContaining({ field: 'label', reason: 'invalid_length' })] });
      expect((await call('POST', '/v1/cards', alice, { walletId: aliceWallet, label: emoji(32) })).status).toBe(201);
      const card = await call('POST', '/v1/cards', alice, { walletId: aliceWallet });
      const before = authorizeCount();
      const merchant = await s.network('POST', '/v1/network/authorizations', authorization(card.body.id, { merchant: { ...MERCHANT, name: emoji(51) } }));
      expect({ status: merchant.status, fields: merchant.body.error?.details.fields }).toEqual({ status: 400, fields: [expect.objectContaining({ field: 'merchant.name', reason: 'invalid_length' })] });
      expect(authorizeCount()).toBe(before);
    });

    it('POST /v1/cards replays with the same Idempotency-Key (one card), and 422 idempotency_key_reuse with another body', async () => {
      const key = newKey('issue');
      const first = await call('POST', '/v1/cards', alice, { walletId: aliceWallet, label: 'once' }, key);
      const again = await call('POST', '/v1/cards', alice, { walletId: aliceWallet, label: 'once' }, key);
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      expectError(await call('POST', '/v1/cards', alice, { walletId: aliceWallet, label: 'twice' }, key), 422, 'idempotency_key_reuse');
      const mine = await call('GET', '/v1/cards', alice);
      expect(mine.body.items.filter((card: { label: string }) => card.label === 'once')).toHaveLength(1);
    });

    it('POST /v1/cards needs the wallet\'s owner: 403 on another\'s wallet (admins too), 404 on none, 401 without a token', async () => {
      expectError(await call('POST', '/v1/cards', bob, { walletId: aliceWallet }), 403, 'forbidden');
      expectError(await call('POST', '/v1/cards', await s.admin(), { walletId: aliceWallet }), 403, 'forbidden');
      expectError(await call('POST', '/v1/cards', alice, { walletId: '01890000-0000-7000-8000-000000000000' }), 404, 'not_found');
      expectError(await call('POST', '/v1/cards', undefined, { walletId: aliceWallet }), 401, 'unauthenticated');
      expectError(await call('POST', '/v1/cards', alice, {}), 400, 'validation_failed');
    });

    it('GET /v1/cards lists only the caller\'s cards; GET /v1/cards/{id}: owner or admin, 404 before 403', async () => {
      const card = await s.issueCard(bob, bobWallet, { label: 'bob-only' });
      const bobs = await call('GET', '/v1/cards', bob);
      expect(bobs.status).toBe(200);
      expect(bobs.body.items.map((item: { id: string }) => item.id)).toContain(card.id);
      expect((await call('GET', '/v1/cards', alice)).body.items.map((item: { id: string }) => item.id)).not.toContain(card.id);

      expect((await call('GET', `/v1/cards/${card.id}`, bob)).body).toEqual(card);
      expect((await call('GET', `/v1/cards/${card.id}`, await s.admin())).status).toBe(200);
      expectError(await call('GET', `/v1/cards/${card.id}`, alice), 403, 'forbidden');
      expectError(await call('GET', '/v1/cards/no-such-card', alice), 404, 'not_found');
      expectError(await call('GET', `/v1/cards/${card.id}`, undefined), 401, 'unauthenticated');
    });

    it('freeze, unfreeze, cancel: 200 with the card; again is a no-op; owner or admin; a canceled card stays canceled (409)', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const frozen = await call('POST', `/v1/cards/${card.id}/freeze`, alice);
      expect({ status: frozen.status, cardStatus: frozen.body.status }).toEqual({ status: 200, cardStatus: 'frozen' });
      expect((await call('POST', `/v1/cards/${card.id}/freeze`, alice)).body.status).toBe('frozen');
      expectError(await call('POST', `/v1/cards/${card.id}/unfreeze`, bob), 403, 'forbidden');
      expect((await call('POST', `/v1/cards/${card.id}/unfreeze`, await s.admin())).body.status).toBe('active');
      const canceled = await call('POST', `/v1/cards/${card.id}/cancel`, alice);
      expect({ status: canceled.status, cardStatus: canceled.body.status }).toEqual({ status: 200, cardStatus: 'canceled' });
      expect((await call('POST', `/v1/cards/${card.id}/cancel`, alice)).body.status).toBe('canceled');
      expectError(await call('POST', `/v1/cards/${card.id}/freeze`, alice), 409, 'card_not_active');
      expectError(await call('POST', '/v1/cards/no-such-card/cancel', bob), 404, 'not_found');
    });

    it('PUT /v1/cards/{id}/spending-controls: 200 with the card; bad controls are 400; not yours is 403', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const controls = { perAuthorization: '5000', monthly: '90000', blockedMccs: ['7995', '6051'], allowedCountries: ['US', 'DE'] };
      const set = await call('PUT', `/v1/cards/${card.id}/spending-controls`, alice, controls);
      expect(set.status).toBe(200);
      expect(set.body.spendingControls).toEqual(controls);
      expectError(await call('PUT', `/v1/cards/${card.id}/spending-controls`, alice, { blockedMccs: ['79'] }), 400, 'validation_failed');
      expectError(await call('PUT', `/v1/cards/${card.id}/spending-controls`, bob, controls), 403, 'forbidden');
    });

    it('reveal: 200 {pan, cvv, expMonth, expYear} to the owner with the password; 403 step_up_required without a valid one; never to others or admins', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const secrets = s.fakeCards!.secretsOf(card.id);
      const revealed = await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password });
      expect(revealed.status).toBe(200);
      expect(revealed.body).toEqual(secrets);
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: 'not-the-password' }), 403, 'step_up_required');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, {}), 403, 'step_up_required');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, { totp: '123456' }), 403, 'step_up_required'); // no TOTP enrolled
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, bob, { password: bob.password }), 403, 'forbidden');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, await s.admin(), { password: 'admin-password-1' }), 403, 'forbidden');
      expectError(await call('POST', '/v1/cards/no-such-card/reveal', alice, { password: alice.password }), 404, 'not_found');
    });

    it('reveal with an Idempotency-Key is never recorded: a retry runs again, and the PAN never enters the event store', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const { pan, cvv } = s.fakeCards!.secretsOf(card.id);
      const key = newKey('reveal');
      const reveals = () => s.fakeCards!.received.filter((message) => message.type === 'RevealCard' && message.cardId === card.id).length;
      const first = await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password }, key);
      const again = await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password }, key);
      expect([first.status, again.status]).toEqual([200, 200]);
      expect(again.headers.get('idempotent-replayed')).toBeNull();
      expect(reveals()).toBe(2);
      // The key is reserved and released (another body under it is reuse), its response never kept.
      const keyEvents = await s.store.readStream(IdempotencyService.streamOf(`user:${alice.id}`, key));
      expect(keyEvents.map((event) => event.type)).not.toContain(IDEMPOTENCY_EVENT_TYPES.recorded);
      const stored = await s.storedText();
      expect(stored).toContain(aliceWallet); // the scan sees the whole store
      expect(stored).not.toContain(pan);
      expect(stored).not.toContain(`"cvv":"${cvv}"`);
    });

    it('GET /v1/cards/{id}/authorizations: {items} of that card, owner or admin', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      expect((await s.network('POST', '/v1/network/authorizations', authorization(card.id))).body.approved).toBe(true);
      const listed = await call('GET', `/v1/cards/${card.id}/authorizations`, alice);
      expect(listed.status).toBe(200);
      expect(listed.body.items).toEqual([expect.objectContaining({ cardId: card.id, approved: true, responseCode: '00', status: 'pending' })]);
      expect((await call('GET', `/v1/cards/${card.id}/authorizations?limit=1`, await s.admin())).body.items).toHaveLength(1);
      expectError(await call('GET', `/v1/cards/${card.id}/authorizations`, bob), 403, 'forbidden');
      expectError(await call('GET', `/v1/cards/${card.id}/authorizations?limit=0`, alice), 400, 'validation_failed');
    });
  });

  describe('card network', () => {
    it('needs X-Network-Key, compared exactly: 401 unauthenticated without it, with another key, or with a bearer token only', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const body = authorization(card.id);
      const before = authorizeCount();
      expectError(await s.request('POST', '/v1/network/authorizations', { body, key: newKey('n') }), 401, 'unauthenticated');
      for (const wrong of ['dev-network-key', `${TEST_NETWORK_KEY}x`, TEST_NETWORK_KEY.slice(0, -1), '']) {
        expectError(await s.request('POST', '/v1/network/authorizations', { body, key: newKey('n'), headers: { 'x-network-key': wrong } }), 401, 'unauthenticated');
      }
      expectError(await s.request('POST', '/v1/network/authorizations', { body, key: newKey('n'), token: alice.token }), 401, 'unauthenticated');
      expect(authorizeCount()).toBe(before); // none reached the card-issuer
    });

    it('requires an Idempotency-Key on every network route: 400 idempotency_key_required', async () => {
      const noKey = (path: string, body: unknown) => s.request('POST', path, { body, headers: { 'x-network-key': TEST_NETWORK_KEY } });
      const card = await s.issueCard(alice, aliceWallet);
      expectError(await noKey('/v1/network/authorizations', authorization(card.id)), 400, 'idempotency_key_required');
      expectError(await noKey('/v1/network/authorizations/some-id/capture', { amount: '1' }), 400, 'idempotency_key_required');
      expectError(await noKey('/v1/network/authorizations/some-id/reverse', {}), 400, 'idempotency_key_required');
      expectError(await noKey('/v1/network/refunds', { authorizationId: 'some-id', amount: '1' }), 400, 'idempotency_key_required');
    });

    it('authorizes: 200 approved with 00; the gateway mints the authorization id once per key, so a retry replays and never authorizes twice', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const key = newKey('auth');
      const before = authorizeCount();
      const first = await s.network('POST', '/v1/network/authorizations', authorization(card.id), key);
      expect(first.status).toBe(200);
      expect(first.body).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          cardId: card.id,
          approved: true,
          responseCode: '00',
          reason: expect.any(String),
          amount: '1000',
          currency: 'USD',
          heldAmount: '1000',
          capturedAmount: '0',
          status: 'pending',
          merchant: MERCHANT,
          createdAt: expect.any(String),
        }),
      );
      expect(isUuidV7(first.body.id)).toBe(true);
      const replayed = await s.network('POST', '/v1/network/authorizations', authorization(card.id), key);
      expect({ status: replayed.status, body: replayed.body, replayed: replayed.headers.get('idempotent-replayed') }).toEqual({
        status: 200,
        body: first.body,
        replayed: 'true',
      });
      expect(authorizeCount()).toBe(before + 1);
      const sent = s.fakeCards!.received.filter((message) => message.type === 'Authorize').at(-1)!;
      expect(sent).toMatchObject({ authorizationId: first.body.id, meta: { actor: 'network:default', idempotencyKey: expect.stringMatching(/^gw:/) } });
      expectError(await s.network('POST', '/v1/network/authorizations', authorization(card.id, { amount: '999' }), key), 422, 'idempotency_key_reuse');
      const other = await s.network('POST', '/v1/network/authorizations', authorization(card.id));
      expect(other.body.id).not.toBe(first.body.id);
    });

    it('answers a decline with 200, approved false and its ISO 8583 code (14, 54, N7, 62, 57, 61)', async () => {
      const card = await s.issueCard(alice, aliceWallet, { spendingControls: { perAuthorization: '5000', blockedMccs: ['7995'] } });
      const secrets = s.fakeCards!.secretsOf(card.id);
      const otherPan = secrets.pan.startsWith('4') ? `5${secrets.pan.slice(1)}` : `4${secrets.pan.slice(1)}`;
      const declines: [string, Record<string, unknown>][] = [
        ['14', { pan: otherPan }],
        ['54', { expYear: secrets.expYear - 5 }],
        ['N7', { cvv: secrets.cvv === '000' ? '001' : '000' }],
        ['57', { merchant: { ...MERCHANT, mcc: '7995' } }],
        ['61', { amount: '5001' }],
      ];
      for (const [code, overrides] of declines) {
        const answer = await s.network('POST', '/v1/network/authorizations', authorization(card.id, overrides));
        expect({ code, status: answer.status, approved: answer.body.approved, responseCode: answer.body.responseCode, state: answer.body.status }).toEqual({
          code,
          status: 200,
          approved: false,
          responseCode: code,
          state: 'declined',
        });
      }
      await call('POST', `/v1/cards/${card.id}/freeze`, alice);
      const frozen = await s.network('POST', '/v1/network/authorizations', authorization(card.id));
      expect({ status: frozen.status, approved: frozen.body.approved, responseCode: frozen.body.responseCode }).toEqual({ status: 200, approved: false, responseCode: '62' });
    });

    it('captures (partial allowed, 422 amount_exceeds_hold above the hold, 409 hold_not_pending after), reverses, refunds (201, 422 above the captured amount)', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const held = (await s.network('POST', '/v1/network/authorizations', authorization(card.id, { amount: '3000' }))).body;
      expectError(await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '3001' }), 422, 'amount_exceeds_hold');
      const captured = await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '2500' });
      expect(captured.status).toBe(200);
      expect(captured.body).toMatchObject({ id: held.id, status: 'captured', capturedAmount: '2500' });
      expectError(await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '1' }), 409, 'hold_not_pending');

      const refundKey = newKey('refund');
      const refund = await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '1000' }, refundKey);
      expect(refund.status).toBe(201);
      expect(refund.body).toMatchObject({ id: expect.any(String), kind: 'card_refund', amount: '1000', currency: 'USD' });
      const replayed = await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '1000' }, refundKey);
      expect({ status: replayed.status, body: replayed.body }).toEqual({ status: 201, body: refund.body });
      expectError(await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '1501' }), 422, 'amount_exceeds_hold');
      expect((await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '1500' })).status).toBe(201);

      const toReverse = (await s.network('POST', '/v1/network/authorizations', authorization(card.id, { amount: '800' }))).body;
      const partial = await s.network('POST', `/v1/network/authorizations/${toReverse.id}/reverse`, { amount: '300' });
      expect(partial.status).toBe(200);
      expect(partial.body).toMatchObject({ heldAmount: '500', status: 'pending' });
      const wholeKey = newKey('whole-reversal');
      const whole = await s.network('POST', `/v1/network/authorizations/${toReverse.id}/reverse`, {}, wholeKey);
      expect(whole.body).toMatchObject({ heldAmount: '0', status: 'reversed' });
      // Its retry sent without a body is the same request (no amount: the whole hold), replayed, not 422 idempotency_key_reuse.
      const retried = await s.request('POST', `/v1/network/authorizations/${toReverse.id}/reverse`, { key: wholeKey, headers: { 'x-network-key': TEST_NETWORK_KEY } });
      expect({ status: retried.status, body: retried.body, replayed: retried.headers.get('idempotent-replayed') }).toEqual({ status: 200, body: whole.body, replayed: 'true' });
      expectError(await s.network('POST', '/v1/network/authorizations/no-such-authorization/capture', { amount: '1' }), 404, 'not_found');
    });

    it('logs no PAN and no CVV of any request or reply (authorizations, reveals, bad input)', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const { pan, cvv } = s.fakeCards!.secretsOf(card.id);
      await s.network('POST', '/v1/network/authorizations', authorization(card.id));
      await s.network('POST', '/v1/network/authorizations', authorization(card.id, { merchant: { ...MERCHANT, mcc: 'coffee' } }));
      await s.network('POST', '/v1/network/authorizations', { ...authorization(card.id), sneaky: pan });
      await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password });
      const logs = s.logLines.join('');
      expect(logs).toContain('"route":"/v1/network/authorizations"'); // the scan sees this test's lines
      expect(logs).not.toContain(pan);
      expect(logs).not.toContain(`"cvv":"${cvv}"`);
    });
    it('counts and times every card-issuer request in /metrics, by topic, type and outcome', async () => {
      const metrics = (await s.request('GET', '/metrics')).text;
      expect(metrics).toMatch(/gateway_bus_requests_total\{topic="cards.commands",type="Authorize",outcome="ok"\} [1-9]/);
      expect(metrics).toMatch(/gateway_bus_requests_total\{topic="cards.queries",type="GetCard",outcome="not_found"\} [1-9]/);
      expect(metrics).toMatch(/gateway_bus_request_duration_seconds_count\{topic="cards.commands",type="RevealCard"\} [1-9]/);
      expect(metrics).toMatch(/gateway_http_requests_total\{method="POST",route="\/v1\/network\/authorizations",status="200"\} [1-9]/);
    });
  });

  describe('rate limits', () => {
    afterAll(async () => {
      await s.restartGateway();
    });

    it('limits reveals per user and the network per IP: 429 rate_limited', async () => {
      await s.restartGateway({ RATE_LIMIT_REVEAL_PER_USER_BURST: '2', RATE_LIMIT_REVEAL_PER_USER_PER_MINUTE: '1', RATE_LIMIT_NETWORK_PER_IP_BURST: '2', RATE_LIMIT_NETWORK_PER_IP_PER_MINUTE: '1' });
      const card = await s.issueCard(alice, aliceWallet);
      const reveal = () => call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password });
      expect([(await reveal()).status, (await reveal()).status]).toEqual([200, 200]);
      const refused = await reveal();
      expectError(refused, 429, 'rate_limited');
      expect(refused.body.error.details.limit).toBe('reveal-per-user');
      const authorize = () => s.network('POST', '/v1/network/authorizations', authorization(card.id));
      expect([(await authorize()).status, (await authorize()).status]).toEqual([200, 200]);
      const limited = await authorize();
      expectError(limited, 429, 'rate_limited');
      expect(limited.body.error.details.limit).toBe('network-per-ip');
    });
  });

  it('describes the card and network routes and their DTOs in /docs-json', async () => {
    const document = (await s.request('GET', '/docs-json')).body;
    for (const path of [
      '/v1/cards',
      '/v1/cards/{id}',
      '/v1/cards/{id}/reveal',
      '/v1/cards/{id}/freeze',
      '/v1/cards/{id}/unfreeze',
      '/v1/cards/{id}/cancel',
      '/v1/cards/{id}/spending-controls',
      '/v1/cards/{id}/authorizations',
      '/v1/network/authorizations',
      '/v1/network/authorizations/{id}/capture',
      '/v1/network/authorizations/{id}/reverse',
      '/v1/network/refunds',
    ]) {
      expect(document.paths).toHaveProperty([path]);
    }
    for (const schema of ['IssueCardDto', 'SpendingControlsDto', 'RevealCardDto', 'AuthorizeDto', 'MerchantDto', 'CaptureDto', 'ReverseDto', 'RefundDto', 'CardResponse', 'AuthorizationResponse', 'RevealedCardResponse']) {
      expect(document.components.schemas).toHaveProperty([schema]);
    }
    expect(document.components.securitySchemes['network-key']).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Network-Key' });
    // Each route states API.md's error statuses and codes; the decline codes are API.md's, no others.
    expect(documentedErrors(document, '/v1/cards/{id}/reveal', 'post')).toMatchObject({ 403: expect.arrayContaining(['forbidden', 'step_up_required']), 404: ['not_found'], 429: ['rate_limited'] });
    expect(documentedErrors(document, '/v1/cards/{id}/unfreeze', 'post')).toMatchObject({ 403: ['forbidden'], 404: ['not_found'], 409: ['card_not_active'] });
    expect(documentedErrors(document, '/v1/cards', 'post')).toMatchObject({ 400: ['validation_failed'], 403: ['forbidden'], 404: ['not_found'], 422: expect.arrayContaining(['limit_exceeded']) });
    expect(documentedErrors(document, '/v1/network/authorizations', 'post')).toMatchObject({ 400: expect.arrayContaining(['idempotency_key_required']), 401: ['unauthenticated'] });
    expect(documentedErrors(document, '/v1/network/authorizations/{id}/capture', 'post')).toMatchObject({ 404: ['not_found'], 409: ['hold_not_pending'], 422: expect.arrayContaining(['amount_exceeds_hold']) });
    // A refund to a wallet closed since the capture is 409 wallet_not_active (the card-issuer's answer).
    expect(documentedErrors(document, '/v1/network/refunds', 'post')).toMatchObject({ 409: ['hold_not_pending', 'wallet_not_active'], 422: expect.arrayContaining(['amount_exceeds_hold']) });
    expect([...document.components.schemas.AuthorizationResponse.properties.responseCode.enum].sort()).toEqual(['00', '05', '14', '51', '54', '57', '61', '62', 'N7']);
  });
});
