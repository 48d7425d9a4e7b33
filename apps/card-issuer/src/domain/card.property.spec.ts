// A property of the card decider alone: whatever commands arrive, in any order, with the clock
// jumping ahead or stepped back, every event `decide` returns folds (evolve never meets a broken
// invariant: a card stream that no longer folds could not be loaded again), the state folded
// from scratch is the state built step by step, no authorization holds, captures or refunds more
// than it may, and counted spend is never negative nor over a limit when an approval is asked.
import fc from 'fast-check';
import { evolve, foldCard, spendAt, type Card, type CardEvent, type CardState } from './card';
import { decide, type CardCommand } from './card.commands';
import { MS_PER_DAY } from './limits';
import { HOUR_MS, issued, NOW_MS, request, WALLET_ID } from './testing/card.fixtures';

const SEED = Number(process.env.CARD_PROPERTY_SEED ?? 9);
const RUNS = Number(process.env.CARD_PROPERTY_RUNS ?? 200);
const IDS = ['a1', 'a2', 'a3', 'a4'];
const DAILY = 5_000n;
const MONTHLY = 9_000n;

const id = fc.constantFrom(...IDS);
/** Few distinct amounts, so what the ledger reports often adds up to what a card holds. */
const amount = fc.constantFrom(250n, 500n, 750n, 1_000n, 1_750n);
const key = fc.constantFrom('k1', 'k2', 'k3');
const wallet = fc.constantFrom(WALLET_ID, WALLET_ID, 'wallet-elsewhere');

const command: fc.Arbitrary<CardCommand> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ authorizationId: id, amount }).map(({ authorizationId, amount }): CardCommand => request(authorizationId, { amount })) },
  {
    weight: 4,
    arbitrary: fc.record({ authorizationId: id, approved: fc.integer({ min: 0, max: 4 }).map((n) => n > 0) }).map(({ authorizationId, approved }): CardCommand => ({
      type: 'CompleteAuthorization',
      authorizationId,
      outcome: approved ? { approved: true } : { approved: false, responseCode: '51', reason: 'insufficient_funds' },
    })),
  },
  fc.record({ authorizationId: id, amount, idempotencyKey: key, replayedByLedger: fc.boolean() }).map((c): CardCommand => ({ type: 'CaptureAuthorization', ...c })),
  fc.record({ authorizationId: id, amount: fc.option(amount, { nil: undefined }), idempotencyKey: key }).map((c): CardCommand => ({ type: 'ReverseAuthorization', ...c, ledgerKey: `ledger-${c.idempotencyKey}` })),
  fc.record({ authorizationId: id, refundId: key, amount }).map((c): CardCommand => ({ type: 'RefundAuthorization', ...c, entryId: `entry-${c.refundId}` })),
  fc.record({ authorizationId: id, walletId: wallet }).map((c): CardCommand => ({ type: 'ExpireAuthorization', ...c })),
  fc.record({ authorizationId: id, walletId: wallet, capturedAmount: amount, releasedAmount: fc.constantFrom(0n, 250n, 500n, 750n) }).map((c): CardCommand => ({ type: 'ObserveHoldCaptured', ...c })),
  fc.record({ authorizationId: id, walletId: wallet, releasedAmount: amount, ledgerKey: fc.constantFrom('ledger-k1', 'ledger-k2', 'card-recover', 'other') }).map((c): CardCommand => ({ type: 'ObserveHoldReleased', ...c })),
  fc.record({ authorizationId: id, refundId: key, amount, walletId: wallet }).map(({ authorizationId, refundId, amount, walletId }): CardCommand => ({
    type: 'ObserveRefundPosted',
    authorizationId,
    refundId,
    entryId: `entry-${refundId}`,
    credited: new Map([[walletId, amount]]),
  })),
  fc.record({ freeze: fc.boolean(), idempotencyKey: fc.uuid() }).map(({ freeze, idempotencyKey }): CardCommand => ({ type: freeze ? 'FreezeCard' : 'UnfreezeCard', idempotencyKey })),
);

/** Time passes between commands: mostly a little, sometimes days, sometimes the clock steps back. */
const step = fc.record({ command, jumpMs: fc.oneof(fc.integer({ min: 0, max: 2 * HOUR_MS }), fc.integer({ min: 0, max: 3 * MS_PER_DAY }), fc.integer({ min: -HOUR_MS, max: 0 })) });

describe(`card decider over ${RUNS} random command sequences (seed ${SEED})`, () => {
  it('decides only events that fold, the same from scratch, within every amount and limit', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 80, size: 'max' }), (steps) => {
        const history: CardEvent[] = [issued({ daily: DAILY.toString(), monthly: MONTHLY.toString() })];
        let state: CardState = foldCard(history);
        let nowMs = NOW_MS;
        for (const { command, jumpMs } of steps) {
          nowMs += jumpMs;
          const decision = decide(command, state, { nowMs });
          if (!decision.ok) continue;
          state = decision.events.reduce(evolve, state); // throws on an event that breaks an invariant
          history.push(...decision.events);
          checkCard(state as Card, decision.events);
        }
        expect(state).toEqual(foldCard(history));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

function checkCard(card: Card, events: readonly CardEvent[]): void {
  for (const authorization of card.authorizations.values()) {
    expect(authorization.heldAmount).toBeGreaterThanOrEqual(0n);
    expect(authorization.heldAmount + authorization.capturedAmount).toBeLessThanOrEqual(authorization.amount);
    expect(authorization.refundedAmount).toBeLessThanOrEqual(authorization.capturedAmount);
  }
  for (const spent of [...card.spendByDay.values(), ...card.spendByMonth.values()]) expect(spent).toBeGreaterThanOrEqual(0n);
  // An intent is recorded only within the limits of its day and month (its own amount counted).
  for (const event of events) {
    if (event.type !== 'cards.AuthorizationRequested.v1') continue;
    const spent = spendAt(card, event.data.atMs);
    expect(spent.daily).toBeLessThanOrEqual(DAILY);
    expect(spent.monthly).toBeLessThanOrEqual(MONTHLY);
  }
}
