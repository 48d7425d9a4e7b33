import { deciderSpec } from '@ledger/contracts/testing';
import { foldCard, spendAt, withRestored, type Card, type CardEvent } from './card';
import { cardDecider, type IssueCard } from './card.commands';
import { ALLOWED_COUNTRIES_MAX, BLOCKED_MCCS_MAX, CAPTURED_AUTHORIZATIONS_KEPT_MAX, CARDS_PER_OWNER_MAX, CHANGE_KEY_KEPT_MS, CHANGE_KEYS_KEPT_MAX, CVV_FAILURES_MAX, CVV_FAILURES_WINDOW_MS, FINISHED_AUTHORIZATION_KEPT_MS, REFUND_WINDOW_MS, REFUNDS_PER_AUTHORIZATION_MAX, REVERSALS_PER_AUTHORIZATION_MAX } from './limits';
import { approved, captured, CARD_ID, CONTEXT, HOUR_MS, issued, MERCHANT, NOW_MS, OWNER_ID, request, reversed, WALLET_ID } from './testing/card.fixtures';

const spec = deciderSpec(cardDecider, CONTEXT);
const specAt = (nowMs: number) => deciderSpec(cardDecider, { nowMs });
const card = (history: CardEvent[]) => foldCard(history) as Card;

// The command that issues the fixture card: the same fields as `issued()` records.
const { currency: _currency, spendingControls: _controls, atMs: _atMs, ...issuedFields } = issued().data;
const issue = (overrides: Partial<IssueCard> = {}): IssueCard => ({
  type: 'IssueCard',
  ...issuedFields,
  wallet: { currency: 'USD', status: 'active', ownerId: OWNER_ID },
  cardsOfOwner: 0,
  spendingControls: undefined,
  ...overrides,
});

const declinedWith = (responseCode: string, reason: string, authorizationId = 'auth-1', amount = '1000', merchant = MERCHANT, currency = 'USD') => ({
  type: 'cards.AuthorizationDeclined.v1',
  data: { authorizationId, amount, currency, merchant, atMs: NOW_MS, cardId: CARD_ID, responseCode, reason },
});

describe('card decider: issue', () => {
  it('issues a card in the wallet currency with normalised controls', () => {
    spec
      .given([])
      .when(issue({ wallet: { currency: 'EUR', status: 'active', ownerId: OWNER_ID }, label: 'travel', spendingControls: { daily: '500', blockedMccs: ['7995', '5411', '7995'], allowedCountries: [] } }))
      .then([issued({ daily: '500', blockedMccs: ['5411', '7995'] }, { currency: 'EUR', label: 'travel', atMs: NOW_MS })]);
  });

  it('answers a retry of the same issue with nothing new, and refuses the id for another wallet', () => {
    spec.given([issued()]).when(issue()).then([]);
    spec.given([issued()]).when(issue({ walletId: 'wallet-2' })).thenFails({ code: 'idempotency_key_reuse' });
  });

  it('refuses an owner more than CARDS_PER_OWNER_MAX cards (all are listed in one reply), but answers a retry of an issued one', () => {
    spec.given([]).when(issue({ cardsOfOwner: CARDS_PER_OWNER_MAX - 1 })).then([issued({}, { atMs: NOW_MS })]);
    spec.given([]).when(issue({ cardsOfOwner: CARDS_PER_OWNER_MAX })).thenFails({ code: 'limit_exceeded', details: { limit: CARDS_PER_OWNER_MAX } });
    spec.given([issued()]).when(issue({ cardsOfOwner: CARDS_PER_OWNER_MAX })).then([]);
  });

  it('needs an active wallet of the owner', () => {
    spec.given([]).when(issue({ wallet: { currency: 'USD', status: 'frozen', ownerId: OWNER_ID } })).thenFails({ code: 'wallet_not_active' });
    spec.given([]).when(issue({ wallet: { currency: 'USD', status: 'active', ownerId: 'someone-else' } })).thenFails({ code: 'forbidden' });
  });

  it('refuses a card id that is no UUID, bad controls and labels, listing every field', () => {
    spec
      .given([])
      .when(
        issue({
          cardId: 'not-a-uuid',
          label: 'x'.repeat(65),
          spendingControls: { perAuthorization: '-1', daily: '1.5', monthly: '0', blockedMccs: ['541'], allowedCountries: ['fr'], weekly: '1' },
        }),
      )
      .thenFails((error) => {
        expect(error.code).toBe('validation_failed');
        expect((error.details as { fields: { field: string }[] }).fields.map((problem) => problem.field).sort()).toEqual([
          'cardId',
          'label',
          'spendingControls.allowedCountries[0]',
          'spendingControls.blockedMccs[0]',
          'spendingControls.daily',
          'spendingControls.monthly',
          'spendingControls.perAuthorization',
          'spendingControls.weekly',
        ]);
      });
  });

  it('bounds the lists of controls', () => {
    const mccs = Array.from({ length: BLOCKED_MCCS_MAX + 1 }, (_, index) => String(1000 + index));
    spec.given([]).when(issue({ spendingControls: { blockedMccs: mccs } })).thenFails({ code: 'validation_failed', details: { fields: [{ field: 'spendingControls.blockedMccs', reason: `more_than_${BLOCKED_MCCS_MAX}` }] } });
    const countries = Array.from({ length: ALLOWED_COUNTRIES_MAX + 1 }, () => 'FR');
    spec.given([]).when(issue({ spendingControls: { allowedCountries: countries } })).thenFails({ code: 'validation_failed' });
    spec.given([]).when(issue({ spendingControls: [] })).thenFails({ code: 'validation_failed', details: { fields: [{ field: 'spendingControls', reason: 'not_an_object' }] } });
  });
});

describe('card decider: reveal and lifecycle', () => {
  it('reveals to the owner after step-up, recording who and when only', () => {
    spec.given([issued()]).when({ type: 'RevealCard', userId: OWNER_ID, stepUpVerified: true }).then([{ type: 'cards.CardRevealed.v1', data: { userId: OWNER_ID, atMs: NOW_MS } }]);
  });

  it('refuses others, a missing step-up, a canceled card and an unknown card', () => {
    spec.given([issued()]).when({ type: 'RevealCard', userId: 'user-2', stepUpVerified: true }).thenFails({ code: 'forbidden' });
    spec.given([issued()]).when({ type: 'RevealCard', userId: OWNER_ID, stepUpVerified: false }).thenFails({ code: 'step_up_required' });
    spec.given([issued(), { type: 'cards.CardCanceled.v1', data: { idempotencyKey: 'c', atMs: NOW_MS } }]).when({ type: 'RevealCard', userId: OWNER_ID, stepUpVerified: true }).thenFails({ code: 'card_not_active' });
    spec.given([]).when({ type: 'RevealCard', userId: OWNER_ID, stepUpVerified: true }).thenFails({ code: 'not_found' });
  });

  const frozen: CardEvent = { type: 'cards.CardFrozen.v1', data: { idempotencyKey: 'f', atMs: NOW_MS } };
  const canceled: CardEvent = { type: 'cards.CardCanceled.v1', data: { idempotencyKey: 'c', atMs: NOW_MS } };

  it('freezes, unfreezes and cancels along the allowed transitions', () => {
    spec.given([issued()]).when({ type: 'FreezeCard', idempotencyKey: 'f' }).then([frozen]);
    spec.given([issued(), frozen]).when({ type: 'UnfreezeCard', idempotencyKey: 'u' }).then([{ type: 'cards.CardUnfrozen.v1', data: { idempotencyKey: 'u', atMs: NOW_MS } }]);
    spec.given([issued()]).when({ type: 'CancelCard', idempotencyKey: 'c' }).then([canceled]);
    spec.given([issued(), frozen]).when({ type: 'CancelCard', idempotencyKey: 'c' }).then([canceled]);
  });

  it('refuses invalid transitions with card_not_active; canceled is terminal', () => {
    spec.given([issued(), frozen]).when({ type: 'FreezeCard', idempotencyKey: 'f2' }).thenFails({ code: 'card_not_active' });
    spec.given([issued()]).when({ type: 'UnfreezeCard', idempotencyKey: 'u' }).thenFails({ code: 'card_not_active' });
    spec.given([issued(), canceled]).when({ type: 'CancelCard', idempotencyKey: 'c2' }).thenFails({ code: 'card_not_active' });
    spec.given([issued(), canceled]).when({ type: 'UnfreezeCard', idempotencyKey: 'u' }).thenFails({ code: 'card_not_active', details: { status: 'canceled' } });
    spec.given([issued(), canceled]).when({ type: 'FreezeCard', idempotencyKey: 'f2' }).thenFails({ code: 'card_not_active' });
    spec.given([]).when({ type: 'FreezeCard', idempotencyKey: 'f' }).thenFails({ code: 'not_found' });
  });

  it('answers a retry of the last change with nothing new', () => {
    spec.given([issued(), frozen]).when({ type: 'FreezeCard', idempotencyKey: 'f' }).then([]);
  });

  it('answers a retry of an earlier change with nothing new too: it never undoes the changes made since', () => {
    const unfrozen: CardEvent = { type: 'cards.CardUnfrozen.v1', data: { idempotencyKey: 'u', atMs: NOW_MS } };
    spec.given([issued(), frozen, unfrozen]).when({ type: 'FreezeCard', idempotencyKey: 'f' }).then([]);
    const controls = (daily: string, idempotencyKey: string): CardEvent => ({ type: 'cards.SpendingControlsSet.v1', data: { spendingControls: { daily }, idempotencyKey, atMs: NOW_MS } });
    // The user loosened the daily limit (its reply lost), then tightened it: the first request's retry must not loosen it again.
    spec.given([issued(), controls('100000', 's1'), controls('1000', 's2')]).when({ type: 'SetSpendingControls', spendingControls: { daily: '100000' }, idempotencyKey: 's1' }).then([]);
    // Beyond the newest CHANGE_KEYS_KEPT_MAX keys it is forgotten: a change like any.
    const later = Array.from({ length: CHANGE_KEYS_KEPT_MAX }, (_, index) => controls('1000', `later-${index}`));
    spec.given([issued(), controls('100000', 's1'), ...later.slice(1)]).when({ type: 'SetSpendingControls', spendingControls: { daily: '100000' }, idempotencyKey: 's1' }).then([]);
    spec.given([issued(), controls('100000', 's1'), ...later]).when({ type: 'SetSpendingControls', spendingControls: { daily: '100000' }, idempotencyKey: 's1' }).then([controls('100000', 's1')]);
    // Past the idempotency window a key is a new request.
    const dayLater = NOW_MS + CHANGE_KEY_KEPT_MS + 1;
    specAt(dayLater).given([issued(), frozen, unfrozen]).when({ type: 'FreezeCard', idempotencyKey: 'f' }).then([{ type: 'cards.CardFrozen.v1', data: { idempotencyKey: 'f', atMs: dayLater } }]);
  });

  it('replaces spending controls, validated, unless canceled', () => {
    spec
      .given([issued({ daily: '1' })])
      .when({ type: 'SetSpendingControls', spendingControls: { monthly: '9000', allowedCountries: ['FR', 'DE'] }, idempotencyKey: 's' })
      .then([{ type: 'cards.SpendingControlsSet.v1', data: { spendingControls: { monthly: '9000', allowedCountries: ['DE', 'FR'] }, idempotencyKey: 's', atMs: NOW_MS } }]);
    spec.given([issued()]).when({ type: 'SetSpendingControls', spendingControls: { blockedMccs: ['abcd'] }, idempotencyKey: 's' }).thenFails({ code: 'validation_failed' });
    spec.given([issued(), canceled]).when({ type: 'SetSpendingControls', spendingControls: {}, idempotencyKey: 's' }).thenFails({ code: 'card_not_active' });
  });
});

describe('card decider: authorization checks, in order', () => {
  it('records the intent to hold when every check passes', () => {
    spec.given([issued()]).when(request('auth-1', { holdTimeoutMs: 60_000 })).then([
      {
        type: 'cards.AuthorizationRequested.v1',
        data: { authorizationId: 'auth-1', amount: '1000', currency: 'USD', merchant: MERCHANT, atMs: NOW_MS, walletId: WALLET_ID, holdTimeoutMs: 60_000 },
      },
    ]);
  });

  it('54: after the end of the expiry month (UTC), or an expiry that does not match', () => {
    const endOfDecember2025 = Date.UTC(2026, 0, 1) - 1;
    const expiring = [issued({}, { expMonth: 12, expYear: 2025 })];
    specAt(endOfDecember2025).given(expiring).when(request('auth-1', { expMonth: 12, expYear: 2025 })).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    specAt(endOfDecember2025 + 1).given(expiring).when(request('auth-1', { expMonth: 12, expYear: 2025 })).then([{ ...declinedWith('54', 'expired_card'), data: { ...declinedWith('54', 'expired_card').data, atMs: endOfDecember2025 + 1 } } as CardEvent]);
    spec.given([issued()]).when(request('auth-1', { expMonth: 2 })).then([declinedWith('54', 'expiry_mismatch') as CardEvent]);
    spec.given([issued()]).when(request('auth-1', { expYear: 2030 })).then([declinedWith('54', 'expiry_mismatch') as CardEvent]);
  });

  it('N7: a wrong CVV, checked after the expiry', () => {
    spec.given([issued()]).when(request('auth-1', { cvvValid: false })).then([declinedWith('N7', 'cvv_mismatch') as CardEvent]);
    spec.given([issued()]).when(request('auth-1', { cvvValid: false, expMonth: 3 })).then([declinedWith('54', 'expiry_mismatch') as CardEvent]);
  });

  it('05 cvv_tries_exceeded: after CVV_FAILURES_MAX wrong CVVs or expiries in the window, whatever is presented, until the window passes or the owner unfreezes', () => {
    const failures = (count: number, atMs = NOW_MS - HOUR_MS) =>
      Array.from({ length: count }, (_, i) => {
        const event = i % 2 === 0 ? declinedWith('N7', 'cvv_mismatch', `guess-${i}`) : declinedWith('54', 'expiry_mismatch', `guess-${i}`);
        return { ...event, data: { ...event.data, atMs: atMs + i } } as CardEvent;
      });
    const locked = [issued(), ...failures(CVV_FAILURES_MAX)];
    // The right CVV is answered as a wrong one is: the lock gives a guesser no oracle.
    spec.given(locked).when(request('auth-1')).then([declinedWith('05', 'cvv_tries_exceeded') as CardEvent]);
    spec.given(locked).when(request('auth-1', { cvvValid: false })).then([declinedWith('05', 'cvv_tries_exceeded') as CardEvent]);
    spec.given(locked).when(request('auth-1', { expMonth: 2 })).then([declinedWith('05', 'cvv_tries_exceeded') as CardEvent]);
    // One fewer, another kind of decline, or failures out of the window: not locked.
    spec.given([issued(), ...failures(CVV_FAILURES_MAX - 1)]).when(request('auth-1')).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    spec.given([issued(), ...failures(CVV_FAILURES_MAX - 1), declinedWith('57', 'blocked_mcc', 'other') as CardEvent]).when(request('auth-1')).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    specAt(NOW_MS - HOUR_MS + CVV_FAILURES_WINDOW_MS).given(locked).when(request('auth-1')).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    // The owner freezes and unfreezes: the lock is lifted.
    const frozen: CardEvent = { type: 'cards.CardFrozen.v1', data: { idempotencyKey: 'f', atMs: NOW_MS } };
    const unfrozen: CardEvent = { type: 'cards.CardUnfrozen.v1', data: { idempotencyKey: 'u', atMs: NOW_MS } };
    spec.given([...locked, frozen, unfrozen]).when(request('auth-1')).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    // Bounded: a card keeps at most CVV_FAILURES_MAX failure times.
    expect(card([issued(), ...failures(3 * CVV_FAILURES_MAX)]).cvvFailuresAtMs).toHaveLength(CVV_FAILURES_MAX);
  });

  it('62: a frozen or canceled card, checked after the CVV', () => {
    const frozen: CardEvent = { type: 'cards.CardFrozen.v1', data: { idempotencyKey: 'f', atMs: NOW_MS } };
    const canceled: CardEvent = { type: 'cards.CardCanceled.v1', data: { idempotencyKey: 'c', atMs: NOW_MS } };
    spec.given([issued(), frozen]).when(request('auth-1')).then([declinedWith('62', 'card_frozen') as CardEvent]);
    spec.given([issued(), canceled]).when(request('auth-1')).then([declinedWith('62', 'card_canceled') as CardEvent]);
    spec.given([issued(), frozen]).when(request('auth-1', { cvvValid: false })).then([declinedWith('N7', 'cvv_mismatch') as CardEvent]);
  });

  it('57: a blocked merchant category or a country not allowed, checked after the status', () => {
    const blockedMerchant = { ...MERCHANT, mcc: '7995' };
    spec.given([issued({ blockedMccs: ['7995'] })]).when(request('auth-1', { merchant: blockedMerchant })).then([declinedWith('57', 'blocked_mcc', 'auth-1', '1000', blockedMerchant) as CardEvent]);
    spec.given([issued({ allowedCountries: ['DE'] })]).when(request('auth-1')).then([declinedWith('57', 'country_not_allowed') as CardEvent]);
    spec.given([issued({ allowedCountries: ['DE', 'FR'] })]).when(request('auth-1')).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    const frozen: CardEvent = { type: 'cards.CardFrozen.v1', data: { idempotencyKey: 'f', atMs: NOW_MS } };
    spec.given([issued({ allowedCountries: ['DE'] }), frozen]).when(request('auth-1')).then([declinedWith('62', 'card_frozen') as CardEvent]);
  });

  it('61: over the per-authorization limit, checked after the merchant', () => {
    spec.given([issued({ perAuthorization: '999' })]).when(request('auth-1')).then([declinedWith('61', 'per_authorization_limit') as CardEvent]);
    spec.given([issued({ perAuthorization: '1000' })]).when(request('auth-1')).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    spec.given([issued({ perAuthorization: '999', allowedCountries: ['DE'] })]).when(request('auth-1')).then([declinedWith('57', 'country_not_allowed') as CardEvent]);
  });

  it('05: another currency than the card, checked after the limits', () => {
    spec.given([issued()]).when(request('auth-1', { currency: 'EUR' })).then([declinedWith('05', 'currency_mismatch', 'auth-1', '1000', MERCHANT, 'EUR') as CardEvent]);
    spec.given([issued({ perAuthorization: '1' })]).when(request('auth-1', { currency: 'EUR' })).then([declinedWith('61', 'per_authorization_limit', 'auth-1', '1000', MERCHANT, 'EUR') as CardEvent]);
  });

  it('answers a retried authorization id with nothing new (its first outcome stands)', () => {
    spec.given([issued(), ...approved('auth-1', '1000')]).when(request('auth-1', { cvvValid: false })).then([]);
    spec.given([issued(), declinedWith('N7', 'cvv_mismatch') as CardEvent]).when(request('auth-1')).then([]);
  });
});

describe('card decider: daily and monthly limits (UTC calendar windows)', () => {
  const lateOnJan15 = Date.UTC(2026, 0, 15, 23, 59, 59, 999);
  const startOfJan16 = Date.UTC(2026, 0, 16);

  it('counts approved holds of the same UTC day against the daily limit', () => {
    const history = [issued({ daily: '5000' }), ...approved('a', '4000', lateOnJan15 - HOUR_MS)];
    specAt(lateOnJan15).given(history).when(request('b', { amount: 1001n })).then([expect.objectContaining({ data: expect.objectContaining({ responseCode: '61', reason: 'daily_limit' }) }) as never]);
    specAt(lateOnJan15).given(history).when(request('b', { amount: 1000n })).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    specAt(startOfJan16).given(history).when(request('b', { amount: 5000n })).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
  });

  it('counts the whole UTC month against the monthly limit, and resets on the 1st', () => {
    const jan31 = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
    const feb1 = Date.UTC(2026, 1, 1);
    const history = [issued({ monthly: '10000' }), ...approved('a', '6000', Date.UTC(2026, 0, 2)), ...approved('b', '3000', Date.UTC(2026, 0, 20))];
    specAt(jan31).given(history).when(request('c', { amount: 1001n })).then([expect.objectContaining({ data: expect.objectContaining({ responseCode: '61', reason: 'monthly_limit' }) }) as never]);
    specAt(jan31).given(history).when(request('c', { amount: 1000n })).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
    specAt(feb1).given(history).when(request('c', { amount: 10000n })).then([expect.objectContaining({ type: 'cards.AuthorizationRequested.v1' }) as never]);
  });

  it('counts captures less reversals; expiries and declines after the request count nothing', () => {
    const base = [issued(), ...approved('a', '3000'), ...approved('b', '1000'), ...approved('c', '500')];
    expect(spendAt(card(base), NOW_MS)).toEqual({ daily: 4500n, monthly: 4500n });
    const settled = [
      ...base,
      captured('a', '1000', '2000'),
      reversed('b', '400'),
      { type: 'cards.AuthorizationExpired.v1', data: { authorizationId: 'c', releasedAmount: '500', atMs: NOW_MS } } as CardEvent,
    ];
    expect(spendAt(card(settled), NOW_MS)).toEqual({ daily: 1600n, monthly: 1600n });
    const requestedThenDeclined = [
      issued(),
      approved('d', '700')[0],
      { ...declinedWith('51', 'insufficient_funds', 'd', '700'), data: { ...declinedWith('51', 'insufficient_funds', 'd', '700').data } } as CardEvent,
    ];
    expect(spendAt(card(requestedThenDeclined), NOW_MS)).toEqual({ daily: 0n, monthly: 0n });
  });

  it('counts a requested hold while its answer is outstanding', () => {
    specAt(NOW_MS).given([issued({ daily: '1500' }), approved('a', '1000')[0]]).when(request('b', { amount: 501n })).then([expect.objectContaining({ data: expect.objectContaining({ responseCode: '61' }) }) as never]);
  });
});

describe('card decider: a clock stepped back (NTP)', () => {
  const DAY = 24 * HOUR_MS;
  // Day D's spend window is dropped by an event 3 days later, while D's hold of 1000 is still pending.
  const history = [issued({ daily: '1000' }), ...approved('a', '1000', NOW_MS), ...approved('b', '100', NOW_MS + 3 * DAY)];
  const steppedBack = NOW_MS + 5 * 60 * 1000;
  /** Decides on the card folded so far and folds what it decided (evolve throws on a broken invariant). */
  const run = (events: CardEvent[], command: Parameters<typeof cardDecider.decide>[0], nowMs: number): CardEvent[] => {
    const decision = cardDecider.decide(command, foldCard(events), { nowMs });
    if (!decision.ok) throw new Error(`decider failed with ${decision.error.code}`);
    const next = [...events, ...decision.events];
    foldCard(next);
    return next;
  };

  it('does not give a new daily limit back to the day the clock returned to', () => {
    specAt(steppedBack).given(history).when(request('c', { amount: 1000n })).then([expect.objectContaining({ data: expect.objectContaining({ responseCode: '61', reason: 'daily_limit' }) }) as never]);
  });

  it('still folds, and counts no less, when a hold of a dropped day is reversed after the step back', () => {
    let events = run(history, request('c', { amount: 300n }), steppedBack);
    events = run(events, { type: 'ReverseAuthorization', authorizationId: 'a', amount: undefined, idempotencyKey: 'reverse-a', ledgerKey: 'ledger-reverse-a' }, steppedBack + 60_000);
    const state = card(events);
    expect(state.authorizations.get('c')?.phase).toBe('requested');
    expect(spendAt(state, state.lastAtMs)).toEqual({ daily: 400n, monthly: 400n });
  });
});

describe('card decider: the ledger answer, capture, reversal, refund, expiry', () => {
  const requested = approved('auth-1', '1000')[0];
  const pending = [issued(), ...approved('auth-1', '1000')];

  it('records the ledger answer once', () => {
    spec.given([issued(), requested]).when({ type: 'CompleteAuthorization', authorizationId: 'auth-1', outcome: { approved: true } }).then([{ type: 'cards.AuthorizationApproved.v1', data: { authorizationId: 'auth-1', atMs: NOW_MS } }]);
    spec.given([issued(), requested]).when({ type: 'CompleteAuthorization', authorizationId: 'auth-1', outcome: { approved: false, responseCode: '51', reason: 'insufficient_funds' } }).then([declinedWith('51', 'insufficient_funds') as CardEvent]);
    spec.given([issued(), requested]).when({ type: 'CompleteAuthorization', authorizationId: 'auth-1', outcome: { approved: false, responseCode: '62', reason: 'wallet_not_active' } }).then([declinedWith('62', 'wallet_not_active') as CardEvent]);
    spec.given(pending).when({ type: 'CompleteAuthorization', authorizationId: 'auth-1', outcome: { approved: false, responseCode: '05', reason: 'issuer_recovered' } }).then([]);
  });

  it('captures part of a hold, releasing the rest; a capture works on a frozen or canceled card', () => {
    spec.given(pending).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 600n, idempotencyKey: 'k' }).then([captured('auth-1', '600', '400', NOW_MS, 'k')]);
    const canceled: CardEvent = { type: 'cards.CardCanceled.v1', data: { idempotencyKey: 'c', atMs: NOW_MS } };
    spec.given([...pending, canceled]).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 1000n, idempotencyKey: 'k' }).then([captured('auth-1', '1000', '0', NOW_MS, 'k')]);
  });

  it('refuses a capture above the hold, of a finished authorization, or of an unknown one; a retry changes nothing', () => {
    spec.given(pending).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 1001n, idempotencyKey: 'k' }).thenFails({ code: 'amount_exceeds_hold', details: { available: '1000' } });
    spec.given([...pending, captured('auth-1', '600', '400', NOW_MS, 'k')]).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 600n, idempotencyKey: 'k' }).then([]);
    spec.given([...pending, captured('auth-1', '600', '400', NOW_MS, 'k')]).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 100n, idempotencyKey: 'k2' }).thenFails({ code: 'hold_not_pending' });
    spec.given([issued(), requested]).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 1n, idempotencyKey: 'k' }).thenFails({ code: 'hold_not_pending' });
    spec.given([issued()]).when({ type: 'CaptureAuthorization', authorizationId: 'nope', amount: 1n, idempotencyKey: 'k' }).thenFails({ code: 'not_found' });
  });

  it('reverses part, then the rest; refuses more than held or a finished hold', () => {
    spec.given(pending).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: 300n, idempotencyKey: 'r1', ledgerKey: 'ledger-r1' }).then([reversed('auth-1', '300', 1, NOW_MS, 'r1')]);
    spec.given([...pending, reversed('auth-1', '300', 1, NOW_MS, 'r1')]).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: undefined, idempotencyKey: 'r2', ledgerKey: 'ledger-r2' }).then([reversed('auth-1', '700', 2, NOW_MS, 'r2')]);
    spec.given([...pending, reversed('auth-1', '300', 1, NOW_MS, 'r1')]).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: 300n, idempotencyKey: 'r1', ledgerKey: 'ledger-r1' }).then([]);
    spec.given(pending).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: 1001n, idempotencyKey: 'r', ledgerKey: 'ledger-r' }).thenFails({ code: 'amount_exceeds_hold' });
    spec.given([...pending, reversed('auth-1', '1000', 1, NOW_MS, 'r1')]).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: undefined, idempotencyKey: 'r2', ledgerKey: 'ledger-r2' }).thenFails({ code: 'hold_not_pending', details: { status: 'reversed' } });
    spec.given([...pending, captured('auth-1', '1000', '0')]).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: undefined, idempotencyKey: 'r', ledgerKey: 'ledger-r' }).thenFails({ code: 'hold_not_pending' });
  });

  it('takes at most REVERSALS_PER_AUTHORIZATION_MAX partial reversals, and then still the whole rest', () => {
    const partials = Array.from({ length: REVERSALS_PER_AUTHORIZATION_MAX }, (_, i) => reversed('auth-1', '1', i + 1, NOW_MS, `r${i + 1}`));
    const reverse = (amount: bigint | undefined, key: string) => ({ type: 'ReverseAuthorization' as const, authorizationId: 'auth-1', amount, idempotencyKey: key, ledgerKey: `ledger-${key}` });
    const rest = String(1000 - REVERSALS_PER_AUTHORIZATION_MAX);
    spec.given([...pending, ...partials]).when(reverse(1n, 'more')).thenFails({ code: 'validation_failed', details: { fields: [{ field: 'amount', reason: `more_than_${REVERSALS_PER_AUTHORIZATION_MAX}_reversals` }] } });
    spec.given([...pending, ...partials]).when(reverse(undefined, 'more')).then([reversed('auth-1', rest, REVERSALS_PER_AUTHORIZATION_MAX + 1, NOW_MS, 'more')]);
    spec.given([...pending, ...partials]).when(reverse(BigInt(rest), 'more')).then([reversed('auth-1', rest, REVERSALS_PER_AUTHORIZATION_MAX + 1, NOW_MS, 'more')]);
  });

  it('takes at most REFUNDS_PER_AUTHORIZATION_MAX partial refunds, and then still one of the whole rest', () => {
    const refunded = (refundId: string, amount: string): CardEvent => ({ type: 'cards.AuthorizationRefunded.v1', data: { authorizationId: 'auth-1', refundId, entryId: `entry-${refundId}`, amount, atMs: NOW_MS } });
    const partials = Array.from({ length: REFUNDS_PER_AUTHORIZATION_MAX }, (_, i) => refunded(`f${i}`, '1'));
    const history = [...pending, captured('auth-1', '1000', '0'), ...partials];
    const refund = (amount: bigint) => ({ type: 'RefundAuthorization' as const, authorizationId: 'auth-1', refundId: 'last', entryId: 'entry-last', amount });
    const rest = 1000 - REFUNDS_PER_AUTHORIZATION_MAX;
    spec.given(history).when(refund(1n)).thenFails({ code: 'validation_failed', details: { fields: [{ field: 'refundId', reason: `more_than_${REFUNDS_PER_AUTHORIZATION_MAX}_refunds` }] } });
    spec.given(history).when(refund(BigInt(rest))).then([refunded('last', String(rest))]);
    spec.given([...history, refunded('last', String(rest))]).when({ ...refund(1n), refundId: 'after' }).thenFails({ code: 'validation_failed' });
  });

  it('refunds at most what was captured less earlier refunds', () => {
    const capturedHistory = [...pending, captured('auth-1', '800', '200')];
    const refund = (refundId: string, amount: bigint) => ({ type: 'RefundAuthorization' as const, authorizationId: 'auth-1', refundId, entryId: `entry-${refundId}`, amount });
    const refunded = (refundId: string, amount: string): CardEvent => ({ type: 'cards.AuthorizationRefunded.v1', data: { authorizationId: 'auth-1', refundId, entryId: `entry-${refundId}`, amount, atMs: NOW_MS } });
    spec.given(capturedHistory).when(refund('f1', 500n)).then([refunded('f1', '500')]);
    spec.given([...capturedHistory, refunded('f1', '500')]).when(refund('f2', 301n)).thenFails({ code: 'amount_exceeds_hold', details: { available: '300' } });
    spec.given([...capturedHistory, refunded('f1', '500')]).when(refund('f2', 300n)).then([refunded('f2', '300')]);
    spec.given([...capturedHistory, refunded('f1', '500')]).when(refund('f1', 500n)).then([]);
    spec.given(pending).when(refund('f1', 1n)).thenFails({ code: 'hold_not_pending' });
  });

  it('refunds a capture within REFUND_WINDOW_MS of it only, whether or not a later event has pruned it from the state', () => {
    const capturedHistory = [...pending, captured('auth-1', '800', '200')];
    const refund = (refundId: string) => ({ type: 'RefundAuthorization' as const, authorizationId: 'auth-1', refundId, entryId: `entry-${refundId}`, amount: 100n });
    const refunded = (refundId: string, atMs: number): CardEvent => ({ type: 'cards.AuthorizationRefunded.v1', data: { authorizationId: 'auth-1', refundId, entryId: `entry-${refundId}`, amount: '100', atMs } });
    specAt(NOW_MS + REFUND_WINDOW_MS).given(capturedHistory).when(refund('f1')).then([refunded('f1', NOW_MS + REFUND_WINDOW_MS)]);
    // Past the window on a quiet card (no event since pruned the capture): refused as on a busy one.
    specAt(NOW_MS + REFUND_WINDOW_MS + 1).given(capturedHistory).when(refund('f1')).thenFails({ code: 'hold_not_pending', details: { authorizationId: 'auth-1', status: 'captured' } });
    // A retry of a refund taken within the window is still answered.
    specAt(NOW_MS + REFUND_WINDOW_MS + 1).given([...capturedHistory, refunded('f1', NOW_MS + 1)]).when(refund('f1')).then([]);
  });

  it('expires a pending hold; a finished one stays as it is', () => {
    spec.given(pending).when({ type: 'ExpireAuthorization', authorizationId: 'auth-1', walletId: WALLET_ID }).then([{ type: 'cards.AuthorizationExpired.v1', data: { authorizationId: 'auth-1', releasedAmount: '1000', atMs: NOW_MS } }]);
    spec.given([...pending, reversed('auth-1', '400')]).when({ type: 'ExpireAuthorization', authorizationId: 'auth-1', walletId: WALLET_ID }).then([{ type: 'cards.AuthorizationExpired.v1', data: { authorizationId: 'auth-1', releasedAmount: '600', atMs: NOW_MS } }]);
    spec.given([...pending, captured('auth-1', '1000', '0')]).when({ type: 'ExpireAuthorization', authorizationId: 'auth-1', walletId: WALLET_ID }).then([]);
    spec.given([issued()]).when({ type: 'ExpireAuthorization', authorizationId: 'unknown', walletId: WALLET_ID }).then([]);
    // Still requested (interrupted before its outcome): the hold it placed is gone, so it is declined, never approved later on nothing held.
    spec.given([issued(), requested]).when({ type: 'ExpireAuthorization', authorizationId: 'auth-1', walletId: WALLET_ID }).then([declinedWith('05', 'issuer_recovered') as CardEvent]);
    expect(spendAt(card([issued(), requested, declinedWith('05', 'issuer_recovered') as CardEvent]), NOW_MS)).toEqual({ daily: 0n, monthly: 0n });
    // A hold of the same id on another wallet (hold ids are unique per ledger shard only) is not this authorization's.
    spec.given(pending).when({ type: 'ExpireAuthorization', authorizationId: 'auth-1', walletId: 'wallet-elsewhere' }).then([]);
    spec.given(pending).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: 'wallet-elsewhere', releasedAmount: 1000n, ledgerKey: 'elsewhere' }).then([]);
    spec.given(pending).when({ type: 'ObserveHoldCaptured', authorizationId: 'auth-1', walletId: 'wallet-elsewhere', capturedAmount: 1000n, releasedAmount: 0n }).then([]);
  });

  it('records what the ledger says happened to a hold only when the card does not know it yet', () => {
    spec.given(pending).when({ type: 'ObserveHoldCaptured', authorizationId: 'auth-1', walletId: WALLET_ID, capturedAmount: 600n, releasedAmount: 400n }).then([
      { type: 'cards.AuthorizationCaptured.v1', data: { authorizationId: 'auth-1', capturedAmount: '600', releasedAmount: '400', idempotencyKey: null, atMs: NOW_MS } },
    ]);
    spec.given([...pending, captured('auth-1', '600', '400')]).when({ type: 'ObserveHoldCaptured', authorizationId: 'auth-1', walletId: WALLET_ID, capturedAmount: 600n, releasedAmount: 400n }).then([]);
    spec.given(pending).when({ type: 'ObserveHoldCaptured', authorizationId: 'other', walletId: WALLET_ID, capturedAmount: 1n, releasedAmount: 0n }).then([]);
    spec.given(pending).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: WALLET_ID, releasedAmount: 300n, ledgerKey: 'lk' }).then([
      { type: 'cards.AuthorizationReversed.v1', data: { authorizationId: 'auth-1', releasedAmount: '300', sequence: 1, idempotencyKey: null, ledgerKey: 'lk', atMs: NOW_MS } },
    ]);
    spec.given([...pending, reversed('auth-1', '300', 1, NOW_MS, 'r1')]).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: WALLET_ID, releasedAmount: 300n, ledgerKey: 'ledger-r1' }).then([]);
    // Released whole while still requested (recovery's release, its decline not recorded): declined, never approved later on nothing held.
    spec.given([issued(), requested]).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: WALLET_ID, releasedAmount: 1000n, ledgerKey: 'card-recover' }).then([declinedWith('05', 'issuer_recovered') as CardEvent]);
    spec.given([issued(), requested]).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: WALLET_ID, releasedAmount: 400n, ledgerKey: 'card-recover' }).then([]);
    // A later reversal recorded first: the release learnt now is its own amount, not the hold's rest at the ledger's time.
    spec.given([...pending, reversed('auth-1', '200', 1, NOW_MS, 'r2')]).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: WALLET_ID, releasedAmount: 300n, ledgerKey: 'ledger-r1' }).then([
      { type: 'cards.AuthorizationReversed.v1', data: { authorizationId: 'auth-1', releasedAmount: '300', sequence: 2, idempotencyKey: null, ledgerKey: 'ledger-r1', atMs: NOW_MS } },
    ]);
    spec.given([...pending, reversed('auth-1', '800', 1, NOW_MS, 'r2')]).when({ type: 'ObserveHoldReleased', authorizationId: 'auth-1', walletId: WALLET_ID, releasedAmount: 300n, ledgerKey: 'ledger-r1' }).then([]);
    const capturedHistory = [...pending, captured('auth-1', '800', '200')];
    const refundPosted = (credited: [string, bigint][]) => ({ type: 'ObserveRefundPosted' as const, authorizationId: 'auth-1', refundId: 'f1', entryId: 'e1', credited: new Map(credited) });
    spec.given(capturedHistory).when(refundPosted([[WALLET_ID, 300n]])).then([
      { type: 'cards.AuthorizationRefunded.v1', data: { authorizationId: 'auth-1', refundId: 'f1', entryId: 'e1', amount: '300', atMs: NOW_MS } },
    ]);
    spec.given(capturedHistory).when(refundPosted([[WALLET_ID, 801n]])).then([]);
    // An entry of kind card_refund that credits another account than the card's wallet refunds nothing.
    spec.given(capturedHistory).when(refundPosted([['sys:fees:USD:1', 300n]])).then([]);
  });

  it('answers a retried capture or reversal the ledger already told of as a replay', () => {
    const observedCapture: CardEvent = { type: 'cards.AuthorizationCaptured.v1', data: { authorizationId: 'auth-1', capturedAmount: '600', releasedAmount: '400', idempotencyKey: null, atMs: NOW_MS } };
    spec.given([...pending, observedCapture]).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 600n, idempotencyKey: 'k', replayedByLedger: true }).then([]);
    // Another capture under a new key: the ledger refused it (no replay), so the hold is finished, as after a recorded capture.
    spec.given([...pending, observedCapture]).when({ type: 'CaptureAuthorization', authorizationId: 'auth-1', amount: 600n, idempotencyKey: 'k2', replayedByLedger: false }).thenFails({ code: 'hold_not_pending', details: { status: 'captured' } });
    const observedReversal: CardEvent = { type: 'cards.AuthorizationReversed.v1', data: { authorizationId: 'auth-1', releasedAmount: '300', sequence: 1, idempotencyKey: null, ledgerKey: 'lk', atMs: NOW_MS } };
    spec.given([...pending, observedReversal]).when({ type: 'ReverseAuthorization', authorizationId: 'auth-1', amount: 300n, idempotencyKey: 'r', ledgerKey: 'lk' }).then([]);
  });

  it('keeps the newest CAPTURED_AUTHORIZATIONS_KEPT_MAX captures; a refund of an older one folds without it', () => {
    const capture = (id: string, atMs: number): CardEvent[] => [...approved(id, '10', atMs), captured(id, '10', '0', atMs)];
    const newer = Array.from({ length: CAPTURED_AUTHORIZATIONS_KEPT_MAX }, (_, i) => capture(`newer-${i}`, NOW_MS + 1 + i)).flat();
    const state = card([issued(), ...capture('oldest', NOW_MS), ...newer]);
    expect(state.authorizations.has('oldest')).toBe(false);
    expect(state.authorizations.has(`newer-${CAPTURED_AUTHORIZATIONS_KEPT_MAX - 1}`)).toBe(true);
    expect(state.authorizations.size).toBe(CAPTURED_AUTHORIZATIONS_KEPT_MAX);
    const refunded: CardEvent = { type: 'cards.AuthorizationRefunded.v1', data: { authorizationId: 'oldest', refundId: 'f1', entryId: 'e1', amount: '5', atMs: NOW_MS + CAPTURED_AUTHORIZATIONS_KEPT_MAX + 1 } };
    expect(card([issued(), ...capture('oldest', NOW_MS), ...newer, refunded]).authorizations.size).toBe(CAPTURED_AUTHORIZATIONS_KEPT_MAX);
    // Restored from its own events, it is refundable as before.
    const restored = withRestored(state, card([issued(), ...capture('oldest', NOW_MS)]).authorizations.get('oldest')!);
    expect(cardDecider.decide({ type: 'RefundAuthorization', authorizationId: 'oldest', refundId: 'f1', entryId: 'e1', amount: 5n }, state, { nowMs: NOW_MS })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(cardDecider.decide({ type: 'RefundAuthorization', authorizationId: 'oldest', refundId: 'f1', entryId: 'e1', amount: 5n }, restored, { nowMs: NOW_MS + CAPTURED_AUTHORIZATIONS_KEPT_MAX + 1 })).toEqual({ ok: true, events: [refunded] });
  });

  it('forgets finished authorizations after their retention, deterministically by event time', () => {
    const later = NOW_MS + FINISHED_AUTHORIZATION_KEPT_MS + 1;
    const history = [issued(), declinedWith('N7', 'cvv_mismatch', 'old') as CardEvent, ...approved('new', '1', later)];
    expect(card(history).authorizations.has('old')).toBe(false);
    expect(card(history.slice(0, 2)).authorizations.has('old')).toBe(true);
    expect(card([...history.slice(0, 2), ...approved('soon', '1', later - 2)]).authorizations.has('old')).toBe(true);
  });
});
