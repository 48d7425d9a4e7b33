// The gateway over HTTP in front of the real card-issuer, wallet-ledger and identity on one store
// and bus: every Cards and Card network route of API.md, every decline code, holds on the wallet,
// partial capture, reversal, refund limits, expiry with the injected clock, idempotent replays
// and key reuse, and no PAN or CVV in the event store or the logs.
import { waitFor } from '@ledger/contracts/testing';
import { totpCodeAt } from '../../identity/src/application/totp-codes';
import { IdempotencyService } from './application/idempotency.service';
import { IDEMPOTENCY_EVENT_TYPES } from './domain/idempotency-key';
import { ADMIN, expectError, expectIssuedCard, newKey, startGatewaySystem, type GatewaySystem, type TestUser } from './testing/gateway.harness';

const HOLD_TIMEOUT_MS = 60_000;
const MERCHANT = { name: 'Corner Coffee', mcc: '5814', country: 'US' };

interface Revealed {
  readonly pan: string;
  readonly cvv: string;
  readonly expMonth: number;
  readonly expYear: number;
}

function luhnSum(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return sum % 10;
}

const passesLuhn = (digits: string) => luhnSum(digits) === 0;

/** Another PAN of the same BIN that passes Luhn: a card nobody issued. */
function otherPan(pan: string): string {
  const body = `${pan.slice(0, 6)}${(Number(pan[6]) + 1) % 10}${pan.slice(7, 15)}`;
  return `${body}${(10 - luhnSum(`${body}0`)) % 10}`;
}

describe('gateway with the real card-issuer (e2e)', () => {
  let s: GatewaySystem;
  let alice: TestUser;
  let bob: TestUser;
  let aliceWallet: string;
  /** Every PAN revealed in this run, for the scans at the end. */
  const revealed: Revealed[] = [];

  beforeAll(async () => {
    s = await startGatewaySystem({ identity: 'real', cards: 'real', servicesEnv: { HOLD_TIMEOUT_MS: String(HOLD_TIMEOUT_MS), HOLD_SWEEP_INTERVAL_MS: '20' } });
    alice = await s.register('real-card-alice');
    bob = await s.register('real-card-bob');
    aliceWallet = await s.openWallet(alice, 'USD', '100000');
  });

  afterAll(async () => {
    await s?.close();
  });

  const call = (method: string, path: string, user: TestUser | undefined, body?: unknown, key?: string) => s.request(method, path, { token: user?.token, body, key });
  const balanceOf = async (walletId: string) => (await call('GET', `/v1/wallets/${walletId}`, alice)).body.balance;
  async function reveal(user: TestUser, cardId: string): Promise<Revealed> {
    const answer = await call('POST', `/v1/cards/${cardId}/reveal`, user, { password: user.password });
    if (answer.status !== 200) throw new Error(`reveal: ${answer.status} ${answer.text}`);
    revealed.push(answer.body);
    return answer.body;
  }
  /** A card of `user`'s on `walletId`, with its revealed details. */
  async function cardWithSecrets(user: TestUser, walletId: string, body: Record<string, unknown> = {}) {
    const card = await s.issueCard(user, walletId, body);
    return { card, secrets: await reveal(user, card.id) };
  }
  const authorize = (secrets: Revealed, overrides: Record<string, unknown> = {}, key?: string) =>
    s.network('POST', '/v1/network/authorizations', { ...secrets, amount: '1000', currency: 'USD', merchant: MERCHANT, ...overrides }, key);

  describe('cards', () => {
    it('issues a card (201, the gateway mints its id), lists it, reads it (owner or admin; 404 before 403)', async () => {
      const fields = { walletId: aliceWallet, label: 'travel', spendingControls: { daily: '50000', allowedCountries: ['US'] } };
      const created = await call('POST', '/v1/cards', alice, fields);
      expectIssuedCard(created, fields);
      expect(created.body).not.toHaveProperty('pan');
      expect(created.body).not.toHaveProperty('cvv');
      const listed = await call('GET', '/v1/cards', alice);
      expect(listed.status).toBe(200);
      expect(listed.body.items).toContainEqual(created.body);
      expect((await call('GET', '/v1/cards', bob)).body.items).toEqual([]);
      expect((await call('GET', `/v1/cards/${created.body.id}`, alice)).body).toEqual(created.body);
      expect((await call('GET', `/v1/cards/${created.body.id}`, await s.admin())).status).toBe(200);
      expectError(await call('GET', `/v1/cards/${created.body.id}`, bob), 403, 'forbidden');
      expectError(await call('GET', '/v1/cards/01890000-0000-7000-8000-000000000000', bob), 404, 'not_found');
      expectError(await call('POST', '/v1/cards', bob, { walletId: aliceWallet }), 403, 'forbidden');
    });

    it('reveals {pan, cvv, expMonth, expYear} to the owner after step-up; 403 step_up_required without a valid one; never to others or admins', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      const secrets = await reveal(alice, card.id);
      expect(secrets).toEqual({ pan: expect.stringMatching(/^[0-9]{16}$/), cvv: expect.stringMatching(/^[0-9]{3}$/), expMonth: card.expMonth, expYear: card.expYear });
      expect(secrets.pan.endsWith(card.last4)).toBe(true);
      expect(passesLuhn(secrets.pan)).toBe(true);
      expect(await reveal(alice, card.id)).toEqual(secrets); // the CVV is derived, the same every time
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: 'not-the-password' }), 403, 'step_up_required');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, {}), 403, 'step_up_required');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, bob, { password: bob.password }), 403, 'forbidden');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, await s.admin(), { password: ADMIN.password }), 403, 'forbidden');
      const key = newKey('reveal');
      expect((await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password }, key)).body).toEqual(secrets);
      const again = await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: alice.password }, key);
      expect({ status: again.status, replayed: again.headers.get('idempotent-replayed') }).toEqual({ status: 200, replayed: null });
      // The key is reserved and released (another body under it is reuse), its response never kept.
      const keyEvents = await s.store.readStream(IdempotencyService.streamOf(`user:${alice.id}`, key));
      expect(keyEvents.map((event) => event.type)).not.toContain(IDEMPOTENCY_EVENT_TYPES.recorded);
      // Not recorded, but the key must not stand in for the password: another body under it is reuse.
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, { password: 'not-the-password' }, key), 422, 'idempotency_key_reuse');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, alice, {}, key), 422, 'idempotency_key_reuse');
    });

    it('reveals after a TOTP step-up once the owner has TOTP enabled; a wrong code is 403 step_up_required', async () => {
      const carol = await s.register('real-card-carol');
      const carolWallet = await s.openWallet(carol, 'USD', '1000');
      const card = await s.issueCard(carol, carolWallet);
      const enrolment = await call('POST', '/v1/me/mfa/totp', carol);
      expect((await call('POST', '/v1/me/mfa/totp/confirm', carol, { code: totpCodeAt(enrolment.body.secret, s.clock.nowMs()) })).status).toBe(204);
      s.clock.advance(30_000); // the next time step: a confirmation code is not a step-up code
      const code = totpCodeAt(enrolment.body.secret, s.clock.nowMs());
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      expectError(await call('POST', `/v1/cards/${card.id}/reveal`, carol, { totp: wrong }), 403, 'step_up_required');
      const answer = await call('POST', `/v1/cards/${card.id}/reveal`, carol, { totp: code });
      expect({ status: answer.status, last4: String(answer.body.pan).slice(-4), expMonth: answer.body.expMonth }).toEqual({ status: 200, last4: card.last4, expMonth: card.expMonth });
      revealed.push(answer.body);
    });

    it('freezes, unfreezes and cancels (200 with the card, owner or admin); a canceled card cannot be unfrozen (409 card_not_active)', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      expect((await call('POST', `/v1/cards/${card.id}/freeze`, alice)).body.status).toBe('frozen');
      expect((await call('POST', `/v1/cards/${card.id}/freeze`, alice)).body.status).toBe('frozen');
      expectError(await call('POST', `/v1/cards/${card.id}/unfreeze`, bob), 403, 'forbidden');
      expect((await call('POST', `/v1/cards/${card.id}/unfreeze`, await s.admin())).body.status).toBe('active');
      const canceled = await call('POST', `/v1/cards/${card.id}/cancel`, alice);
      expect({ status: canceled.status, card: canceled.body.status }).toEqual({ status: 200, card: 'canceled' });
      expectError(await call('POST', `/v1/cards/${card.id}/freeze`, alice), 409, 'card_not_active');
      expect((await call('GET', `/v1/cards/${card.id}`, alice)).body.status).toBe('canceled');
    });

    it('answers concurrent freezes (or unfreezes, or cancels) of one card each with 200 and the card, as one freeze of a frozen card', async () => {
      const card = await s.issueCard(alice, aliceWallet);
      for (const [change, status] of [['freeze', 'frozen'], ['unfreeze', 'active'], ['cancel', 'canceled']] as const) {
        const answers = await Promise.all(Array.from({ length: 4 }, () => call('POST', `/v1/cards/${card.id}/${change}`, alice, undefined, newKey(change))));
        expect(answers.map((answer) => ({ status: answer.status, card: answer.body.status }))).toEqual(Array.from({ length: 4 }, () => ({ status: 200, card: status })));
      }
    });

    it('sets spending controls with PUT (200 with the card), and the next authorization obeys them', async () => {
      const { card, secrets } = await cardWithSecrets(alice, aliceWallet);
      const controls = { perAuthorization: '2000', blockedMccs: ['7995'], allowedCountries: ['US', 'DE'] };
      const set = await call('PUT', `/v1/cards/${card.id}/spending-controls`, alice, controls);
      expect(set.status).toBe(200);
      expect(set.body.spendingControls).toEqual({ ...controls, allowedCountries: ['DE', 'US'] }); // the issuer keeps lists sorted
      expect((await authorize(secrets, { amount: '2001' })).body.responseCode).toBe('61');
      expect((await authorize(secrets, { amount: '2000' })).body.responseCode).toBe('00');
      expectError(await call('PUT', `/v1/cards/${card.id}/spending-controls`, bob, controls), 403, 'forbidden');
    });

    it('refuses more blocked MCCs than the card-issuer keeps before the key is taken, naming the field of the body, so the corrected body may use the key', async () => {
      const { card } = await cardWithSecrets(alice, aliceWallet);
      const mccs = (count: number) => Array.from({ length: count }, (_, index) => String(1000 + index));
      const tooMany = await call('PUT', `/v1/cards/${card.id}/spending-controls`, alice, { blockedMccs: mccs(101) }, 'controls-101');
      expectError(tooMany, 400, 'validation_failed');
      expect(tooMany.body.error.details.fields.map((problem: { field: string }) => problem.field)).toEqual(['blockedMccs']);
      const corrected = await call('PUT', `/v1/cards/${card.id}/spending-controls`, alice, { blockedMccs: mccs(100) }, 'controls-101');
      expect(corrected.status).toBe(200);
      expect(corrected.body.spendingControls.blockedMccs).toHaveLength(100);
      const document = (await call('GET', '/docs-json', undefined)).body;
      expect(document.components.schemas.SpendingControlsDto.properties.blockedMccs.maxItems).toBe(100);
    });
  });

  describe('authorizations', () => {
    it('approves: 200 with 00, holds the amount on the wallet, and the card lists it', async () => {
      const wallet = await s.openWallet(alice, 'USD', '5000');
      const { card, secrets } = await cardWithSecrets(alice, wallet);
      const approved = await authorize(secrets, { amount: '1200' });
      expect(approved.status).toBe(200);
      expect(approved.body).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          cardId: card.id,
          approved: true,
          responseCode: '00',
          amount: '1200',
          currency: 'USD',
          heldAmount: '1200',
          capturedAmount: '0',
          status: 'pending',
          merchant: MERCHANT,
        }),
      );
      expect(await balanceOf(wallet)).toEqual({ posted: '5000', pending: '1200', available: '3800' });
      const listed = await call('GET', `/v1/cards/${card.id}/authorizations`, alice);
      expect(listed.status).toBe(200);
      expect(listed.body.items).toEqual([expect.objectContaining({ id: approved.body.id, status: 'pending' })]);
      expectError(await call('GET', `/v1/cards/${card.id}/authorizations`, bob), 403, 'forbidden');
    });

    it('pages a card\'s authorizations with nextCursor, newest first; a cursor no page gave is 400', async () => {
      const wallet = await s.openWallet(alice, 'USD', '5000');
      const { card, secrets } = await cardWithSecrets(alice, wallet);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.unshift((await authorize(secrets, { amount: '10' })).body.id);
      const first = await call('GET', `/v1/cards/${card.id}/authorizations?limit=2`, alice);
      expect(first.body.items.map((item: { id: string }) => item.id)).toEqual(ids.slice(0, 2));
      expect(typeof first.body.nextCursor).toBe('string');
      const second = await call('GET', `/v1/cards/${card.id}/authorizations?limit=2&cursor=${first.body.nextCursor}`, alice);
      expect(second.body).toEqual({ items: [expect.objectContaining({ id: ids[2] })], nextCursor: null });
      expectError(await call('GET', `/v1/cards/${card.id}/authorizations?cursor=${Buffer.from('01:0').toString('base64url')}`, alice), 400, 'validation_failed');
      expectError(await call('GET', `/v1/cards/${card.id}/authorizations?cursor=${'A'.repeat(65)}`, alice), 400, 'validation_failed');
    });

    it('declines with 200, approved false and each ISO 8583 code (14, 54, N7, 62, 57, 61, 51), holding nothing', async () => {
      const wallet = await s.openWallet(alice, 'USD', '3000');
      const { card, secrets } = await cardWithSecrets(alice, wallet, { spendingControls: { perAuthorization: '2500', daily: '2800', blockedMccs: ['7995'], allowedCountries: ['US'] } });
      const declines: [string, Record<string, unknown>][] = [
        ['14', { pan: otherPan(secrets.pan) }],
        ['54', { expYear: secrets.expYear + 1 }],
        ['N7', { cvv: secrets.cvv === '000' ? '001' : '000' }],
        ['57', { merchant: { ...MERCHANT, mcc: '7995' } }],
        ['57', { merchant: { ...MERCHANT, country: 'FR' } }],
        ['61', { amount: '2501' }],
      ];
      for (const [code, overrides] of declines) {
        const answer = await authorize(secrets, overrides);
        expect({ code, status: answer.status, approved: answer.body.approved, responseCode: answer.body.responseCode, state: answer.body.status }).toEqual({
          code,
          status: 200,
          approved: false,
          responseCode: code,
          state: 'declined',
        });
      }
      // The daily limit counts approved holds: 2,000 then 900 more is over 2,800.
      expect((await authorize(secrets, { amount: '2000' })).body.responseCode).toBe('00');
      expect((await authorize(secrets, { amount: '900' })).body).toMatchObject({ approved: false, responseCode: '61' });
      // Insufficient funds: 1,000 left, 800 allowed by the daily limit, but the wallet's available is what counts first here.
      await call('PUT', `/v1/cards/${card.id}/spending-controls`, alice, {});
      expect((await authorize(secrets, { amount: '1001' })).body).toMatchObject({ approved: false, responseCode: '51' });
      await call('POST', `/v1/cards/${card.id}/freeze`, alice);
      expect((await authorize(secrets, { amount: '1' })).body).toMatchObject({ approved: false, responseCode: '62' });
      expect(await balanceOf(wallet)).toEqual({ posted: '3000', pending: '2000', available: '1000' });
    });

    it('captures part of a hold (the rest is released): 422 amount_exceeds_hold above it, 409 hold_not_pending after', async () => {
      const wallet = await s.openWallet(alice, 'USD', '10000');
      const { secrets } = await cardWithSecrets(alice, wallet);
      const held = (await authorize(secrets, { amount: '3000' })).body;
      expectError(await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '3001' }), 422, 'amount_exceeds_hold');
      const captured = await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '2500' });
      expect(captured.status).toBe(200);
      expect(captured.body).toMatchObject({ id: held.id, approved: true, status: 'captured', capturedAmount: '2500' });
      expect(await balanceOf(wallet)).toEqual({ posted: '7500', pending: '0', available: '7500' });
      expectError(await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '1' }), 409, 'hold_not_pending');
      expectError(await s.network('POST', '/v1/network/authorizations/01890000-0000-7000-8000-000000000000/capture', { amount: '1' }), 404, 'not_found');
    });

    it('reverses part of a hold, then the rest', async () => {
      const wallet = await s.openWallet(alice, 'USD', '10000');
      const { secrets } = await cardWithSecrets(alice, wallet);
      const held = (await authorize(secrets, { amount: '800' })).body;
      const partial = await s.network('POST', `/v1/network/authorizations/${held.id}/reverse`, { amount: '300' });
      expect(partial.status).toBe(200);
      expect(partial.body).toMatchObject({ id: held.id, heldAmount: '500', status: 'pending' });
      expect(await balanceOf(wallet)).toEqual({ posted: '10000', pending: '500', available: '9500' });
      const whole = await s.network('POST', `/v1/network/authorizations/${held.id}/reverse`, {});
      expect(whole.body).toMatchObject({ heldAmount: '0', status: 'reversed' });
      expect(await balanceOf(wallet)).toEqual({ posted: '10000', pending: '0', available: '10000' });
      expectError(await s.network('POST', `/v1/network/authorizations/${held.id}/reverse`, {}), 409, 'hold_not_pending');
    });

    it('refunds up to the captured amount less earlier refunds (201 transaction; 422 amount_exceeds_hold beyond)', async () => {
      const wallet = await s.openWallet(alice, 'USD', '10000');
      const { secrets } = await cardWithSecrets(alice, wallet);
      const held = (await authorize(secrets, { amount: '4000' })).body;
      await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '3000' });
      const refund = await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '1000' });
      expect(refund.status).toBe(201);
      expect(refund.body).toMatchObject({ id: expect.any(String), kind: 'card_refund', amount: '1000', currency: 'USD', createdAt: expect.any(String) });
      expect(await balanceOf(wallet)).toEqual({ posted: '8000', pending: '0', available: '8000' });
      expectError(await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '2001' }), 422, 'amount_exceeds_hold');
      expect((await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '2000' })).status).toBe(201);
      expectError(await s.network('POST', '/v1/network/refunds', { authorizationId: held.id, amount: '1' }), 422, 'amount_exceeds_hold');
      expect(await balanceOf(wallet)).toEqual({ posted: '10000', pending: '0', available: '10000' });
    });

    it('replays a retried authorization, capture, reversal and refund (Idempotent-Replayed: true, same body, money moved once); another body is 422', async () => {
      const wallet = await s.openWallet(alice, 'USD', '10000');
      const { secrets } = await cardWithSecrets(alice, wallet);
      const replays = async (path: string, body: unknown, status: number) => {
        const key = newKey('replay');
        const first = await s.network('POST', path, body, key);
        const again = await s.network('POST', path, body, key);
        expect({ status: first.status, againStatus: again.status, body: again.body, replayed: again.headers.get('idempotent-replayed') }).toEqual({
          status,
          againStatus: status,
          body: first.body,
          replayed: 'true',
        });
        expectError(await s.network('POST', path, { ...(body as object), amount: '7' }, key), 422, 'idempotency_key_reuse');
        return first.body;
      };
      const held = await replays('/v1/network/authorizations', { ...secrets, amount: '2000', currency: 'USD', merchant: MERCHANT }, 200);
      expect(await balanceOf(wallet)).toEqual({ posted: '10000', pending: '2000', available: '8000' });
      const second = await replays('/v1/network/authorizations', { ...secrets, amount: '500', currency: 'USD', merchant: MERCHANT }, 200);
      await replays(`/v1/network/authorizations/${second.id}/reverse`, { amount: '100' }, 200);
      await replays(`/v1/network/authorizations/${held.id}/capture`, { amount: '1500' }, 200);
      await replays('/v1/network/refunds', { authorizationId: held.id, amount: '600' }, 201);
      expect(await balanceOf(wallet)).toEqual({ posted: '9100', pending: '400', available: '8700' });
    });

    it('expires a hold after its timeout (the injected clock moves): the authorization shows expired, the wallet pending is released', async () => {
      const wallet = await s.openWallet(alice, 'USD', '10000');
      const { card, secrets } = await cardWithSecrets(alice, wallet);
      const held = (await authorize(secrets, { amount: '700' })).body;
      expect(await balanceOf(wallet)).toMatchObject({ pending: '700' });
      s.clock.advance(HOLD_TIMEOUT_MS + 1_000);
      await waitFor('the hold expires', async () => {
        const items = (await call('GET', `/v1/cards/${card.id}/authorizations`, alice)).body.items as { id: string; status: string }[];
        expect(items.find((item) => item.id === held.id)?.status).toBe('expired');
      });
      expect(await balanceOf(wallet)).toEqual({ posted: '10000', pending: '0', available: '10000' });
      expectError(await s.network('POST', `/v1/network/authorizations/${held.id}/capture`, { amount: '1' }), 409, 'hold_not_pending');
    });

    it('declines an expired card with 54 once the clock passes the end of its expiry month', async () => {
      const { secrets } = await cardWithSecrets(alice, aliceWallet);
      s.clock.set(Date.UTC(secrets.expYear, secrets.expMonth, 1) + 1_000); // the first day after the expiry month
      const answer = await authorize(secrets, { amount: '1' });
      expect(answer.body).toMatchObject({ approved: false, responseCode: '54', status: 'declined' });
    });
  });

  it('keeps every revealed PAN and CVV out of the event store and the logs', async () => {
    expect(revealed.length).toBeGreaterThan(5);
    const store = await s.storedText();
    const logs = s.logLines.join('');
    expect(store).toContain(aliceWallet); // the scans see the whole run
    expect(logs).toContain('"route":"/v1/network/authorizations"');
    for (const { pan } of revealed) {
      expect(store).not.toContain(pan);
      expect(logs).not.toContain(pan);
    }
    expect(store).not.toMatch(/"cvv"\s*:\s*"[0-9]/);
    expect(logs).not.toMatch(/"cvv"\s*:\s*"[0-9]/);
  });
});
