// The card-issuer through the bus with the real wallet-ledger and identity: every command and
// query, every decline code, captures, reversals, refunds, expiry, and idempotent replays.
import { UuidV7Generator, uuidv7, type AuthorizationView, type CardCommandEnvelope, type CardCommandMessage, type Merchant, type Reply, type TransactionView } from '@ledger/contracts';
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedState, type ProjectionRunner } from '@ledger/event-store';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard } from '@ledger/ledger';
import { authorize, authorizeMessage, cardholder, issueCard, openWallet, PASSWORD, registerUser } from './testing/card-fixtures';
import type { CardRepository } from './application/card-repository';
import { CardIssuerService, RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS, type CardIssuerServiceDeps } from './application/card-issuer.service';
import type { LedgerClient } from '@ledger/messaging';
import { CAPTURED_AUTHORIZATIONS_KEPT_MAX, CVV_FAILURES_MAX } from './domain/limits';
import type { Card } from './domain/card';
import { loadCardIssuerConfig } from './card-issuer.config';
import { issuerWithProjectionFrozenNow, LEDGER_SHARDS, startCardHarness, type CardHarness } from './testing/card-issuer.harness';

describe('card-issuer through the bus', () => {
  let h: CardHarness;

  beforeEach(async () => {
    h = await startCardHarness();
  });

  afterEach(async () => {
    await h.close({ remove: true });
  });

  async function walletBalance(walletId: string) {
    const account = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!;
    return { posted: account.creditsPosted - account.debitsPosted, pending: account.debitsPending };
  }

  it('issues a card on an active wallet and answers its queries', async () => {
    const userId = await registerUser(h);
    const walletId = await openWallet(h, userId, 'EUR');
    const card = await issueCard(h, userId, walletId, { label: 'groceries', spendingControls: { daily: '5000', blockedMccs: ['7995'] } });
    expect(card).toMatchObject({
      walletId,
      ownerId: userId,
      currency: 'EUR',
      brand: 'visa',
      status: 'active',
      label: 'groceries',
      spendingControls: { daily: '5000', blockedMccs: ['7995'] },
      expMonth: 1,
      expYear: 2029,
    });
    expect(card.last4).toMatch(/^[0-9]{4}$/);
    expect(await h.query({ type: 'GetCard', cardId: card.id })).toEqual({ ok: true, value: card });
    expect(await h.query({ type: 'ListCards', ownerId: userId })).toEqual({ ok: true, value: { items: [card] } });
    expect(await h.query({ type: 'GetCard', cardId: '0190a0a0-0000-7000-8000-000000000000' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('authorizes, captures part, and the ledger releases the rest', async () => {
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '2500' });
    const approved = await authorize(h, message);
    expect(approved).toMatchObject({ id: message.authorizationId, cardId: card.id, approved: true, responseCode: '00', status: 'pending', heldAmount: '2500', holdId: message.authorizationId, walletId });
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 2500n });

    const captured = await h.send<AuthorizationView>({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '2000' });
    expect(captured).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '2000', heldAmount: '0' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 98000n, pending: 0n });
    expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toEqual(captured);
  });

  it('reveals only to the owner after step-up', async () => {
    const { userId, card, secrets } = await cardholder(h);
    expect(secrets.pan).toMatch(/^400000[0-9]{10}$/);
    expect(secrets.pan.slice(-4)).toBe(card.last4);
    expect(secrets.cvv).toMatch(/^[0-9]{3}$/);
    expect(await h.send({ type: 'RevealCard', cardId: card.id, userId, password: 'wrong password!!' })).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
    expect(await h.send({ type: 'RevealCard', cardId: card.id, userId })).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
    const other = await registerUser(h);
    expect(await h.send({ type: 'RevealCard', cardId: card.id, userId: other, password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('reveals again under the key of an earlier reveal only with a good credential again', async () => {
    // The gateway does not record reveals (the reply has the PAN), so one Idempotency-Key is the same service key whenever it comes back.
    const { userId, card, secrets } = await cardholder(h);
    expect(await h.send({ type: 'RevealCard', cardId: card.id, userId, password: PASSWORD }, 'reveal-1')).toMatchObject({ ok: true, value: { pan: secrets.pan } });
    h.clock.advance(60 * 60 * 1000);
    expect(await h.send({ type: 'RevealCard', cardId: card.id, userId, password: 'wrong password!!' }, 'reveal-1')).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
    expect(await h.send({ type: 'RevealCard', cardId: card.id, userId, totp: '000000' }, 'reveal-1')).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
  });
});

describe('card-issuer through the bus: the network side', () => {
  let h: CardHarness;

  beforeEach(async () => {
    h = await startCardHarness({ env: { CARD_HOLD_TIMEOUT_MS: '60000' } });
  });

  afterEach(async () => {
    await h.close({ remove: true });
  });

  async function walletBalance(walletId: string) {
    const account = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!;
    return { posted: account.creditsPosted - account.debitsPosted, pending: account.debitsPending };
  }

  function holdOf(holdId: string, walletId: string) {
    return h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.holds.get(holdId);
  }

  it('takes CVV_FAILURES_MAX wrong CVVs, then declines the right one too (05 cvv_tries_exceeded) until the owner freezes and unfreezes the card', async () => {
    const { card, secrets } = await cardholder(h);
    const wrong = (i: number) => String((Number(secrets.cvv) + 1 + i) % 1000).padStart(3, '0');
    for (let i = 0; i < CVV_FAILURES_MAX; i++) expect(await authorize(h, authorizeMessage(secrets, { cvv: wrong(i) }))).toMatchObject({ responseCode: 'N7' });
    // A guesser trying every CVV learns nothing more: the right one is declined as the wrong ones are.
    expect(await authorize(h, authorizeMessage(secrets))).toMatchObject({ approved: false, responseCode: '05', reason: 'cvv_tries_exceeded' });
    expect(await authorize(h, authorizeMessage(secrets, { cvv: wrong(CVV_FAILURES_MAX) }))).toMatchObject({ responseCode: '05', reason: 'cvv_tries_exceeded' });
    expect(await h.send({ type: 'FreezeCard', cardId: card.id })).toMatchObject({ ok: true });
    expect(await h.send({ type: 'UnfreezeCard', cardId: card.id })).toMatchObject({ ok: true });
    expect(await authorize(h, authorizeMessage(secrets))).toMatchObject({ approved: true, responseCode: '00' });
  });

  it('answers every decline code as a successful reply, recorded, without a hold', async () => {
    const { walletId, card, secrets } = await cardholder(h, { topUp: '5000', spendingControls: { perAuthorization: '3000', blockedMccs: ['7995'], allowedCountries: ['FR', 'DE'] } });
    const cases: [Partial<Parameters<typeof authorizeMessage>[1]>, string, string][] = [
      [{ pan: '4000000000000002' }, '14', 'unknown_card'],
      [{ expYear: secrets.expYear + 1 }, '54', 'expiry_mismatch'],
      [{ cvv: secrets.cvv === '999' ? '998' : String(Number(secrets.cvv) + 1).padStart(3, '0') }, 'N7', 'cvv_mismatch'],
      [{ merchant: { name: 'Casino', mcc: '7995', country: 'FR' } }, '57', 'blocked_mcc'],
      [{ merchant: { name: 'Shop', mcc: '5411', country: 'US' } }, '57', 'country_not_allowed'],
      [{ amount: '3001' }, '61', 'per_authorization_limit'],
      [{ currency: 'EUR' }, '05', 'currency_mismatch'],
      [{ amount: '2999', merchant: { name: 'Shop', mcc: '5411', country: 'DE' } }, '00', 'approved'],
      [{ amount: '2500' }, '51', 'insufficient_funds'],
    ];
    for (const [overrides, code, reason] of cases) {
      const message = authorizeMessage(secrets, overrides);
      const view = await authorize(h, message);
      expect(view).toMatchObject({ id: message.authorizationId, responseCode: code, reason, approved: code === '00', status: code === '00' ? 'pending' : 'declined' });
      expect(view.cardId).toBe(code === '14' ? null : card.id);
      expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toEqual({ ok: true, value: view });
      expect(holdOf(message.authorizationId, walletId) !== undefined).toBe(code === '00');
    }
    expect(await walletBalance(walletId)).toEqual({ posted: 5000n, pending: 2999n });

    // 62: a frozen card (issuer), then a frozen wallet (the ledger's answer to the hold).
    expect(await h.send({ type: 'FreezeCard', cardId: card.id })).toMatchObject({ ok: true, value: { status: 'frozen' } });
    expect(await authorize(h, authorizeMessage(secrets, { amount: '1' }))).toMatchObject({ responseCode: '62', reason: 'card_frozen' });
    expect(await h.send({ type: 'UnfreezeCard', cardId: card.id })).toMatchObject({ ok: true, value: { status: 'active' } });
    expect(await h.ledger.send({ type: 'FreezeWallet', walletId }, 'freeze-wallet')).toMatchObject({ ok: true });
    expect(await authorize(h, authorizeMessage(secrets, { amount: '1' }))).toMatchObject({ responseCode: '62', reason: 'wallet_not_active' });
    expect(await walletBalance(walletId)).toEqual({ posted: 5000n, pending: 2999n });

    const listed = await h.query<{ items: AuthorizationView[] }>({ type: 'ListAuthorizations', cardId: card.id, limit: 3 });
    expect(listed.ok && listed.value.items.map((item) => item.reason)).toEqual(['wallet_not_active', 'card_frozen', 'insufficient_funds']);
  });

  it("pages a card's authorizations newest first with nextCursor, past any one page's limit", async () => {
    const { card, secrets } = await cardholder(h);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const message = authorizeMessage(secrets, { amount: '1' });
      await authorize(h, message);
      ids.unshift(message.authorizationId);
    }
    type Page = { items: AuthorizationView[]; nextCursor: string | null };
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 5; pages++) {
      const page = await h.query<Page>({ type: 'ListAuthorizations', cardId: card.id, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      if (!page.ok) throw new Error(`list failed: ${page.error.code}`);
      seen.push(...page.value.items.map((item) => item.id));
      if (page.value.nextCursor === null) break;
      cursor = page.value.nextCursor;
      // A newer authorization does not shift the pages after it.
      if (pages === 0) await authorize(h, authorizeMessage(secrets, { amount: '1' }));
    }
    expect(seen).toEqual(ids);
    for (const bad of ['not-a-cursor!', 'MTI', Buffer.from('01:0').toString('base64url'), 'x'.repeat(65)]) {
      expect(await h.query({ type: 'ListAuthorizations', cardId: card.id, cursor: bad })).toMatchObject({ ok: false, error: { code: 'validation_failed', details: { fields: [{ field: 'cursor', reason: 'invalid_cursor' }] } } });
    }
  });

  it('54 for a card past the end of its expiry month', async () => {
    const { secrets } = await cardholder(h);
    h.clock.set(Date.UTC(secrets.expYear, secrets.expMonth, 1)); // the first millisecond after the expiry month
    expect(await authorize(h, authorizeMessage(secrets))).toMatchObject({ responseCode: '54', reason: 'expired_card' });
  });

  it('reverses part of a hold, then the rest; a finished hold cannot be reversed', async () => {
    const { walletId, secrets } = await cardholder(h);
    const { authorizationId } = authorizeMessage(secrets);
    await authorize(h, { ...authorizeMessage(secrets, { amount: '1000' }), authorizationId });
    expect(await h.send({ type: 'ReverseAuthorization', authorizationId, amount: '300' })).toMatchObject({ ok: true, value: { status: 'pending', heldAmount: '700' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 700n });
    expect(await h.send({ type: 'ReverseAuthorization', authorizationId, amount: '701' })).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold' } });
    expect(await h.send({ type: 'ReverseAuthorization', authorizationId })).toMatchObject({ ok: true, value: { status: 'reversed', heldAmount: '0' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 0n });
    expect(await h.send({ type: 'ReverseAuthorization', authorizationId })).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId, amount: '1' })).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
  });

  it('refuses every refund to a wallet closed since the capture with wallet_not_active, not a retry forever, moving nothing', async () => {
    const { walletId, secrets } = await cardholder(h, { topUp: '1000' });
    const { id: authorizationId } = await authorize(h, authorizeMessage(secrets, { amount: '1000' }));
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId, amount: '1000' })).toMatchObject({ ok: true, value: { status: 'captured' } });
    expect(await h.ledger.send({ type: 'CloseWallet', walletId }, `close-${walletId}`)).toMatchObject({ ok: true, value: { status: 'closed' } });
    const refund = (refundId: string) => ({ type: 'RefundAuthorization' as const, refundId, authorizationId, amount: '400' });
    expect(await h.send(refund('r1'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
    // Another refund id of the network takes the same refund slot, which the first refusal holds at the ledger.
    expect(await h.send(refund('r2'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
    expect(await h.send(refund('r2'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
    expect(await h.query({ type: 'GetAuthorization', authorizationId })).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '1000', refundedAmount: '0' } });
    const clearing = `sys:card-clearing:USD:${accountShard(walletId, LEDGER_SHARDS)}`;
    expect(await h.ledger.client.query({ type: 'GetAccountSums', accountId: clearing })).toMatchObject({ ok: true, value: { creditsPosted: '1000', debitsPosted: '0' } });
  });

  it('answers an authorization id decided long ago (its state pruned) with its first outcome, never a second decision or hold', async () => {
    const { walletId, secrets } = await cardholder(h);
    const first = authorizeMessage(secrets, { amount: '700', cvv: secrets.cvv === '000' ? '001' : '000' });
    expect(await authorize(h, first)).toMatchObject({ approved: false, responseCode: 'N7' });
    h.clock.advance(25 * 60 * 60 * 1000);
    expect(await authorize(h, authorizeMessage(secrets, { amount: '1' }))).toMatchObject({ approved: true });
    const again = await h.send<AuthorizationView>({ ...first, cvv: secrets.cvv });
    expect(again).toMatchObject({ ok: true, value: { id: first.authorizationId, approved: false, responseCode: 'N7', status: 'declined' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 1n });
  });

  it('learns from ledger.events only a card refund that credits the card\'s wallet, not any entry of kind card_refund naming the authorization', async () => {
    const { walletId, secrets } = await cardholder(h);
    const { id: authorizationId } = await authorize(h, authorizeMessage(secrets, { amount: '1000' }));
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId, amount: '1000' })).toMatchObject({ ok: true });
    const { id: later } = await authorize(h, authorizeMessage(secrets, { amount: '200' }));
    const shard = accountShard(walletId, LEDGER_SHARDS);
    // Another internal service's entry (PostEntry is open to them) that names the authorization but pays no one of the card.
    const forged = await h.ledger.send(
      {
        type: 'PostEntry',
        entryId: uuidv7.next(),
        kind: 'card_refund',
        postings: [
          { accountId: `sys:funding:USD:${shard}`, side: 'debit', amount: '600', currency: 'USD' },
          { accountId: `sys:fees:USD:${shard}`, side: 'credit', amount: '600', currency: 'USD' },
        ],
        references: { authorizationId, refundId: 'not-a-refund' },
      },
      'forged-refund',
    );
    expect(forged).toMatchObject({ ok: true });
    // A later event of the same shard the card learns: once it shows, the entry before it was handled too.
    expect(await h.ledger.send({ type: 'CaptureHold', holdId: later, walletId, amount: '200' }, 'capture-at-the-ledger')).toMatchObject({ ok: true });
    await waitFor('the capture made at the ledger to be learnt', async () =>
      expect(await h.query({ type: 'GetAuthorization', authorizationId: later })).toMatchObject({ ok: true, value: { status: 'captured' } }),
    );
    expect(await h.query({ type: 'GetAuthorization', authorizationId })).toMatchObject({ ok: true, value: { capturedAmount: '1000', refundedAmount: '0' } });
    expect(await h.send({ type: 'RefundAuthorization', refundId: 'r1', authorizationId, amount: '1000' })).toMatchObject({ ok: true, value: { amount: '1000' } });
  });

  it('learns from ledger.events only the ends of the hold on the card\'s wallet, not of a hold of the same id on another shard', async () => {
    const { walletId, secrets } = await cardholder(h);
    const { id: authorizationId } = await authorize(h, authorizeMessage(secrets, { amount: '1000' }));
    // Hold ids are unique per ledger shard only: another internal caller may hold under the same id elsewhere.
    const stranger = await registerUser(h);
    let otherWallet = await openWallet(h, stranger);
    while (accountShard(otherWallet, LEDGER_SHARDS) === accountShard(walletId, LEDGER_SHARDS)) otherWallet = await openWallet(h, stranger);
    expect(await h.ledger.send({ type: 'PlaceHold', holdId: authorizationId, walletId: otherWallet, amount: '1000' }, 'other-hold')).toMatchObject({ ok: true });
    expect(await h.ledger.send({ type: 'ReleaseHold', holdId: authorizationId, walletId: otherWallet }, 'other-release')).toMatchObject({ ok: true });
    const otherShard = await h.ledger.store.readStream(`ledger-${accountShard(otherWallet, LEDGER_SHARDS)}`);
    const release = otherShard.find((event) => event.type === 'ledger.HoldReleased.v1')!;
    await waitFor('the card-issuer to have handled the other release', async () =>
      expect(h.db.prepare('SELECT 1 FROM processed_events WHERE event_id = ?').get(release.eventId)).toBeDefined(),
    );
    expect(await h.query({ type: 'GetAuthorization', authorizationId })).toMatchObject({ ok: true, value: { status: 'pending', heldAmount: '1000' } });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId, amount: '1000' })).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '1000' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 99000n, pending: 0n });
  });

  it('captures no more than held, also on a canceled card, and refunds at most the capture less refunds', async () => {
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '1000' });
    await authorize(h, message);
    const { authorizationId } = message;
    expect(await h.send({ type: 'CancelCard', cardId: card.id })).toMatchObject({ ok: true, value: { status: 'canceled' } });
    expect(await h.send({ type: 'CancelCard', cardId: card.id })).toMatchObject({ ok: false, error: { code: 'card_not_active' } });
    expect(await authorize(h, authorizeMessage(secrets))).toMatchObject({ responseCode: '62', reason: 'card_canceled' });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId, amount: '1001' })).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold' } });
    expect(await h.send({ type: 'RefundAuthorization', refundId: 'r0', authorizationId, amount: '1' })).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId, amount: '800' })).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '800' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 99200n, pending: 0n });

    const refund = await h.send<TransactionView>({ type: 'RefundAuthorization', refundId: 'r1', authorizationId, amount: '500' });
    expect(refund).toEqual({ ok: true, value: { id: expect.any(String), kind: 'card_refund', status: 'posted', amount: '500', currency: 'USD', toWalletId: walletId, createdAt: expect.any(String) } });
    expect(await h.send({ type: 'RefundAuthorization', refundId: 'r1', authorizationId, amount: '500' })).toEqual(refund);
    expect(await h.send({ type: 'RefundAuthorization', refundId: 'r2', authorizationId, amount: '301' })).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold', details: { available: '300' } } });
    expect(await h.send({ type: 'RefundAuthorization', refundId: 'r2', authorizationId, amount: '300' })).toMatchObject({ ok: true, value: { amount: '300' } });
    expect(await h.send({ type: 'RefundAuthorization', refundId: 'r3', authorizationId, amount: '1' })).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 0n });
    expect(await h.query({ type: 'GetAuthorization', authorizationId })).toMatchObject({ ok: true, value: { capturedAmount: '800', refundedAmount: '800' } });
    const clearing = `sys:card-clearing:USD:${accountShard(walletId, LEDGER_SHARDS)}`;
    expect(await h.ledger.client.query({ type: 'GetAccountSums', accountId: clearing })).toMatchObject({ ok: true, value: { creditsPosted: '800', debitsPosted: '800' } });
  });

  it('replays Authorize, Capture and Reverse with their first outcome, never holding twice', async () => {
    const { walletId, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '1500' });
    const first = await h.send(message, 'net-1');
    expect(await h.send(message, 'net-1')).toEqual(first);
    expect(await h.send({ ...message, cvv: '000', amount: '1' }, 'net-other')).toEqual(first); // the id names the authorization
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 1500n });
    const reversal = await h.send({ type: 'ReverseAuthorization', authorizationId: message.authorizationId, amount: '500' }, 'rev-1');
    expect(reversal).toMatchObject({ ok: true, value: { heldAmount: '1000' } });
    expect(await h.send({ type: 'ReverseAuthorization', authorizationId: message.authorizationId, amount: '500' }, 'rev-1')).toEqual(reversal);
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 1000n });
    const capture = await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '1000' }, 'cap-1');
    expect(capture).toMatchObject({ ok: true, value: { status: 'captured' } });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '1000' }, 'cap-1')).toEqual(capture);
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '1000' }, 'cap-2')).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
    expect(await walletBalance(walletId)).toEqual({ posted: 99000n, pending: 0n });

    const unknown = authorizeMessage(secrets, { pan: '4000000000000002' });
    const declined = await h.send(unknown, 'net-2');
    expect(await h.send(unknown, 'net-2')).toEqual(declined);
  });

  it('expires an authorization when the ledger expires its hold', async () => {
    const { walletId, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '700' });
    await authorize(h, message);
    h.clock.advance(60_001);
    await waitFor('the authorization to expire', async () => {
      const view = await h.query<AuthorizationView>({ type: 'GetAuthorization', authorizationId: message.authorizationId });
      expect(view).toMatchObject({ ok: true, value: { status: 'expired', heldAmount: '0' } });
    });
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 0n });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '700' })).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
  });

  it('keeps the daily limit under concurrent authorizations of one card', async () => {
    const { walletId, secrets } = await cardholder(h, { spendingControls: { daily: '5000' } });
    const views = await Promise.all(Array.from({ length: 12 }, () => authorize(h, authorizeMessage(secrets, { amount: '1000' }))));
    expect(views.filter((view) => view.approved)).toHaveLength(5);
    expect(views.filter((view) => view.responseCode === '61')).toHaveLength(7);
    expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 5000n });
  });

  it('commits the authorizations of different cards together (group commit), each still durable before its reply', async () => {
    const holders = await Promise.all(Array.from({ length: 6 }, () => cardholder(h)));
    const appendMany = jest.spyOn(h.ledger.store, 'appendMany');
    const append = jest.spyOn(h.ledger.store, 'append');
    try {
      const views = await Promise.all(holders.map(({ secrets }) => authorize(h, authorizeMessage(secrets, { amount: '1000' }))));
      expect(views.every((view) => view.approved)).toBe(true);
      const cardAppends = (streams: string[]) => streams.filter((streamId) => streamId.startsWith('card-'));
      expect(cardAppends(append.mock.calls.map(([streamId]) => streamId))).toEqual([]);
      const commits = appendMany.mock.calls.map(([requests]) => cardAppends(requests.map((request) => request.streamId))).filter((streams) => streams.length > 0);
      expect(commits.flat()).toHaveLength(12); // each card's intent and outcome
      expect(commits.length).toBeLessThan(12);
      for (const { walletId } of holders) expect(await walletBalance(walletId)).toEqual({ posted: 100000n, pending: 1000n });
    } finally {
      appendMany.mockRestore();
      append.mockRestore();
    }
  });

  it("reads a PAN's reservation once, then remembers which card it finds", async () => {
    const { secrets } = await cardholder(h);
    const readStream = jest.spyOn(h.ledger.store, 'readStream');
    try {
      for (let i = 0; i < 3; i++) expect(await authorize(h, authorizeMessage(secrets, { amount: '1000' }))).toMatchObject({ approved: true });
      expect(readStream.mock.calls.filter(([streamId]) => streamId.startsWith('card-pan-'))).toHaveLength(1);
    } finally {
      readStream.mockRestore();
    }
  });

  it('refuses malformed commands and unknown ids', async () => {
    const { card, secrets } = await cardholder(h);
    const bad = await h.send({ ...authorizeMessage(secrets), pan: 'x', cvv: '12', amount: '-1', merchant: { name: '', mcc: '54', country: 'fr' } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(JSON.stringify(bad)).not.toContain(secrets.cvv.length === 3 ? `"${secrets.cvv}"` : 'never');
    expect(await h.sendRaw({ type: 'FreezeCard', cardId: card.id, meta: { actor: 'x' } })).toMatchObject({ ok: false, error: { code: 'idempotency_key_required' } });
    expect(await h.send({ type: 'FreezeCard', cardId: 'not-a-card' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: 'nope', amount: '1' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await h.query({ type: 'GetAuthorization', authorizationId: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await h.send({ type: 'SetSpendingControls', cardId: card.id, spendingControls: { daily: 'ten' } })).toMatchObject({
      ok: false,
      error: { code: 'validation_failed', details: { fields: [{ field: 'spendingControls.daily', reason: 'not_a_digit_string' }] } },
    });
    expect(await h.send({ type: 'SetSpendingControls', cardId: card.id, spendingControls: { daily: '10' } })).toMatchObject({ ok: true, value: { spendingControls: { daily: '10' } } });
    const userId = await registerUser(h);
    expect(await h.send({ type: 'IssueCard', cardId: card.id.replace(/.$/, (c) => (c === '0' ? '1' : '0')), ownerId: userId, walletId: 'no-such-wallet' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const walletId = await openWallet(h, userId);
    expect(await h.send({ type: 'IssueCard', cardId: card.id, ownerId: userId, walletId })).toMatchObject({ ok: false, error: { code: 'idempotency_key_reuse' } });
    expect(await h.ledger.send({ type: 'FreezeWallet', walletId }, `freeze-${walletId}`)).toMatchObject({ ok: true });
    expect(await h.send({ type: 'IssueCard', cardId: '0190a0a0-0000-7000-8000-00000000abcd', ownerId: userId, walletId })).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
  });
});

describe('card-issuer crash recovery', () => {
  let h: CardHarness | undefined;

  afterEach(async () => {
    await h?.close({ remove: true });
    h = undefined;
  });

  /** A harness whose hold placements fail just after the ledger answered, while `crash.armed`. */
  function startFailingAfterHold(crash: { readonly armed: boolean }): Promise<CardHarness> {
    return startCardHarness({
      afterLedgerReply: (operation) => {
        if (crash.armed && operation === 'hold') throw new Error('simulated failure after the hold');
      },
    });
  }

  /** A day passes and the wallet's shard moves on: the ledger forgets the keys of the first tries. */
  async function aDayLater(userId: string, walletId: string): Promise<void> {
    h!.clock.advance(25 * 60 * 60 * 1000);
    expect(await h!.ledger.send({ type: 'OpenWallet', walletId: uuidv7.next(), ownerId: userId, currency: 'USD' }, `later-open-${walletId}`)).toMatchObject({ ok: true });
    expect(await h!.ledger.send({ type: 'TopUp', walletId, amount: '1' }, `later-top-up-${walletId}`)).toMatchObject({ ok: true });
  }

  /** Long enough after the intent that no issuer process can still be waiting for its hold's answer. */
  function pastInFlight(): void {
    h!.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * loadCardIssuerConfig({}).CARD_UPSTREAM_TIMEOUT_MS);
  }

  it('a crash between the hold and its recorded outcome leaves no orphan hold: released on start, declined 05', async () => {
    const crash = { armed: true };
    h = await startFailingAfterHold(crash);
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '1200' });
    expect(await h.send(message)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    const shard = accountShard(walletId, LEDGER_SHARDS);
    expect(h.ledger.ledger.service.writer(shard)!.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'pending', heldAmount: 1200n });

    expect((await h.restartCards()).recovery).toEqual({ recovered: 0, left: 1 }); // maybe still in flight in another process
    pastInFlight();
    const restarted = await h.restartCards();
    expect(restarted.recovery).toEqual({ recovered: 1, left: 0 });
    expect(h.ledger.ledger.service.writer(shard)!.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(h.ledger.ledger.service.writer(shard)!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
    const view = await h.send(message);
    expect(view).toMatchObject({ ok: true, value: { approved: false, responseCode: '05', reason: 'issuer_recovered', status: 'declined', cardId: card.id } });
    // The card's limits no longer count it, and the card authorizes again.
    expect(await authorize(h, authorizeMessage(secrets, { amount: '1200' }))).toMatchObject({ approved: true });
  });

  it('a crash between the recovery\'s decline and its release leaves no orphan hold: the next start releases it', async () => {
    const crash = { armed: true };
    h = await startFailingAfterHold(crash);
    const harness = h;
    const { walletId, secrets } = await cardholder(harness);
    const message = authorizeMessage(secrets, { amount: '700' });
    expect(await harness.send(message)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    pastInFlight();
    // A process declines the authorization and dies as its release goes out: what it remembered dies with it.
    const deps = (harness.cards.service as unknown as { deps: CardIssuerServiceDeps }).deps;
    const ledger = Object.create(deps.ledger) as LedgerClient;
    ledger.command = async (command, options) => {
      if (command.type === 'ReleaseHold') throw new Error('simulated crash before the release');
      return deps.ledger.command(command, options) as never;
    };
    expect(await new CardIssuerService({ ...deps, ledger }).recoverRequested()).toEqual({ recovered: 0, left: 1 });
    expect(await harness.send(message)).toMatchObject({ ok: true, value: { approved: false, reason: 'issuer_recovered', status: 'declined' } });
    const shard = accountShard(walletId, LEDGER_SHARDS);
    expect(harness.ledger.ledger.service.writer(shard)!.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'pending', heldAmount: 700n });
    // The next start's recovery owes that release still.
    await harness.restartCards();
    await waitFor('the orphan hold released', () => harness.ledger.ledger.service.writer(shard)!.currentState.holds.get(message.authorizationId)?.status === 'released');
    expect(harness.ledger.ledger.service.writer(shard)!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
  });

  it('a network retry reaching one process while another recovers the authorization gets the one answer: never approved on a released hold', async () => {
    const crash = { armed: true };
    h = await startFailingAfterHold(crash);
    const harness = h;
    const { walletId, secrets } = await cardholder(harness);
    const message = authorizeMessage(secrets, { amount: '900' });
    expect(await harness.send(message, 'net-retry')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    pastInFlight();
    // Another issuer process recovers it; the moment the ledger released the hold there, the network's retry reaches this process.
    const deps = (harness.cards.service as unknown as { deps: CardIssuerServiceDeps }).deps;
    let retried: Reply<unknown> | undefined;
    const ledger = Object.create(deps.ledger) as LedgerClient;
    ledger.command = async (command, options) => {
      const reply = await deps.ledger.command(command, options);
      if (command.type === 'ReleaseHold' && retried === undefined) retried = await harness.send(message, 'net-retry');
      return reply as never;
    };
    expect(await new CardIssuerService({ ...deps, ledger }).recoverRequested()).toEqual({ recovered: 1, left: 0 });
    const hold = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.holds.get(message.authorizationId);
    expect(hold).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(retried).toMatchObject({ ok: true, value: { approved: false, responseCode: '05', reason: 'issuer_recovered', status: 'declined' } });
    expect(await harness.send(message, 'net-retry')).toEqual(retried);
  });

  it('recovers a hold placed more than a day before the issuer came back: released, not left pending behind a decline', async () => {
    // The ledger forgets the hold's key after its idempotency window, while the hold stays pending for days.
    h = await startCardHarness({
      afterLedgerReply: (operation) => {
        if (operation === 'hold') throw new Error('simulated crash after the hold');
      },
    });
    const { userId, walletId, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '1200' });
    expect(await h.send(message)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await aDayLater(userId, walletId);
    const restarted = await h.restartCards();
    expect(restarted.recovery).toEqual({ recovered: 1, left: 0 });
    const shard = accountShard(walletId, LEDGER_SHARDS);
    expect(h.ledger.ledger.service.writer(shard)!.currentState.holds.get(message.authorizationId)).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(h.ledger.ledger.service.writer(shard)!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
    expect(await h.send(message)).toMatchObject({ ok: true, value: { approved: false, responseCode: '05', reason: 'issuer_recovered' } });
  });

  it('a retry of an interrupted authorization more than a day later leaves no hold pending behind its decline', async () => {
    const crash = { armed: true };
    h = await startFailingAfterHold(crash);
    const { userId, walletId, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '700' });
    expect(await h.send(message, 'late-retry')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    await aDayLater(userId, walletId);
    // The ledger no longer knows the first try's key: it refuses the hold as existing. Never declined with 700 still held.
    expect(await h.send(message, 'late-retry')).toMatchObject({ ok: true, value: { approved: false, responseCode: '05', reason: 'issuer_recovered' } });
    const shard = accountShard(walletId, LEDGER_SHARDS);
    expect(h.ledger.ledger.service.writer(shard)!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
  });

  it('a card stream written elsewhere between the hold and its recorded outcome: the outcome is decided again on the fresh stream', async () => {
    const elsewhere = { cardId: '' };
    h = await startCardHarness({
      afterLedgerReply: async (operation) => {
        if (operation !== 'hold' || elsewhere.cardId === '') return;
        // Another issuer process appends to the card (a reveal) while this one waits for the ledger.
        const eventId = uuidv7.next();
        await h!.ledger.store.append(
          `card-${elsewhere.cardId}`,
          [{ eventId, type: 'cards.CardRevealed.v1', schemaVersion: 1, data: { userId: 'u-elsewhere', atMs: 0 }, metadata: { correlationId: eventId, causationId: eventId, actor: 'other-issuer', occurredAt: '2026-01-01T00:00:00.000Z' } }],
          expectedState.any,
        );
        elsewhere.cardId = '';
      },
    });
    const { walletId, card, secrets } = await cardholder(h);
    elsewhere.cardId = card.id;
    expect(await authorize(h, authorizeMessage(secrets, { amount: '700' }))).toMatchObject({ approved: true, status: 'pending', heldAmount: '700' });
    expect(elsewhere.cardId).toBe('');
    expect(h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 700n });
  });

  it('another issuer process\'s recovery leaves an authorization still in flight alone: it is approved, not declined 05', async () => {
    let reachLedgerReply: () => void = () => undefined;
    const atLedgerReply = new Promise<void>((resolve) => (reachLedgerReply = resolve));
    let letGo: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    h = await startCardHarness({
      afterLedgerReply: async (operation) => {
        if (operation !== 'hold') return;
        reachLedgerReply();
        await gate; // the ledger placed the hold; this process has not recorded it yet
      },
    });
    const harness = h;
    const { walletId, secrets } = await cardholder(harness);
    const message = authorizeMessage(secrets, { amount: '300' });
    const reply = harness.send(message);
    await atLedgerReply;
    // A second card-issuer process on the same store and ledger runs its recovery (start or interval) now.
    const other = new CardIssuerService({
      config: loadCardIssuerConfig({ LEDGER_SHARDS: String(LEDGER_SHARDS) }),
      store: harness.ledger.store,
      clock: harness.clock,
      ids: new UuidV7Generator(() => harness.clock.nowMs()),
      crypto: undefined as never,
      ledger: harness.ledger.client,
      identity: undefined as never,
      projection: harness.cards.projection,
      db: harness.db,
    });
    await other.recoverRequested();
    letGo();
    expect(await reply).toMatchObject({ ok: true, value: { approved: true, responseCode: '00', status: 'pending' } });
    expect(harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 300n });
  });

  /** A harness with one authorization interrupted after the ledger placed its hold, and nobody retrying it. */
  async function interruptedAuthorization(env: Record<string, string>) {
    const crash = { armed: true };
    const harness = await startCardHarness({
      env,
      afterLedgerReply: () => {
        if (crash.armed) throw new Error('simulated failure after the hold');
      },
    });
    h = harness;
    const { walletId, secrets } = await cardholder(harness);
    const message = authorizeMessage(secrets, { amount: '300' });
    expect(await harness.send(message)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    /** Waits until recovery declined it and released its hold. */
    const recovered = async (what: string) => {
      await waitFor(what, async () => {
        expect(await harness.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({ ok: true, value: { reason: 'issuer_recovered' } });
        // Declined first (the one answer), then released.
        expect(harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
      });
    };
    return { harness, recovered };
  }

  it('without a recovery interval, an intent too young to take at start is taken once it is old enough', async () => {
    const env = { CARD_RECOVERY_INTERVAL_MS: '0', CARD_UPSTREAM_TIMEOUT_MS: '100' };
    const { harness, recovered } = await interruptedAuthorization(env);
    expect((await harness.restartCards({ env })).recovery).toEqual({ recovered: 0, left: 1 });
    harness.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * 100);
    await recovered('the one-off recovery to take it');
  });

  it('a running issuer also finishes, on its recovery interval, an interrupted authorization nobody retried', async () => {
    const { recovered } = await interruptedAuthorization({ CARD_RECOVERY_INTERVAL_MS: '20' });
    pastInFlight();
    await recovered('the interval to recover it');
  });

  it('a capture the ledger refused (the issuer had missed a reversal) does not block the right capture that follows', async () => {
    const failing = { reverse: true };
    h = await startCardHarness({
      afterLedgerReply: (operation) => {
        if (failing.reverse && operation === 'reverse') throw new Error('simulated failure after reverse');
      },
    });
    const { walletId, secrets } = await cardholder(h);
    const authorization = await authorize(h, authorizeMessage(secrets, { amount: '1000' }));
    // ledger.events stays quiet: the issuer learns of the reversal only from the network's retry.
    await h.ledger.ledger.relay.stop();
    const reverse = { type: 'ReverseAuthorization' as const, authorizationId: authorization.id, amount: '300' };
    expect(await h.send(reverse, 'rev-1')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    const capture = (amount: string, key: string) => h!.send({ type: 'CaptureAuthorization', authorizationId: authorization.id, amount }, key);
    expect(await capture('1000', 'cap-1')).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold' } });
    failing.reverse = false;
    expect(await h.send(reverse, 'rev-1')).toMatchObject({ ok: true, value: { heldAmount: '700' } });
    expect(await capture('700', 'cap-2')).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '700' } });
    const account = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!;
    expect({ debitsPending: account.debitsPending, debitsPosted: account.debitsPosted }).toEqual({ debitsPending: 0n, debitsPosted: 700n });
  });

  it('after a restart finds the card of an authorization through the projection', async () => {
    h = await startCardHarness();
    const { walletId, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '800' });
    await authorize(h, message);
    await h.restartCards();
    expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({ ok: true, value: { status: 'pending', heldAmount: '800' } });
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '800' })).toMatchObject({ ok: true, value: { status: 'captured' } });
    expect(h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n, debitsPosted: 800n });
  });

  it('a refund of a capture that left the card state, while the projection is behind (a rebuild), is retried, never refused nor dropped', async () => {
    h = await startCardHarness();
    const harness = h;
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '900' });
    await authorize(h, message);
    const restarted = await issuerWithProjectionFrozenNow(harness); // its projection as it was before the capture
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '900' })).toMatchObject({ ok: true });
    await captureMoreThanKept(h, card.id, walletId, message.merchant);
    try {
      const refund = { type: 'RefundAuthorization', authorizationId: message.authorizationId, refundId: 'r', amount: '600', meta: { idempotencyKey: 'refund', actor: 'test-gateway' } };
      expect(await restarted.service.execute(refund as CardCommandEnvelope)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      // The ledger's refund of it (posted, the issuer stopped before recording it) is delivered again, not marked processed unrecorded.
      const posted = {
        eventId: uuidv7.next(),
        type: 'ledger.EntryPosted.v1',
        data: { entryId: 'e', kind: 'card_refund', references: { authorizationId: message.authorizationId, refundId: 'elsewhere', cardId: card.id }, postings: [{ accountId: walletId, side: 'credit', amount: '600' }] },
      };
      await expect(restarted.service.ledgerEvent(posted)).rejects.toThrow(/behind/);
    } finally {
      restarted.close();
    }
  });

  it('refunds a capture after CAPTURED_AUTHORIZATIONS_KEPT_MAX newer ones pushed it out of the card state, restored from its events', async () => {
    let crashAfterRefund = false;
    const afterLedgerReply = (operation: string) => {
      if (operation === 'refund' && crashAfterRefund) throw new Error('simulated crash after the refund');
    };
    h = await startCardHarness({ afterLedgerReply });
    const harness = h;
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '900' });
    await authorize(h, message);
    expect(await h.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '900' })).toMatchObject({ ok: true });
    const repository = await captureMoreThanKept(h, card.id, walletId, message.merchant);
    const state = (await repository.load(card.id)).state as Card;
    expect(state.authorizations.has(message.authorizationId)).toBe(false);
    expect([...state.authorizations.values()].filter((each) => each.phase === 'captured')).toHaveLength(CAPTURED_AUTHORIZATIONS_KEPT_MAX);

    const credits = () => harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!.creditsPosted;
    const creditsBefore = credits();
    const refund = { type: 'RefundAuthorization' as const, authorizationId: message.authorizationId, refundId: 'late-refund', amount: '600' };
    expect(await h.send(refund, 'refund-1')).toMatchObject({ ok: true, value: { amount: '600', kind: 'card_refund' } });
    expect(await h.send(refund, 'refund-1')).toMatchObject({ ok: true, value: { amount: '600' } }); // a retry
    expect(await h.send({ ...refund, refundId: 'too-much', amount: '301' })).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold', details: { available: '300' } } });
    expect(credits() - creditsBefore).toBe(600n);
    expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({ ok: true, value: { refundedAmount: '600' } });
    // Posted by the ledger and not recorded (a crash): learnt from ledger.events onto the restored capture (a fresh process: nothing cached).
    await h.restartCards({ afterLedgerReply });
    crashAfterRefund = true;
    const second = { ...refund, refundId: 'second', amount: '300' };
    expect(await h.send(second, 'refund-2')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crashAfterRefund = false;
    await waitFor('the second refund to be learnt', async () => expect(await harness.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({ ok: true, value: { refundedAmount: '900' } }));
    expect(await h.send(second, 'refund-2')).toMatchObject({ ok: true, value: { amount: '300' } });
    expect(await h.send({ ...refund, refundId: 'third', amount: '1' })).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold', details: { available: '0' } } });
    expect(credits() - creditsBefore).toBe(900n);
  });

  it('recovers an intent whose hold never reached the ledger: nothing is left held', async () => {
    h = await startCardHarness();
    const { walletId, card, secrets } = await cardholder(h);
    // The intent is recorded by hand (as if the process died before sending PlaceHold).
    const { service } = h.cards;
    const message = authorizeMessage(secrets, { amount: '900' });
    const repository = (service as unknown as { cards: CardRepository }).cards;
    const loaded = await repository.load(card.id);
    await repository.append(
      card.id,
      loaded,
      [{ type: 'cards.AuthorizationRequested.v1', data: { authorizationId: message.authorizationId, amount: '900', currency: 'USD', merchant: message.merchant, atMs: h.clock.nowMs(), walletId, holdTimeoutMs: null } }],
      { idempotencyKey: 'by-hand', actor: 'test' },
      h.clock.nowMs(),
    );
    pastInFlight();
    const restarted = await h.restartCards();
    expect(restarted.recovery).toEqual({ recovered: 1, left: 0 });
    const shard = accountShard(walletId, LEDGER_SHARDS);
    expect(h.ledger.ledger.service.writer(shard)!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
    expect(await h.query({ type: 'GetAuthorization', authorizationId: message.authorizationId })).toMatchObject({ ok: true, value: { responseCode: '05', reason: 'issuer_recovered' } });
  });

  it('a capture, reversal or refund interrupted after the ledger answered is learnt from ledger.events; its retry is a replay', async () => {
    const failing = new Set<string>();
    h = await startCardHarness({
      afterLedgerReply: (operation) => {
        if (failing.delete(operation)) throw new Error(`simulated failure after ${operation}`);
      },
    });
    const harness = h;
    const { walletId, secrets } = await cardholder(harness);
    const pending = () => harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!;
    const view = async (authorizationId: string) => {
      const reply = await harness.query<AuthorizationView>({ type: 'GetAuthorization', authorizationId });
      if (!reply.ok) throw new Error(reply.error.code);
      return reply.value;
    };

    const reversed = authorizeMessage(secrets, { amount: '1000' });
    await authorize(harness, reversed);
    failing.add('reverse');
    const reverse = { type: 'ReverseAuthorization' as const, authorizationId: reversed.authorizationId, amount: '300' };
    expect(await harness.send(reverse, 'rev')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await waitFor('the reversal to be learnt', async () => expect(await view(reversed.authorizationId)).toMatchObject({ heldAmount: '700' }));
    expect(await harness.send(reverse, 'rev')).toMatchObject({ ok: true, value: { heldAmount: '700', status: 'pending' } });
    expect(pending().debitsPending).toBe(700n);

    failing.add('capture');
    const capture = { type: 'CaptureAuthorization' as const, authorizationId: reversed.authorizationId, amount: '500' };
    expect(await harness.send(capture, 'cap')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await waitFor('the capture to be learnt', async () => expect(await view(reversed.authorizationId)).toMatchObject({ status: 'captured', capturedAmount: '500' }));
    expect(await harness.send(capture, 'cap')).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '500' } });
    expect(pending()).toMatchObject({ debitsPending: 0n, debitsPosted: 500n });

    failing.add('refund');
    const refund = { type: 'RefundAuthorization' as const, refundId: 'refund-1', authorizationId: reversed.authorizationId, amount: '200' };
    expect(await harness.send(refund, 'ref')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await waitFor('the refund to be learnt', async () => expect(await view(reversed.authorizationId)).toMatchObject({ refundedAmount: '200' }));
    expect(await harness.send(refund, 'ref')).toMatchObject({ ok: true, value: { amount: '200', kind: 'card_refund' } });
    expect(pending()).toMatchObject({ creditsPosted: 100200n, debitsPosted: 500n });
  });

  /**
   * A card-issuer that crashes once after the ledger answered `operation`, when `raceNext` is set,
   * and runs the command `raceNext` names as that crash happens: it waits behind the card's lock,
   * ahead of the ledger event that would tell the card of the first. Its reply is `raced()`.
   */
  async function racingHarness(operation: 'capture' | 'reverse' | 'refund') {
    let next: CardCommandEnvelope | undefined;
    let raced: Promise<unknown> | undefined;
    h = await startCardHarness({
      afterLedgerReply: (done) => {
        if (done !== operation || next === undefined) return;
        raced = harness.cards.service.execute(next);
        next = undefined;
        throw new Error(`simulated crash after the ${operation}`);
      },
    });
    const harness = h;
    const { walletId, secrets } = await cardholder(harness);
    const message = authorizeMessage(secrets, { amount: '1000' });
    await authorize(harness, message);
    return {
      harness,
      authorizationId: message.authorizationId,
      account: () => harness.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!,
      view: () => harness.query({ type: 'GetAuthorization', authorizationId: message.authorizationId }),
      raceNext: (command: CardCommandMessage, key: string) => void (next = { ...command, meta: { idempotencyKey: key, actor: 'test-gateway' } } as CardCommandEnvelope),
      raced: () => raced,
    };
  }

  it('a refund under another id while the ledger posted one the issuer did not record yet refunds no more than the capture', async () => {
    const { harness, authorizationId, account, view, raceNext, raced } = await racingHarness('refund');
    expect(await harness.send({ type: 'CaptureAuthorization', authorizationId, amount: '1000' })).toMatchObject({ ok: true });
    const before = account().creditsPosted;
    const refund = (refundId: string) => ({ type: 'RefundAuthorization' as const, authorizationId, refundId, amount: '1000' });
    raceNext(refund('refund-b'), 'ref-b');
    expect(await harness.send(refund('refund-a'), 'ref-a')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await raced()).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await waitFor('the first refund to be learnt', async () => expect(await view()).toMatchObject({ ok: true, value: { refundedAmount: '1000' } }));
    // Once the first is recorded, the second is refused by the issuer itself; the wallet got the capture back once.
    expect(await harness.send(refund('refund-b'), 'ref-b2')).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold' } });
    expect(await harness.send(refund('refund-a'), 'ref-a')).toMatchObject({ ok: true, value: { amount: '1000' } });
    expect(account().creditsPosted - before).toBe(1000n);
  });

  it('a reversal learnt from ledger.events after a later one was recorded releases what the ledger released: the rest can still be reversed', async () => {
    const { harness, authorizationId, account, view, raceNext, raced } = await racingHarness('reverse');
    const reverse = (amount?: string) => ({ type: 'ReverseAuthorization' as const, authorizationId, ...(amount === undefined ? {} : { amount }) });
    raceNext(reverse('200'), 'rev-b');
    expect(await harness.send(reverse('300'), 'rev-a')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await raced()).toMatchObject({ ok: true, value: { heldAmount: '800' } });
    expect(account().debitsPending).toBe(500n);
    await waitFor('the first reversal to be learnt', async () => expect(await view()).toMatchObject({ ok: true, value: { heldAmount: '500' } }));
    expect(await harness.send(reverse(), 'rev-rest')).toMatchObject({ ok: true, value: { status: 'reversed', heldAmount: '0' } });
    expect(account().debitsPending).toBe(0n);
  });

  it('a capture under another key while the ledger captured one the issuer did not record yet is told to retry, not that the hold is finished', async () => {
    const { harness, authorizationId, view, raceNext, raced } = await racingHarness('capture');
    const capture = { type: 'CaptureAuthorization' as const, authorizationId, amount: '600' };
    raceNext(capture, 'cap-b');
    expect(await harness.send(capture, 'cap-a')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    // The merchant's money was captured: "hold_not_pending" would tell the network its capture failed.
    expect(await raced()).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await waitFor('the capture to be learnt', async () => expect(await view()).toMatchObject({ ok: true, value: { status: 'captured' } }));
    // Learnt from ledger.events, the capture's key is unknown to the card: the ledger tells its retry (a replay) from another capture (refused).
    expect(await harness.send(capture, 'cap-a')).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '600' } });
    expect(await harness.send(capture, 'cap-b')).toMatchObject({ ok: false, error: { code: 'hold_not_pending', details: { status: 'captured' } } });
    expect(await harness.send({ ...capture, amount: '100' }, 'cap-c')).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
  });

  it('a capture whose ledger capture another issuer process learnt from ledger.events first is answered captured, not hold_not_pending', async () => {
    let learnt: (() => Promise<void>) | undefined;
    h = await startCardHarness({ afterLedgerReply: (operation) => (operation === 'capture' ? learnt?.() : undefined) });
    const harness = h;
    const { card, secrets } = await cardholder(harness);
    const message = authorizeMessage(secrets, { amount: '1000' });
    await authorize(harness, message);
    const repository = (harness.cards.service as unknown as { cards: CardRepository }).cards;
    // Between the ledger's answer and this process's record, another process records the capture it saw on ledger.events (its key unknown).
    learnt = async () => {
      const atMs = harness.clock.nowMs();
      const event = { type: 'cards.AuthorizationCaptured.v1', data: { authorizationId: message.authorizationId, capturedAmount: '600', releasedAmount: '400', idempotencyKey: null, atMs } } as const;
      await repository.append(card.id, await repository.load(card.id), [event], { idempotencyKey: 'ledger-event:other-process', actor: 'card-issuer' }, atMs);
    };
    expect(await harness.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '600' }, 'cap')).toMatchObject({ ok: true, value: { status: 'captured', capturedAmount: '600' } });
  });

  it('a reversal while the ledger captured the hold and the issuer did not record it yet is told to retry, then that the hold is captured', async () => {
    const { harness, authorizationId, view, raceNext, raced } = await racingHarness('capture');
    raceNext({ type: 'ReverseAuthorization', authorizationId }, 'rev-late');
    expect(await harness.send({ type: 'CaptureAuthorization', authorizationId, amount: '1000' }, 'cap')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await raced()).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await waitFor('the capture to be learnt', async () => expect(await view()).toMatchObject({ ok: true, value: { status: 'captured' } }));
    expect(await harness.send({ type: 'ReverseAuthorization', authorizationId }, 'rev-late')).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
  });

  it('a ledger event of an authorization the lagging projection does not show yet is delivered again, not dropped', async () => {
    h = await startCardHarness();
    const { secrets } = await cardholder(h);
    await waitFor('the projection to catch up', async () => expect(h!.cards.projection.processedThrough()).toBe(await h!.ledger.store.headPosition()));
    const laggingFile = join(h.dataDir, 'card-issuer-lagging.sqlite');
    writeFileSync(laggingFile, h.db.serialize());
    const lagging = new Database(laggingFile); // the projection as it was before the authorization
    const message = authorizeMessage(secrets, { amount: '1000' });
    await authorize(h, message);
    // A restarted issuer (nothing remembered) whose projection has not caught up within the query wait.
    const restarted = new CardIssuerService({
      config: loadCardIssuerConfig({ LEDGER_SHARDS: String(LEDGER_SHARDS) }),
      store: h.ledger.store,
      clock: h.clock,
      ids: new UuidV7Generator(() => h!.clock.nowMs()),
      crypto: undefined as never,
      ledger: undefined as never,
      identity: undefined as never,
      projection: { waitUntil: async () => false } as unknown as ProjectionRunner,
      db: lagging,
    });
    try {
      const captured = { eventId: uuidv7.next(), type: 'ledger.HoldCaptured.v1', data: { holdId: message.authorizationId, capturedAmount: '600', releasedAmount: '400' } };
      await expect(restarted.ledgerEvent(captured)).rejects.toThrow(/behind/);
      // While behind, a hold no card has cannot be told from one whose authorization is not projected yet.
      await expect(restarted.ledgerEvent({ ...captured, eventId: uuidv7.next(), data: { ...captured.data, holdId: 'hold-of-someone-else' } })).rejects.toThrow(/behind/);
    } finally {
      lagging.close();
    }
  });

  it('an authorization decided long ago, retried while the projection is behind (a rebuild), is never decided again', async () => {
    h = await startCardHarness();
    const harness = h;
    const { walletId, card, secrets } = await cardholder(harness, { spendingControls: { perAuthorization: '500' } });
    const restarted = await issuerWithProjectionFrozenNow(harness); // its projection as it was before the decline (rebuilding from the start)
    const message = authorizeMessage(secrets, { amount: '900' });
    expect(await authorize(harness, message)).toMatchObject({ approved: false, responseCode: '61' });
    // A day later the card moved on: the decline left the card's state, and the limit was raised.
    harness.clock.advance(25 * 60 * 60 * 1000);
    expect(await harness.send({ type: 'SetSpendingControls', cardId: card.id, spendingControls: { perAuthorization: '1000' } })).toMatchObject({ ok: true });
    expect(await authorize(harness, authorizeMessage(secrets, { amount: '1' }))).toMatchObject({ approved: true });
    try {
      const retried = await restarted.service.execute({ ...message, meta: { idempotencyKey: 'late-retry', actor: 'test-gateway' } } as CardCommandEnvelope);
      expect(retried).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      expect(h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.holds.get(message.authorizationId)).toBeUndefined();
      // Caught up, the retry gets the first outcome.
      expect(await harness.send(message, 'late-retry')).toMatchObject({ ok: true, value: { approved: false, responseCode: '61', reason: 'per_authorization_limit' } });
    } finally {
      restarted.close();
    }
  });

  it('an approved authorization id presented with an unknown PAN while the projection is behind is not recorded as that PAN\'s decline', async () => {
    h = await startCardHarness();
    const harness = h;
    const { secrets } = await cardholder(harness);
    const restarted = await issuerWithProjectionFrozenNow(harness); // its projection as it was before the authorization
    const message = authorizeMessage(secrets, { amount: '900' });
    expect(await authorize(harness, message)).toMatchObject({ approved: true });
    try {
      const unknownPan = { ...message, pan: '4000000000000002', meta: { idempotencyKey: 'other-pan', actor: 'test-gateway' } } as CardCommandEnvelope;
      expect(await restarted.service.execute(unknownPan)).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      // Recorded, that decline would route every later capture, reversal and refund of the approval to "declined".
      expect(await harness.ledger.store.readStream(`card-auth-${message.authorizationId}`)).toEqual([]);
    } finally {
      restarted.close();
    }
    // The approval's capture still finds its card.
    expect(await harness.send({ type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: '900' }, 'capture')).toMatchObject({ ok: true, value: { status: 'captured' } });
  });

  it('a retry of an interrupted authorization finishes it with the one hold the ledger placed', async () => {
    const crash = { armed: true };
    h = await startFailingAfterHold(crash);
    const { walletId, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '400' });
    expect(await h.send(message, 'k')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    expect(await h.send(message, 'k')).toMatchObject({ ok: true, value: { approved: true, responseCode: '00' } });
    expect(h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 400n });
  });
  it('a retry of an interrupted authorization after the card was canceled is declined, and its hold released', async () => {
    const crash = { armed: true };
    h = await startFailingAfterHold(crash);
    const { walletId, card, secrets } = await cardholder(h);
    const message = authorizeMessage(secrets, { amount: '400' });
    expect(await h.send(message, 'k')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    crash.armed = false;
    expect(await h.send({ type: 'CancelCard', cardId: card.id }, 'cancel')).toMatchObject({ ok: true, value: { status: 'canceled' } });
    // A canceled card takes no new authorization, even one asked for before it was canceled.
    expect(await h.send(message, 'k')).toMatchObject({ ok: true, value: { approved: false, responseCode: '62', status: 'declined' } });
    expect(h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)).toMatchObject({ debitsPending: 0n });
  });
});

/** As many newer captures as a card keeps, recorded by hand (the ledger need not know them): older captures leave the card's state. */
async function captureMoreThanKept(h: CardHarness, cardId: string, walletId: string, merchant: Merchant): Promise<CardRepository> {
  const repository = (h.cards.service as unknown as { cards: CardRepository }).cards;
  for (let from = 0; from < CAPTURED_AUTHORIZATIONS_KEPT_MAX; from += 200) {
    h.clock.advance(1);
    const atMs = h.clock.nowMs();
    const events = Array.from({ length: 200 }, (_, i) => {
      const authorizationId = `newer-${from + i}`;
      return [
        { type: 'cards.AuthorizationRequested.v1', data: { authorizationId, amount: '1', currency: 'USD', merchant, atMs, walletId, holdTimeoutMs: null } },
        { type: 'cards.AuthorizationApproved.v1', data: { authorizationId, atMs } },
        { type: 'cards.AuthorizationCaptured.v1', data: { authorizationId, capturedAmount: '1', releasedAmount: '0', idempotencyKey: `capture-${authorizationId}`, atMs } },
      ] as const;
    }).flat();
    await repository.append(cardId, await repository.load(cardId), events, { idempotencyKey: `by-hand-${from}`, actor: 'test' }, atMs);
  }
  return repository;
}
