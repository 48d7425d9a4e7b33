import type { DomainError } from '@ledger/contracts';
import { deciderSpec } from '@ledger/contracts/testing';
import { availableBalance, pendingBalance, postedBalance } from './account';
import { evolve, foldLedgerShard, globalSums, outcomeOf, type EntryPosted, type LedgerEvent } from './ledger-shard';
import { fromSnapshotParts, snapshotParts } from './snapshot';
import {
  commandFingerprint,
  decide,
  ledgerShard,
  postedEntryOf,
  rejectionEvent,
  type CaptureHold,
  type ExpireHold,
  type OpenAccount,
  type PlaceHold,
  type PostEntry,
  type ReleaseHold,
  type UnfreezeAccount,
} from './ledger-shard.commands';
import { IDEMPOTENCY_WINDOW_MS, POSTINGS_MAX } from './limits';
import {
  BASE,
  close,
  freeze,
  historyOf,
  HOUR_MS,
  NOW_MS,
  openFunding,
  openWallet,
  placeHold,
  stampOf,
  topUp,
  transfer,
} from './testing/ledger-shard.fixtures';

const spec = deciderSpec(ledgerShard, { nowMs: NOW_MS });
const base = historyOf(...BASE);
const withHold = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n));

const capture = (key: string, holdId: string, amount: bigint): CaptureHold => ({ type: 'CaptureHold', idempotencyKey: key, holdId, amount });
const release = (key: string, holdId: string, amount?: bigint): ReleaseHold =>
  amount === undefined ? { type: 'ReleaseHold', idempotencyKey: key, holdId } : { type: 'ReleaseHold', idempotencyKey: key, holdId, amount };
const expire = (key: string, holdId: string): ExpireHold => ({ type: 'ExpireHold', idempotencyKey: key, holdId });
const unfreeze = (key: string, accountId: string): UnfreezeAccount => ({ type: 'UnfreezeAccount', idempotencyKey: key, accountId });
const holdAccounts = { holdId: 'h1', debitAccountId: 'alice', creditAccountId: 'bob', currency: 'USD' } as const;

function stateAfter(events: LedgerEvent[]) {
  return foldLedgerShard(events);
}

describe('OpenAccount', () => {
  it('opens a wallet: credit-normal, no overdraft, active, zero sums', () => {
    const command = openWallet('carol', 'EUR');
    spec.given([]).when(command).then([
      {
        type: 'ledger.AccountOpened.v1',
        data: {
          ...stampOf(command),
          accountId: 'carol',
          currency: 'EUR',
          normalSide: 'credit',
          flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false },
          kind: 'wallet',
          ownerId: 'owner-of-carol',
        },
      },
    ]);
    const carol = stateAfter(historyOf(command)).accounts.get('carol');
    expect(carol).toMatchObject({ status: 'active', debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n });
  });

  it('opens a system account without an owner (ownerId null in the event)', () => {
    const command = openFunding('KWD');
    spec.given([]).when(command).then([
      {
        type: 'ledger.AccountOpened.v1',
        data: {
          ...stampOf(command),
          accountId: 'sys:funding:KWD:0',
          currency: 'KWD',
          normalSide: 'debit',
          flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false },
          kind: 'system',
          ownerId: null,
        },
      },
    ]);
  });

  it('rejects an id that exists: account_exists', () => {
    spec.given(base).when({ ...openWallet('alice'), idempotencyKey: 'again' }).thenFails({ code: 'account_exists', details: { accountId: 'alice' } });
  });

  it.each<[string, Partial<OpenAccount>, string]>([
    ['a debit-normal wallet', { normalSide: 'debit' }, 'wallet_must_be_credit_normal_without_overdraft'],
    ['a wallet that may overdraw', { flags: {} }, 'wallet_must_be_credit_normal_without_overdraft'],
    ['both flags', { kind: 'system', flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true } }, 'flags_mutually_exclusive'],
    ['an unknown currency', { currency: 'XXX' as never }, 'unknown_currency'],
    ['an empty id', { accountId: '' }, 'invalid_id'],
    ['an id past ID_LENGTH_MAX', { accountId: 'a'.repeat(129) }, 'invalid_id'],
  ])('rejects %s: validation_failed', (_, change, reason) => {
    spec.given([]).when({ ...openWallet('carol'), ...change }).thenFails({ code: 'validation_failed', details: expect.objectContaining({ reason }) });
  });
});

describe('PostEntry', () => {
  it('posts a balanced entry and moves the four sums', () => {
    const command: PostEntry = { ...transfer('t1', 'alice', 'bob', 2_500n), references: { transferId: 'tr-1' } };
    spec.given(base).when(command).then([
      {
        type: 'ledger.EntryPosted.v1',
        data: {
          ...stampOf(command),
          entryId: 'entry-t1',
          kind: 'transfer',
          postings: [
            { accountId: 'alice', side: 'debit', amount: '2500', currency: 'USD' },
            { accountId: 'bob', side: 'credit', amount: '2500', currency: 'USD' },
          ],
          references: { transferId: 'tr-1' },
        },
      },
    ]);
    const state = stateAfter(historyOf(...BASE, command));
    expect(postedBalance(state.accounts.get('alice')!)).toBe(7_500n);
    expect(postedBalance(state.accounts.get('bob')!)).toBe(2_500n);
    expect(postedBalance(state.accounts.get('sys:funding:USD:0')!)).toBe(10_000n);
    expect(globalSums(state).get('USD')).toEqual({ posted: 0n, pending: 0n });
  });

  it('stores references as {} when the command has none', () => {
    const command = transfer('t1', 'alice', 'bob', 1n);
    const result = decide(command, stateAfter(base), { nowMs: NOW_MS });
    expect(result.ok && result.events[0]!.type === 'ledger.EntryPosted.v1' && result.events[0]!.data.references).toEqual({});
  });

  it('lets the whole available balance go', () => {
    spec.given(base).when(transfer('t1', 'alice', 'bob', 10_000n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
  });

  it('lets an account appear on both sides, and judges its net', () => {
    const bothSides = (debit: bigint, credit: bigint): PostEntry => ({
      ...transfer('t2', 'alice', 'bob', 1n),
      postings: [
        { accountId: 'alice', side: 'debit', amount: debit, currency: 'USD' },
        { accountId: 'alice', side: 'credit', amount: credit, currency: 'USD' },
        { accountId: 'bob', side: 'credit', amount: debit - credit, currency: 'USD' },
      ],
    });
    spec.given(base).when(bothSides(20_000n, 10_000n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
    spec.given(base).when(bothSides(20_001n, 10_000n)).thenFails({ code: 'insufficient_funds', details: { accountId: 'alice' } });
  });

  it('balances per currency: two currencies in one entry, each balanced', () => {
    const fx: PostEntry = {
      ...transfer('fx', 'alice', 'sys:funding:USD:0', 100n),
      postings: [
        { accountId: 'alice', side: 'debit', amount: 100n, currency: 'USD' },
        { accountId: 'sys:funding:USD:0', side: 'credit', amount: 100n, currency: 'USD' },
        { accountId: 'sys:funding:JPY:0', side: 'debit', amount: 150n, currency: 'JPY' },
        { accountId: 'yuki', side: 'credit', amount: 150n, currency: 'JPY' },
      ],
    };
    spec.given(base).when(fx).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
  });

  const shapeCases: [string, (command: PostEntry) => PostEntry, Record<string, unknown>][] = [
    ['one posting', (c) => ({ ...c, postings: c.postings.slice(0, 1) }), { reason: 'postings_count' }],
    [
      `more than POSTINGS_MAX (${POSTINGS_MAX}) postings`,
      (c) => ({
        ...c,
        postings: Array.from({ length: POSTINGS_MAX + 1 }, (_, i) => ({ accountId: `a${i}`, side: i === 0 ? ('debit' as const) : ('credit' as const), amount: 1n, currency: 'USD' as const })),
      }),
      { reason: 'postings_count' },
    ],
    ['a zero amount', (c) => ({ ...c, postings: c.postings.map((p) => ({ ...p, amount: 0n })) }), { reason: 'amount_out_of_range', field: 'postings[0].amount' }],
    ['a negative amount', (c) => ({ ...c, postings: c.postings.map((p) => ({ ...p, amount: -5n })) }), { reason: 'amount_out_of_range' }],
    ['an amount past 30 digits', (c) => ({ ...c, postings: c.postings.map((p) => ({ ...p, amount: 10n ** 30n })) }), { reason: 'amount_out_of_range' }],
    [
      'an account twice on one side',
      (c) => ({ ...c, postings: [c.postings[0]!, { ...c.postings[0]!, amount: 1n }, { ...c.postings[1]!, amount: c.postings[1]!.amount + 1n }] }),
      { reason: 'account_twice_on_one_side', accountId: 'alice' },
    ],
    [
      'an unbalanced entry',
      (c) => ({ ...c, postings: [c.postings[0]!, { ...c.postings[1]!, amount: 99n }] }),
      { reason: 'unbalanced', currency: 'USD', debits: '100', credits: '99' },
    ],
    [
      'an entry balanced in total but not per currency',
      (c) => ({ ...c, postings: [c.postings[0]!, { accountId: 'yuki', side: 'credit', amount: 100n, currency: 'JPY' }] }),
      { reason: 'unbalanced' },
    ],
    ['an empty kind', (c) => ({ ...c, kind: '' }), { reason: 'invalid_kind' }],
    ['too many references', (c) => ({ ...c, references: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`r${i}`, 'x'])) }), { reason: 'too_many' }],
  ];
  it.each(shapeCases)('rejects %s: validation_failed', (_, change, details) => {
    spec.given(base).when(change(transfer('bad', 'alice', 'bob', 100n))).thenFails({ code: 'validation_failed', details: expect.objectContaining(details) });
  });

  it('rejects an unknown account: not_found', () => {
    spec.given(base).when(transfer('t1', 'alice', 'nobody', 100n)).thenFails({ code: 'not_found', details: { accountId: 'nobody' } });
  });

  it('rejects a posting whose currency is not the account currency: currency_mismatch', () => {
    spec.given(base).when(transfer('t1', 'sys:funding:JPY:0', 'yuki', 100n, 'USD')).thenFails({
      code: 'currency_mismatch',
      details: { accountId: 'sys:funding:JPY:0', accountCurrency: 'JPY', postingCurrency: 'USD' },
    });
  });

  it('rejects an overdraft of a wallet: insufficient_funds', () => {
    spec.given(base).when(transfer('t1', 'alice', 'bob', 10_001n)).thenFails({
      code: 'insufficient_funds',
      details: { accountId: 'alice', available: '10000' },
    });
  });

  it('counts what holds reserve: insufficient_funds beyond available', () => {
    spec.given(withHold).when(transfer('t1', 'alice', 'bob', 7_001n)).thenFails({ code: 'insufficient_funds', details: { available: '7000' } });
    spec.given(withHold).when(transfer('t1', 'alice', 'bob', 7_000n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
  });

  it('lets a debit-normal account flagged creditsMustNotExceedDebits not go below zero: insufficient_funds', () => {
    const settlement: OpenAccount = { ...openFunding('USD'), idempotencyKey: 'open-settle', accountId: 'settle', flags: { creditsMustNotExceedDebits: true } };
    const history = historyOf(...BASE, settlement, transfer('in', 'settle', 'bob', 50n));
    spec.given(history).when(transfer('out', 'alice', 'settle', 51n)).thenFails({ code: 'insufficient_funds', details: { accountId: 'settle' } });
    spec.given(history).when(transfer('out', 'alice', 'settle', 50n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
  });

  it('rejects a debit of a frozen account and a credit to a closed one: wallet_not_active', () => {
    const history = historyOf(...BASE, freeze('f', 'alice'), close('c', 'bob'));
    spec.given(history).when(transfer('t1', 'alice', 'sys:funding:USD:0', 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'alice', status: 'frozen' } });
    spec.given(history).when(topUp('t2', 'bob', 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'bob', status: 'closed' } });
  });

  it('lets money coming back out of transit (a reversal) land on its closed source; no other credit', () => {
    // Closed between a cross-shard transfer's out leg and its reversal, the source refused the reversal: the money stayed in transit for good.
    const TO = 'sys:transit-to-1:USD:0';
    const FROM = 'sys:transit-from-1:USD:0';
    const system = (accountId: string, normalSide: 'debit' | 'credit'): OpenAccount => ({ type: 'OpenAccount', idempotencyKey: `open-${accountId}`, accountId, currency: 'USD', normalSide, flags: {}, kind: 'system' });
    const history = historyOf(...BASE, system(TO, 'credit'), system(FROM, 'debit'), transfer('out', 'alice', TO, 10_000n), close('c', 'alice'));
    spec.given(history).when(transfer('back', TO, 'alice', 10_000n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
    spec.given(history).when(transfer('in', FROM, 'alice', 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'alice', status: 'closed' } });
    spec.given(history).when(topUp('t2', 'alice', 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'alice', status: 'closed' } });
    const returned = historyOf(...BASE, system(TO, 'credit'), system(FROM, 'debit'), transfer('out', 'alice', TO, 10_000n), close('c', 'alice'), transfer('back', TO, 'alice', 10_000n));
    const back = stateAfter(returned);
    expect([back.accounts.get('alice')!.status, postedBalance(back.accounts.get('alice')!), postedBalance(back.accounts.get(TO)!)]).toEqual(['closed', 10_000n, 0n]);
    // The closed wallet still sends nothing.
    spec.given(returned).when(transfer('again', 'alice', TO, 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'alice', status: 'closed' } });
  });

  it('lets a frozen wallet receive', () => {
    spec.given(historyOf(...BASE, freeze('f', 'alice'))).when(topUp('t2', 'alice', 1n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
  });
});

describe('PlaceHold', () => {
  it('reserves the amount: pending debit on the debit account, pending credit on the credit account', () => {
    const command = placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n);
    spec.given(base).when(command).then([
      {
        type: 'ledger.HoldPlaced.v1',
        data: { ...stampOf(command), ...holdAccounts, amount: '3000', expiresAtMs: NOW_MS + HOUR_MS },
      },
    ]);
    const state = stateAfter(withHold);
    const alice = state.accounts.get('alice')!;
    expect([postedBalance(alice), pendingBalance(alice), availableBalance(alice)]).toEqual([10_000n, 3_000n, 7_000n]);
    expect(state.accounts.get('bob')).toMatchObject({ creditsPending: 3_000n, creditsPosted: 0n });
    expect(availableBalance(state.accounts.get('bob')!)).toBe(0n); // pending credits do not count
    expect(state.holds.get('h1')).toMatchObject({ status: 'pending', heldAmount: 3_000n, placedAmount: 3_000n });
  });

  it('rejects more than is available: insufficient_funds', () => {
    spec.given(withHold).when(placeHold('hold-2', 'h2', 'alice', 'bob', 7_001n)).thenFails({ code: 'insufficient_funds', details: { accountId: 'alice' } });
  });

  it.each([
    ['an unknown debit account', placeHold('k', 'h2', 'nobody', 'bob', 1n), { code: 'not_found', details: { accountId: 'nobody' } }],
    ['an unknown credit account', placeHold('k', 'h2', 'alice', 'nobody', 1n), { code: 'not_found', details: { accountId: 'nobody' } }],
    ['accounts in two currencies', placeHold('k', 'h2', 'alice', 'yuki', 1n), { code: 'currency_mismatch' }],
    ['a hold id in use', placeHold('k', 'h1', 'alice', 'bob', 1n), { code: 'validation_failed', details: expect.objectContaining({ reason: 'hold_exists' }) }],
    ['one account on both sides', placeHold('k', 'h2', 'alice', 'alice', 1n), { code: 'validation_failed', details: expect.objectContaining({ reason: 'same_account' }) }],
    ['a zero amount', placeHold('k', 'h2', 'alice', 'bob', 0n), { code: 'validation_failed', details: expect.objectContaining({ field: 'amount' }) }],
    [
      'an expiry in the past',
      { ...placeHold('k', 'h2', 'alice', 'bob', 1n), expiresAtMs: NOW_MS },
      { code: 'validation_failed', details: expect.objectContaining({ field: 'expiresAtMs' }) },
    ],
    [
      'an expiry past HOLD_TIMEOUT_MAX_MS',
      { ...placeHold('k', 'h2', 'alice', 'bob', 1n), expiresAtMs: NOW_MS + 32 * 24 * HOUR_MS },
      { code: 'validation_failed', details: expect.objectContaining({ field: 'expiresAtMs' }) },
    ],
  ])('rejects %s', (_, command, error) => {
    spec.given(withHold).when(command).thenFails(error as Partial<DomainError>);
  });

  it('rejects a hold on a frozen debit account or to a closed credit account: wallet_not_active', () => {
    spec.given(historyOf(...BASE, freeze('f', 'alice'))).when(placeHold('k', 'h2', 'alice', 'bob', 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'alice' } });
    spec.given(historyOf(...BASE, close('c', 'bob'))).when(placeHold('k', 'h2', 'alice', 'bob', 1n)).thenFails({ code: 'wallet_not_active', details: { accountId: 'bob' } });
  });
});

describe('CaptureHold', () => {
  it('posts a partial capture and releases the rest; the hold is captured', () => {
    const command = capture('cap', 'h1', 1_200n);
    spec.given(withHold).when(command).then([
      { type: 'ledger.HoldCaptured.v1', data: { ...stampOf(command), ...holdAccounts, capturedAmount: '1200', releasedAmount: '1800' } },
    ]);
    const state = stateAfter(historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), command));
    expect(state.accounts.get('alice')).toMatchObject({ debitsPosted: 1_200n, debitsPending: 0n });
    expect(state.accounts.get('bob')).toMatchObject({ creditsPosted: 1_200n, creditsPending: 0n });
    expect(state.holds.get('h1')).toMatchObject({ status: 'captured', heldAmount: 0n, capturedAmount: 1_200n });
    expect(globalSums(state).get('USD')).toEqual({ posted: 0n, pending: 0n });
  });

  it('captures the whole hold', () => {
    const command = capture('cap', 'h1', 3_000n);
    spec.given(withHold).when(command).then([
      { type: 'ledger.HoldCaptured.v1', data: { ...stampOf(command), ...holdAccounts, capturedAmount: '3000', releasedAmount: '0' } },
    ]);
  });

  it('captures on a frozen wallet: the hold already reserved the money', () => {
    const frozen = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), freeze('f', 'alice'));
    spec.given(frozen).when(capture('cap', 'h1', 3_000n)).then([expect.objectContaining({ type: 'ledger.HoldCaptured.v1' })]);
  });

  it('rejects more than is held: amount_exceeds_hold', () => {
    spec.given(withHold).when(capture('cap', 'h1', 3_001n)).thenFails({ code: 'amount_exceeds_hold', details: { holdId: 'h1', heldAmount: '3000' } });
  });

  it('rejects a zero amount: validation_failed', () => {
    spec.given(withHold).when(capture('cap', 'h1', 0n)).thenFails({ code: 'validation_failed' });
  });

  it('rejects an unknown hold: not_found', () => {
    spec.given(withHold).when(capture('cap', 'nope', 1n)).thenFails({ code: 'not_found', details: { holdId: 'nope' } });
  });

  it('rejects a hold that is no longer pending: hold_not_pending', () => {
    const captured = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), capture('cap', 'h1', 1n));
    spec.given(captured).when(capture('cap-2', 'h1', 1n)).thenFails({ code: 'hold_not_pending', details: { holdId: 'h1', status: 'captured' } });
    spec.given(captured).when(release('rel', 'h1')).thenFails({ code: 'hold_not_pending' });
    spec.given(captured).when(expire('exp', 'h1')).thenFails({ code: 'hold_not_pending' });
  });
});

describe('ReleaseHold', () => {
  it('releases everything without an amount; the hold is released', () => {
    const command = release('rel', 'h1');
    spec.given(withHold).when(command).then([
      { type: 'ledger.HoldReleased.v1', data: { ...stampOf(command), ...holdAccounts, releasedAmount: '3000', heldAmount: '0' } },
    ]);
    const state = stateAfter(historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), command));
    expect(state.holds.get('h1')).toMatchObject({ status: 'released', heldAmount: 0n });
    expect(availableBalance(state.accounts.get('alice')!)).toBe(10_000n);
  });

  it('releases part; the hold stays pending with less held', () => {
    const command = release('rel', 'h1', 1_000n);
    spec.given(withHold).when(command).then([
      { type: 'ledger.HoldReleased.v1', data: { ...stampOf(command), ...holdAccounts, releasedAmount: '1000', heldAmount: '2000' } },
    ]);
    const history = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), command);
    expect(stateAfter(history).holds.get('h1')).toMatchObject({ status: 'pending', heldAmount: 2_000n });
    spec.given(history).when(capture('cap', 'h1', 2_001n)).thenFails({ code: 'amount_exceeds_hold', details: { heldAmount: '2000' } });
    spec.given(history).when(release('rel-2', 'h1', 2_000n)).then([expect.objectContaining({ data: expect.objectContaining({ heldAmount: '0' }) })]);
  });

  it('rejects more than is held: amount_exceeds_hold', () => {
    spec.given(withHold).when(release('rel', 'h1', 3_001n)).thenFails({ code: 'amount_exceeds_hold' });
  });

  it('rejects an unknown hold, or one no longer pending', () => {
    spec.given(withHold).when(release('rel', 'nope')).thenFails({ code: 'not_found' });
    const released = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), release('rel', 'h1'));
    spec.given(released).when(release('rel-2', 'h1')).thenFails({ code: 'hold_not_pending', details: { status: 'released' } });
  });
});

describe('ExpireHold', () => {
  const atExpiry = deciderSpec(ledgerShard, { nowMs: NOW_MS + HOUR_MS });

  it('refuses a capture or release from expiresAtMs on, swept or not: hold_not_pending (expired)', () => {
    // Before: a capture decided before the writer's sweep reached the hold posted it, one decided after was refused.
    const expired = { code: 'hold_not_pending' as const, details: { holdId: 'h1', status: 'expired', expiresAtMs: NOW_MS + HOUR_MS } };
    atExpiry.given(withHold).when(capture('cap', 'h1', 1n)).thenFails(expired);
    atExpiry.given(withHold).when(release('rel', 'h1')).thenFails(expired);
    atExpiry.given(withHold).when(release('rel', 'h1', 1n)).thenFails(expired);
    // A millisecond before, both still go through; and a capture's retry replays its first outcome after the expiry.
    const before = deciderSpec(ledgerShard, { nowMs: NOW_MS + HOUR_MS - 1 });
    before.given(withHold).when(capture('cap', 'h1', 1n)).then([expect.objectContaining({ type: 'ledger.HoldCaptured.v1' })]);
    before.given(withHold).when(release('rel', 'h1')).then([expect.objectContaining({ type: 'ledger.HoldReleased.v1' })]);
    const captured = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), capture('cap', 'h1', 1n));
    atExpiry.given(captured).when(capture('cap', 'h1', 1n)).then([]);
  });


  it('rejects an expiry before expiresAtMs: hold_not_expired', () => {
    deciderSpec(ledgerShard, { nowMs: NOW_MS + HOUR_MS - 1 })
      .given(withHold)
      .when(expire('exp', 'h1'))
      .thenFails({ code: 'hold_not_expired', details: { holdId: 'h1', expiresAtMs: NOW_MS + HOUR_MS } });
  });

  it('releases everything from expiresAtMs on; the hold is expired', () => {
    const command = expire('exp', 'h1');
    atExpiry.given(withHold).when(command).then([
      { type: 'ledger.HoldExpired.v1', data: { ...stampOf(command, NOW_MS + HOUR_MS), ...holdAccounts, releasedAmount: '3000' } },
    ]);
  });

  it('rejects an unknown hold, or one no longer pending', () => {
    atExpiry.given(withHold).when(expire('exp', 'nope')).thenFails({ code: 'not_found' });
    const captured = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), capture('cap', 'h1', 1n));
    atExpiry.given(captured).when(expire('exp', 'h1')).thenFails({ code: 'hold_not_pending' });
  });
});

describe('FreezeAccount, UnfreezeAccount, CloseAccount', () => {
  it('freezes an active account, unfreezes a frozen one', () => {
    const freezeAlice = freeze('f', 'alice');
    spec.given(base).when(freezeAlice).then([{ type: 'ledger.AccountFrozen.v1', data: { ...stampOf(freezeAlice), accountId: 'alice' } }]);
    const frozen = historyOf(...BASE, freezeAlice);
    expect(stateAfter(frozen).accounts.get('alice')!.status).toBe('frozen');
    const unfreezeAlice = unfreeze('u', 'alice');
    spec.given(frozen).when(unfreezeAlice).then([{ type: 'ledger.AccountUnfrozen.v1', data: { ...stampOf(unfreezeAlice), accountId: 'alice' } }]);
    expect(stateAfter(historyOf(...BASE, freezeAlice, unfreezeAlice)).accounts.get('alice')!.status).toBe('active');
  });

  it('rejects freezing a frozen or closed account: wallet_not_active', () => {
    spec.given(historyOf(...BASE, freeze('f', 'alice'))).when(freeze('f2', 'alice')).thenFails({ code: 'wallet_not_active', details: { status: 'frozen' } });
    spec.given(historyOf(...BASE, close('c', 'bob'))).when(freeze('f2', 'bob')).thenFails({ code: 'wallet_not_active', details: { status: 'closed' } });
  });

  it('rejects unfreezing an active account (validation_failed) or a closed one (wallet_not_active)', () => {
    spec.given(base).when(unfreeze('u', 'alice')).thenFails({ code: 'validation_failed', details: expect.objectContaining({ reason: 'account_not_frozen' }) });
    spec.given(historyOf(...BASE, close('c', 'bob'))).when(unfreeze('u', 'bob')).thenFails({ code: 'wallet_not_active' });
  });

  it('closes an account with nothing posted or pending, frozen or not', () => {
    const closeBob = close('c', 'bob');
    spec.given(base).when(closeBob).then([{ type: 'ledger.AccountClosed.v1', data: { ...stampOf(closeBob), accountId: 'bob' } }]);
    spec.given(historyOf(...BASE, freeze('f', 'bob'))).when(closeBob).then([expect.objectContaining({ type: 'ledger.AccountClosed.v1' })]);
    const emptied = historyOf(...BASE, transfer('out', 'alice', 'sys:funding:USD:0', 10_000n));
    spec.given(emptied).when(close('c', 'alice')).then([expect.objectContaining({ type: 'ledger.AccountClosed.v1' })]);
  });

  it('rejects closing an account with a posted or pending balance: balance_not_zero', () => {
    spec.given(base).when(close('c', 'alice')).thenFails({ code: 'balance_not_zero', details: { accountId: 'alice', posted: '10000' } });
    // bob's posted is zero, but the hold reserves a pending credit for him
    spec.given(withHold).when(close('c', 'bob')).thenFails({ code: 'balance_not_zero', details: { creditsPending: '3000' } });
  });

  it('rejects closing twice (wallet_not_active) and unknown accounts (not_found)', () => {
    spec.given(historyOf(...BASE, close('c', 'bob'))).when(close('c2', 'bob')).thenFails({ code: 'wallet_not_active' });
    for (const command of [freeze('k', 'nobody'), unfreeze('k', 'nobody'), close('k', 'nobody')]) {
      spec.given(base).when(command).thenFails({ code: 'not_found', details: { accountId: 'nobody' } });
    }
  });
});

describe('idempotency', () => {
  it('requires a usable key: idempotency_key_required, and records nothing for it', () => {
    const command = { ...transfer('', 'alice', 'bob', 1n) };
    spec.given(base).when(command).thenFails({ code: 'idempotency_key_required' });
    expect(rejectionEvent(stateAfter(base), command, { code: 'idempotency_key_required', message: '' }, { nowMs: NOW_MS })).toBeUndefined();
  });

  it('answers a retry of an accepted command with no events, and keeps its first outcome', () => {
    const command = transfer('t1', 'alice', 'bob', 100n);
    const history = historyOf(...BASE, command);
    spec.given(history).when(command).then([]);
    expect(outcomeOf(stateAfter(history), 't1')).toEqual({
      fingerprint: commandFingerprint(command),
      atMs: NOW_MS,
      outcome: { ok: true, event: history[history.length - 1] },
    });
  });

  it('answers a retry of a rejected command with the same error, also after a restart', () => {
    const command = transfer('t1', 'alice', 'bob', 99_999n);
    const state = stateAfter(base);
    const first = decide(command, state, { nowMs: NOW_MS });
    expect(first).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    if (first.ok) return;
    const rejection = rejectionEvent(state, command, first.error, { nowMs: NOW_MS })!;
    expect(rejection).toEqual({
      type: 'ledger.CommandRejected.v1',
      data: { ...stampOf(command), commandType: 'PostEntry', error: first.error },
    });
    // the balance would now allow it, but the first outcome stands
    const more = historyOf(...BASE, topUp('more', 'alice', 100_000n)).slice(base.length);
    const restarted: LedgerEvent[] = JSON.parse(JSON.stringify([...base, rejection, ...more]));
    spec.given(restarted).when(command).thenFails(first.error);
    expect(rejectionEvent(stateAfter(restarted), command, first.error, { nowMs: NOW_MS })).toBeUndefined();
  });

  it('rejects the same key with another payload: idempotency_key_reuse, and does not record it', () => {
    const history = historyOf(...BASE, transfer('t1', 'alice', 'bob', 100n));
    spec.given(history).when(transfer('t1', 'alice', 'bob', 101n)).thenFails({ code: 'idempotency_key_reuse', details: { idempotencyKey: 't1' } });
    expect(rejectionEvent(stateAfter(history), transfer('t1', 'alice', 'bob', 101n), { code: 'idempotency_key_reuse', message: '' }, { nowMs: NOW_MS })).toBeUndefined();
  });

  it('fingerprints the payload, not the key, and treats absent optional fields as absent', () => {
    const command = transfer('t1', 'alice', 'bob', 100n);
    expect(commandFingerprint({ ...command, idempotencyKey: 'other' })).toBe(commandFingerprint(command));
    expect(commandFingerprint({ ...command, references: {} })).toBe(commandFingerprint(command));
    expect(commandFingerprint(release('r', 'h1'))).toBe(commandFingerprint({ ...release('r', 'h1'), amount: undefined }));
    expect(commandFingerprint(release('r', 'h1'))).not.toBe(commandFingerprint(release('r', 'h1', 3_000n)));
    expect(commandFingerprint(command)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('takes a key as new from IDEMPOTENCY_WINDOW_MS after its command on, though no later event has forgotten it yet', () => {
    // The shard idle since: the same top-up a day later replayed the first outcome and moved no money (or, changed, met idempotency_key_reuse).
    const windowLater = deciderSpec(ledgerShard, { nowMs: NOW_MS + IDEMPOTENCY_WINDOW_MS });
    spec.given(base).when(topUp('top-up-alice', 'alice', 10_000n)).then([]);
    windowLater.given(base).when(topUp('top-up-alice', 'alice', 10_000n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
    windowLater.given(base).when(topUp('top-up-alice', 'alice', 5n)).then([expect.objectContaining({ type: 'ledger.EntryPosted.v1' })]);
    const state = stateAfter(base);
    const again = decide(topUp('top-up-alice', 'alice', 5n), state, { nowMs: NOW_MS + IDEMPOTENCY_WINDOW_MS });
    ledgerShard.evolve(state, (again.ok && again.events[0]) as LedgerEvent);
    expect(outcomeOf(state, 'top-up-alice', NOW_MS + IDEMPOTENCY_WINDOW_MS)).toMatchObject({ atMs: NOW_MS + IDEMPOTENCY_WINDOW_MS });
    expect(postedBalance(state.accounts.get('alice')!)).toBe(10_005n);
    // A refusal is recorded in its place too, and an opened account's key is as new.
    const refused = decide(transfer('top-up-alice', 'bob', 'alice', 1n), stateAfter(base), { nowMs: NOW_MS + IDEMPOTENCY_WINDOW_MS });
    expect(refused).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    expect(rejectionEvent(stateAfter(base), transfer('top-up-alice', 'bob', 'alice', 1n), (refused as { error: DomainError }).error, { nowMs: NOW_MS + IDEMPOTENCY_WINDOW_MS })).toBeDefined();
    windowLater.given(base).when({ ...openWallet('carol'), idempotencyKey: 'open-alice' }).then([expect.objectContaining({ type: 'ledger.AccountOpened.v1' })]);
  });

  it("takes a finished hold's id as new from IDEMPOTENCY_WINDOW_MS after it finished on, though no later event has forgotten it yet", () => {
    // The shard idle since: whether the id was free a day later hung on unrelated traffic having come first.
    const later = NOW_MS + IDEMPOTENCY_WINDOW_MS;
    const history = historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), release('rel', 'h1'));
    const again: PlaceHold = { ...placeHold('hold-again', 'h1', 'alice', 'bob', 1_000n), expiresAtMs: later + HOUR_MS };
    const state = stateAfter(history);
    const placed = decide(again, state, { nowMs: later });
    expect(placed).toMatchObject({ ok: true, events: [{ type: 'ledger.HoldPlaced.v1' }] });
    ledgerShard.evolve(state, (placed.ok && placed.events[0]) as LedgerEvent);
    expect(state.holds.get('h1')).toMatchObject({ status: 'pending', heldAmount: 1_000n });
    expect(pendingBalance(state.accounts.get('alice')!)).toBe(1_000n);
    // Settling it by the old id a day later is settling an unknown hold, as after other traffic.
    expect(decide(capture('cap', 'h1', 1n), stateAfter(history), { nowMs: later })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('forgets keys and finished holds IDEMPOTENCY_WINDOW_MS after their command', () => {
    const state = stateAfter(historyOf(...BASE, placeHold('hold-1', 'h1', 'alice', 'bob', 3_000n), release('rel', 'h1')));
    expect(outcomeOf(state, 'rel')).toBeDefined();
    const later = NOW_MS + IDEMPOTENCY_WINDOW_MS;
    const tick = topUp('tick', 'bob', 1n);
    const result = decide(tick, state, { nowMs: later - 1 });
    ledgerShard.evolve(state, (result.ok && result.events[0]) as LedgerEvent);
    expect(outcomeOf(state, 'rel')).toBeDefined();
    expect(state.holds.has('h1')).toBe(true);
    const tock = topUp('tock', 'bob', 1n);
    const next = decide(tock, state, { nowMs: later });
    ledgerShard.evolve(state, (next.ok && next.events[0]) as LedgerEvent);
    expect(outcomeOf(state, 'rel')).toBeUndefined();
    expect(outcomeOf(state, 'open-alice')).toBeUndefined();
    expect(outcomeOf(state, 'tick')).toBeDefined();
    expect(state.holds.has('h1')).toBe(false);
    expect(decide(capture('cap', 'h1', 1n), state, { nowMs: later })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});

describe('evolve asserts the invariants (a broken one is a bug, thrown)', () => {
  const posted = (entryId: string, debit: bigint, credit: bigint): LedgerEvent => ({
    type: 'ledger.EntryPosted.v1',
    data: {
      ...stampOf(transfer('bad', 'alice', 'bob', 1n)),
      entryId,
      kind: 'transfer',
      postings: [
        { accountId: 'alice', side: 'debit', amount: `${debit}`, currency: 'USD' },
        { accountId: 'bob', side: 'credit', amount: `${credit}`, currency: 'USD' },
      ],
      references: {},
    },
  });

  it('refuses an entry that overdraws a wallet or does not balance', () => {
    expect(() => foldLedgerShard([...base, posted('e', 20_000n, 20_000n)])).toThrow(/overdrawn/);
    expect(() => foldLedgerShard([...base, posted('e', 2n, 1n)])).toThrow(/unbalanced/);
  });

  it('refuses a second outcome for one idempotency key, and an account opened twice', () => {
    expect(() => foldLedgerShard([...base, posted('e1', 1n, 1n), posted('e2', 1n, 1n)])).toThrow(/two outcomes/);
    expect(() => foldLedgerShard([...base, base[1]!])).toThrow(/opened twice/);
  });

  it('refuses closing an account with a balance', () => {
    const closeAlice: LedgerEvent = { type: 'ledger.AccountClosed.v1', data: { ...stampOf(close('c', 'alice')), accountId: 'alice' } };
    expect(() => foldLedgerShard([...base, closeAlice])).toThrow(/closed with a balance/);
  });
});

describe('entry ids: one entry per id', () => {
  // A card refund's entry id is its (authorization, refund) id: retried under another key (a refund slot the ledger forgot), it posted again.
  const refund = (key: string, amount = 100n): PostEntry => ({ ...transfer(key, 'sys:funding:USD:0', 'bob', amount), entryId: 'refund-1', kind: 'card_refund' });

  it('answers the same entry under another key with no events, within the window and after it (the entry the application found)', () => {
    const history = historyOf(...BASE, refund('slot-1'));
    spec.given(history).when(refund('slot-1-again')).then([]);
    const posted = history[history.length - 1] as EntryPosted;
    const dayLater = { nowMs: NOW_MS + 2 * IDEMPOTENCY_WINDOW_MS };
    const state = stateAfter(history);
    // The state keeps an entry id for the window only: older ones the application looks up and passes in.
    expect(decide(refund('slot-1-later'), state, dayLater)).toMatchObject({ ok: true, events: [expect.anything()] });
    expect(decide(refund('slot-1-later'), state, { ...dayLater, postedEntry: posted })).toEqual({ ok: true, events: [] });
    expect(postedEntryOf(state, refund('slot-1-again'), { nowMs: NOW_MS })).toEqual(posted);
  });

  it('refuses another entry under an id posted: validation_failed entry_exists, within the window and after it', () => {
    const history = historyOf(...BASE, refund('slot-1'));
    spec.given(history).when(refund('slot-2', 101n)).thenFails({ code: 'validation_failed', details: { field: 'entryId', reason: 'entry_exists' } });
    const posted = history[history.length - 1] as EntryPosted;
    const later = { nowMs: NOW_MS + 2 * IDEMPOTENCY_WINDOW_MS, postedEntry: posted };
    expect(decide(refund('slot-2', 101n), stateAfter(history), later)).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  it('forgets an entry id with its key, and keeps it in a snapshot', () => {
    const history = historyOf(...BASE, refund('slot-1'));
    const state = stateAfter(history);
    expect(state.entries.get('refund-1')).toBe('slot-1');
    expect(fromSnapshotParts(snapshotParts(state, 2)).entries.get('refund-1')).toBe('slot-1');
    evolve(state, { type: 'ledger.AccountFrozen.v1', data: { ...stampOf(freeze('f', 'alice'), NOW_MS + IDEMPOTENCY_WINDOW_MS), accountId: 'alice' } });
    expect(state.entries.has('refund-1')).toBe(false);
  });
});
