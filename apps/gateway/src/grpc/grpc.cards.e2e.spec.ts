// The gateway's gRPC Cards and CardNetwork services with @grpc/grpc-js clients, in front of the
// fake card-issuer on the bus: every method, ownership, step-up, the network key in
// `x-network-key`, declines as answers, errors as statuses with API.md's codes, Idempotency-Key
// replays (never for reveals), and no PAN or CVV in the gateway's logs.
import { status } from '@grpc/grpc-js';
import { newKey, startGatewaySystem, TEST_NETWORK_KEY, type GatewaySystem, type TestUser } from '../testing/gateway.harness';
import { connectGrpc, type GrpcAnswer, type GrpcClients } from '../testing/grpc-client';

const MERCHANT = { name: 'Corner Coffee', mcc: '5814', country: 'US' };

function expectFailure(answer: GrpcAnswer, grpcStatus: status, code: string): void {
  expect({ response: answer.response, status: answer.error?.status, code: answer.error?.code }).toEqual({ response: undefined, status: grpcStatus, code });
}

describe('gateway gRPC Cards and CardNetwork (e2e, fake card-issuer)', () => {
  let s: GatewaySystem;
  let g: GrpcClients;
  let alice: TestUser;
  let bob: TestUser;
  let aliceWallet: string;

  beforeAll(async () => {
    s = await startGatewaySystem();
    g = connectGrpc(s.gateway().grpcPort);
    alice = await s.register('grpc-card-alice');
    bob = await s.register('grpc-card-bob');
    aliceWallet = await s.openWallet(alice, 'USD', '100000');
  });

  afterAll(async () => {
    g?.close();
    await s?.close();
  });

  const cards = (method: string, request: object, user: TestUser | undefined, key?: string) => g.call('Cards', method, request, { token: user?.token, key });
  /** `key` null: no idempotency-key. */
  const network = (method: string, request: object, key: string | null = newKey('grpc-network')) =>
    g.call('CardNetwork', method, request, { networkKey: TEST_NETWORK_KEY, key: key ?? undefined });
  /** A card's PAN, CVV and expiry, as the fake card-issuer issued them. */
  const secretsOf = (cardId: string) => {
    if (s.fakeCards === undefined) throw new Error('these tests run against the fake card-issuer');
    return s.fakeCards.secretsOf(cardId);
  };
  const authorization = (cardId: string, overrides: Record<string, unknown> = {}) => {
    const { pan, cvv, expMonth, expYear } = secretsOf(cardId);
    return { pan, cvv, expMonth, expYear, amount: '1000', currency: 'USD', merchant: MERCHANT, ...overrides };
  };
  const issue = async (user: TestUser, request: object = {}) => (await cards('IssueCard', { walletId: aliceWallet, ...request }, user)).response;

  describe('cards', () => {
    it('issues a card (no PAN or CVV in it), lists and gets it; owner or admin; 404 before 403', async () => {
      const issued = await cards('IssueCard', { walletId: aliceWallet, label: 'groceries', spendingControls: { daily: '50000', blockedMccs: ['7995'] } }, alice);
      expect(issued.response).toEqual({
        id: expect.any(String),
        walletId: aliceWallet,
        ownerId: alice.id,
        currency: 'USD',
        last4: expect.stringMatching(/^[0-9]{4}$/),
        brand: expect.any(String),
        expMonth: expect.any(Number),
        expYear: expect.any(Number),
        status: 'active',
        label: 'groceries',
        spendingControls: { daily: '50000', blockedMccs: ['7995'], allowedCountries: [] },
        createdAt: expect.any(String),
      });
      const card = issued.response;
      expect(JSON.stringify(card)).not.toContain(secretsOf(card.id).pan);
      expect((await cards('ListCards', {}, alice)).response.items.map((item: { id: string }) => item.id)).toContain(card.id);
      expect((await cards('ListCards', {}, bob)).response.items).toEqual([]);
      expect((await cards('GetCard', { cardId: card.id }, alice)).response).toEqual(card);
      expect((await cards('GetCard', { cardId: card.id }, await s.admin())).response.id).toBe(card.id);
      expectFailure(await cards('GetCard', { cardId: card.id }, bob), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await cards('GetCard', { cardId: 'no-such-card' }, alice), status.NOT_FOUND, 'not_found');
      expectFailure(await cards('GetCard', { cardId: card.id }, undefined), status.UNAUTHENTICATED, 'unauthenticated');
    });

    it("issues only on the caller's own wallet; bad controls are INVALID_ARGUMENT; a key replays one card", async () => {
      expectFailure(await cards('IssueCard', { walletId: aliceWallet }, bob), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await cards('IssueCard', {}, alice), status.INVALID_ARGUMENT, 'validation_failed');
      expectFailure(await cards('IssueCard', { walletId: aliceWallet, spendingControls: { daily: '-1' } }, alice), status.INVALID_ARGUMENT, 'validation_failed');
      const key = newKey('grpc-issue');
      const first = await cards('IssueCard', { walletId: aliceWallet, label: 'once' }, alice, key);
      expect(await cards('IssueCard', { walletId: aliceWallet, label: 'once' }, alice, key)).toEqual({ response: first.response, replayed: true });
      expectFailure(await cards('IssueCard', { walletId: aliceWallet, label: 'twice' }, alice, key), status.FAILED_PRECONDITION, 'idempotency_key_reuse');
    });

    it('replays over gRPC a card issued over HTTP with empty lists (proto3 cannot send an empty list)', async () => {
      const key = newKey('grpc-empty-lists');
      const body = { walletId: aliceWallet, label: 'lists', spendingControls: { daily: '5000', blockedMccs: [], allowedCountries: [] } };
      const overHttp = await s.request('POST', '/v1/cards', { token: alice.token, key, body });
      expect(overHttp.status).toBe(201);
      expect(await cards('IssueCard', body, alice, key)).toEqual({ response: expect.objectContaining({ id: overHttp.body.id }), replayed: true });
    });

    it('freezes, unfreezes, cancels (again is a no-op); a canceled card is FAILED_PRECONDITION card_not_active', async () => {
      const card = await issue(alice);
      expect((await cards('FreezeCard', { cardId: card.id }, alice)).response.status).toBe('frozen');
      expect((await cards('FreezeCard', { cardId: card.id }, alice)).response.status).toBe('frozen');
      expectFailure(await cards('UnfreezeCard', { cardId: card.id }, bob), status.PERMISSION_DENIED, 'forbidden');
      expect((await cards('UnfreezeCard', { cardId: card.id }, alice)).response.status).toBe('active');
      expect((await cards('CancelCard', { cardId: card.id }, await s.admin())).response.status).toBe('canceled');
      expectFailure(await cards('FreezeCard', { cardId: card.id }, alice), status.FAILED_PRECONDITION, 'card_not_active');
    });

    it('replaces the spending controls; bad ones are INVALID_ARGUMENT', async () => {
      const card = await issue(alice);
      const controls = { perAuthorization: '2500', monthly: '90000', allowedCountries: ['US', 'CA'] };
      const set = await cards('SetSpendingControls', { cardId: card.id, spendingControls: controls }, alice);
      expect(set.response.spendingControls).toEqual({ ...controls, blockedMccs: [] });
      expectFailure(await cards('SetSpendingControls', { cardId: card.id, spendingControls: { blockedMccs: ['79'] } }, alice), status.INVALID_ARGUMENT, 'validation_failed');
      expectFailure(await cards('SetSpendingControls', { cardId: card.id, spendingControls: controls }, bob), status.PERMISSION_DENIED, 'forbidden');
    });

    it('refuses a request holding more values than an HTTP body may (BODY_VALUES_MAX) before its rules run: 10,000 distinct MCCs', async () => {
      const card = await issue(alice);
      // Within BODY_LIMIT_BYTES; the DTO's uniqueness rule alone compares them pairwise (50 million comparisons).
      const blockedMccs = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0'));
      const answer = await cards('SetSpendingControls', { cardId: card.id, spendingControls: { blockedMccs } }, alice);
      expectFailure(answer, status.INVALID_ARGUMENT, 'validation_failed');
      expect(answer.error?.details.fields).toEqual([{ field: 'body', reason: 'too_many_values' }]);
    });

    it('reveals to the owner after step-up (PERMISSION_DENIED step_up_required without); never recorded, never to others', async () => {
      const card = await issue(alice);
      const { pan, cvv, expMonth, expYear } = secretsOf(card.id);
      const key = newKey('grpc-reveal');
      const revealed = await cards('RevealCard', { cardId: card.id, password: alice.password }, alice, key);
      expect(revealed).toEqual({ response: { pan, cvv, expMonth, expYear }, replayed: false });
      expect((await cards('RevealCard', { cardId: card.id, password: alice.password }, alice, key)).replayed).toBe(false);
      expectFailure(await cards('RevealCard', { cardId: card.id, password: 'not-the-password' }, alice), status.PERMISSION_DENIED, 'step_up_required');
      expectFailure(await cards('RevealCard', { cardId: card.id }, alice), status.PERMISSION_DENIED, 'step_up_required');
      expectFailure(await cards('RevealCard', { cardId: card.id, password: bob.password }, bob), status.PERMISSION_DENIED, 'forbidden');
    });

    it('lists a card\'s authorizations; a limit of 0 is INVALID_ARGUMENT', async () => {
      const card = await issue(alice);
      const held = await network('Authorize', authorization(card.id, { amount: '700' }));
      const listed = await cards('ListAuthorizations', { cardId: card.id }, alice);
      expect(listed.response.items).toEqual([expect.objectContaining({ id: held.response.id, cardId: card.id, approved: true, responseCode: '00', status: 'pending' })]);
      expectFailure(await cards('ListAuthorizations', { cardId: card.id }, bob), status.PERMISSION_DENIED, 'forbidden');
      expectFailure(await cards('ListAuthorizations', { cardId: card.id, limit: 0 }, alice), status.INVALID_ARGUMENT, 'validation_failed');
      // Paged as ListTransactions is: next_cursor until the last page.
      const second = await network('Authorize', authorization(card.id, { amount: '300' }));
      const first = await cards('ListAuthorizations', { cardId: card.id, limit: 1 }, alice);
      expect(first.response.items.map((item: { id: string }) => item.id)).toEqual([second.response.id]);
      const last = await cards('ListAuthorizations', { cardId: card.id, limit: 1, cursor: first.response.nextCursor }, alice);
      expect(last.response.items.map((item: { id: string }) => item.id)).toEqual([held.response.id]);
      expect(last.response.nextCursor).toBeUndefined();
      expectFailure(await cards('ListAuthorizations', { cardId: card.id, cursor: 'not a cursor' }, alice), status.INVALID_ARGUMENT, 'validation_failed');
    });
  });

  describe('card network', () => {
    it('needs `x-network-key`, exactly: UNAUTHENTICATED without it, with another, or with a bearer token only', async () => {
      const card = await issue(alice);
      const request = authorization(card.id);
      expectFailure(await g.call('CardNetwork', 'Authorize', request, { key: newKey() }), status.UNAUTHENTICATED, 'unauthenticated');
      expectFailure(await g.call('CardNetwork', 'Authorize', request, { key: newKey(), networkKey: `${TEST_NETWORK_KEY}x` }), status.UNAUTHENTICATED, 'unauthenticated');
      expectFailure(await g.call('CardNetwork', 'Authorize', request, { key: newKey(), token: alice.token }), status.UNAUTHENTICATED, 'unauthenticated');
    });

    it('requires an idempotency-key on every method: INVALID_ARGUMENT idempotency_key_required', async () => {
      const card = await issue(alice);
      expectFailure(await network('Authorize', authorization(card.id), null), status.INVALID_ARGUMENT, 'idempotency_key_required');
      expectFailure(await network('Capture', { authorizationId: 'some-id', amount: '1' }, null), status.INVALID_ARGUMENT, 'idempotency_key_required');
      expectFailure(await network('Reverse', { authorizationId: 'some-id' }, null), status.INVALID_ARGUMENT, 'idempotency_key_required');
      expectFailure(await network('Refund', { authorizationId: 'some-id', amount: '1' }, null), status.INVALID_ARGUMENT, 'idempotency_key_required');
    });

    it('authorizes once per key (a retry replays), and answers a decline as approved false with its ISO 8583 code', async () => {
      const card = await issue(alice, { spendingControls: { perAuthorization: '5000' } });
      const key = newKey('grpc-authorize');
      const approved = await network('Authorize', authorization(card.id), key);
      expect(approved.response).toMatchObject({ cardId: card.id, approved: true, responseCode: '00', status: 'pending', amount: '1000', heldAmount: '1000', capturedAmount: '0' });
      expect(await network('Authorize', authorization(card.id), key)).toEqual({ response: approved.response, replayed: true });
      expectFailure(await network('Authorize', authorization(card.id, { amount: '999' }), key), status.FAILED_PRECONDITION, 'idempotency_key_reuse');
      const secrets = secretsOf(card.id);
      const declined = await network('Authorize', authorization(card.id, { cvv: secrets.cvv === '000' ? '001' : '000' }));
      expect(declined.response).toMatchObject({ approved: false, responseCode: 'N7', status: 'declined' });
      expect((await network('Authorize', authorization(card.id, { amount: '5001' }))).response).toMatchObject({ approved: false, responseCode: '61' });
      expectFailure(await network('Authorize', authorization(card.id, { merchant: { ...MERCHANT, mcc: 'coffee' } })), status.INVALID_ARGUMENT, 'validation_failed');
    });

    it('captures (FAILED_PRECONDITION amount_exceeds_hold above the hold, hold_not_pending after), reverses, refunds', async () => {
      const card = await issue(alice);
      const held = (await network('Authorize', authorization(card.id, { amount: '3000' }))).response;
      expectFailure(await network('Capture', { authorizationId: held.id, amount: '3001' }), status.FAILED_PRECONDITION, 'amount_exceeds_hold');
      expect((await network('Capture', { authorizationId: held.id, amount: '2500' })).response).toMatchObject({ id: held.id, status: 'captured', capturedAmount: '2500' });
      expectFailure(await network('Capture', { authorizationId: held.id, amount: '1' }), status.FAILED_PRECONDITION, 'hold_not_pending');
      const refundKey = newKey('grpc-refund');
      const refund = await network('Refund', { authorizationId: held.id, amount: '1000' }, refundKey);
      expect(refund.response).toMatchObject({ kind: 'card_refund', amount: '1000', currency: 'USD' });
      expect(await network('Refund', { authorizationId: held.id, amount: '1000' }, refundKey)).toEqual({ response: refund.response, replayed: true });
      expectFailure(await network('Refund', { authorizationId: held.id, amount: '1501' }), status.FAILED_PRECONDITION, 'amount_exceeds_hold');

      const toReverse = (await network('Authorize', authorization(card.id, { amount: '800' }))).response;
      expect((await network('Reverse', { authorizationId: toReverse.id, amount: '300' })).response).toMatchObject({ heldAmount: '500', status: 'pending' });
      expect((await network('Reverse', { authorizationId: toReverse.id })).response).toMatchObject({ heldAmount: '0', status: 'reversed' });
      expectFailure(await network('Capture', { authorizationId: 'no-such-authorization', amount: '1' }), status.NOT_FOUND, 'not_found');
      const missing = await network('Capture', { amount: '1' });
      expectFailure(missing, status.INVALID_ARGUMENT, 'validation_failed');
      expect(missing.error?.details.fields).toEqual([{ field: 'authorizationId', reason: 'missing' }]);
    });

    it('logs no PAN and no CVV', async () => {
      const card = await issue(alice);
      const { pan, cvv } = secretsOf(card.id);
      await network('Authorize', authorization(card.id));
      await network('Authorize', authorization(card.id, { merchant: { ...MERCHANT, mcc: 'coffee' } }));
      await cards('RevealCard', { cardId: card.id, password: alice.password }, alice);
      const logs = s.logLines.join('\n');
      expect(logs).not.toContain(pan);
      expect(logs).not.toMatch(new RegExp(`"cvv":"?${cvv}`));
    });
  });
});
