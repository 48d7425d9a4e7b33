// A property test through the bus with the real wallet-ledger: random sequences of
// authorizations (some concurrent), captures, reversals, refunds, hold expiries and days passing
// across a few cards and wallets. After every step: each wallet's pending debits in the ledger
// equal the holds of its open authorizations, and no card's counted spend in any UTC day or
// month exceeds its daily or monthly limit.
import fc from 'fast-check';
import { type AuthorizationView, type CardView, type RevealedCard } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard } from '@ledger/ledger';
import { authorizeMessage, cardholder, issueCard, reveal } from './testing/card-fixtures';
import { LEDGER_SHARDS, startCardHarness, type CardHarness } from './testing/card-issuer.harness';

const PROPERTY_SEED = Number(process.env.CARD_PROPERTY_SEED ?? 20261124);
const RUNS = Number(process.env.CARD_PROPERTY_RUNS ?? 60);
const STEPS_MAX = 25;
const HOLD_TIMEOUT_MS = 6 * 60 * 60 * 1000;
const DAILY = 5_000n;
const MONTHLY = 12_000n;

type Step =
  | { kind: 'authorize'; card: number; amounts: number[] }
  | { kind: 'capture'; pick: number; percent: number }
  | { kind: 'reverse'; pick: number; percent: number | null }
  | { kind: 'refund'; pick: number; percent: number }
  | { kind: 'advance'; hours: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('authorize' as const), card: fc.nat(2), amounts: fc.array(fc.integer({ min: 1, max: 4_000 }), { minLength: 1, maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), pick: fc.nat(), percent: fc.integer({ min: 1, max: 120 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick: fc.nat(), percent: fc.option(fc.integer({ min: 1, max: 120 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refund' as const), pick: fc.nat(), percent: fc.integer({ min: 1, max: 120 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 30 }) }) },
);

const tally = new Map<string, number>();
const count = (name: string) => tally.set(name, (tally.get(name) ?? 0) + 1);

describe(`card-issuer over ${RUNS} random sequences (seed ${PROPERTY_SEED})`, () => {
  let h: CardHarness;

  beforeAll(async () => {
    h = await startCardHarness({ env: { CARD_HOLD_TIMEOUT_MS: String(HOLD_TIMEOUT_MS) } });
  });

  afterAll(async () => {
    await h?.close({ remove: true });
  });

  it('keeps pending debits equal to open holds, and never exceeds a daily or monthly limit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: STEPS_MAX }), async (steps) => {
        // Two cards share a wallet, so one wallet's pending debits sum several cards' holds.
        const first = await cardholder(h, { topUp: '20000', spendingControls: { daily: DAILY.toString(), monthly: MONTHLY.toString() } });
        const second = await issueCard(h, first.userId, first.walletId, { spendingControls: { daily: DAILY.toString() } });
        const other = await cardholder(h, { topUp: '6000', spendingControls: { monthly: MONTHLY.toString() } });
        const cards: { card: CardView; secrets: RevealedCard }[] = [first, { card: second, secrets: await reveal(h, second) }, other];
        const authorizations: string[] = [];
        for (const each of steps) {
          await apply(each, cards, authorizations);
          await checkInvariants(cards);
        }
      }),
      { numRuns: RUNS, seed: PROPERTY_SEED, interruptAfterTimeLimit: 60_000 },
    );
    const unreached = ['approved', 'declined 61', 'declined 51', 'capture ok', 'capture amount_exceeds_hold', 'reverse ok', 'refund ok', 'refund amount_exceeds_hold', 'expired'].filter(
      (name) => !tally.has(name),
    );
    if (process.env.CARD_PROPERTY_TALLY) console.log([...tally].sort().map(([name, n]) => `${name}: ${n}`).join('\n'));
    expect(unreached).toEqual([]);
  }, 120_000);

  async function apply(each: Step, cards: { card: CardView; secrets: RevealedCard }[], authorizations: string[]): Promise<void> {
    const picked = (pick: number) => (authorizations.length === 0 ? undefined : authorizations[pick % authorizations.length]);
    const share = async (authorizationId: string, percent: number, field: 'heldAmount' | 'capturedAmount') => {
      const view = await h.query<AuthorizationView>({ type: 'GetAuthorization', authorizationId });
      if (!view.ok) throw new Error(`lost authorization ${authorizationId}`);
      return { view: view.value, amount: ((BigInt(view.value[field]) * BigInt(percent)) / 100n || 1n).toString() };
    };
    switch (each.kind) {
      case 'authorize': {
        const { secrets } = cards[each.card];
        const replies = await Promise.all(each.amounts.map((amount) => h.send<AuthorizationView>(authorizeMessage(secrets, { amount: String(amount) }))));
        for (const reply of replies) {
          if (!reply.ok) throw new Error(`authorize failed: ${reply.error.code}`);
          count(reply.value.approved ? 'approved' : `declined ${reply.value.responseCode}`);
          if (reply.value.approved) authorizations.push(reply.value.id);
        }
        return;
      }
      case 'capture':
      case 'refund': {
        const authorizationId = picked(each.pick);
        if (authorizationId === undefined) return;
        const { amount } = await share(authorizationId, each.percent, each.kind === 'capture' ? 'heldAmount' : 'capturedAmount');
        const reply =
          each.kind === 'capture'
            ? await h.send({ type: 'CaptureAuthorization', authorizationId, amount })
            : await h.send({ type: 'RefundAuthorization', refundId: `refund-${tally.size}-${Math.random()}`, authorizationId, amount });
        count(`${each.kind} ${reply.ok ? 'ok' : reply.error.code}`);
        return;
      }
      case 'reverse': {
        const authorizationId = picked(each.pick);
        if (authorizationId === undefined) return;
        const amount = each.percent === null ? undefined : (await share(authorizationId, each.percent, 'heldAmount')).amount;
        const reply = await h.send({ type: 'ReverseAuthorization', authorizationId, ...(amount === undefined ? {} : { amount }) });
        count(`reverse ${reply.ok ? 'ok' : reply.error.code}`);
        return;
      }
      case 'advance': {
        h.clock.advance(each.hours * 60 * 60 * 1000);
        // The ledger expires holds past their time; wait until the card-issuer has recorded every one.
        const expiredIds = new Set<string>();
        await waitFor('the ledger to expire holds past their time', () => {
          for (let shard = 0; shard < LEDGER_SHARDS; shard++) {
            for (const hold of h.ledger.ledger.service.writer(shard)!.currentState.holds.values()) {
              if (hold.status === 'pending' && hold.expiresAtMs <= h.clock.nowMs()) return false;
              if (hold.status === 'expired') expiredIds.add(hold.id);
            }
          }
          return true;
        });
        await waitFor('the card-issuer to record the expiries', async () => {
          for (const id of expiredIds) {
            const view = await h.query<AuthorizationView>({ type: 'GetAuthorization', authorizationId: id });
            if (view.ok && view.value.status !== 'expired') return false;
          }
          return true;
        });
        if (expiredIds.size > 0) count('expired');
        return;
      }
    }
  }

  async function checkInvariants(cards: { card: CardView }[]): Promise<void> {
    const openByWallet = new Map<string, bigint>();
    for (const { card } of cards) {
      const listed = await h.query<{ items: AuthorizationView[] }>({ type: 'ListAuthorizations', cardId: card.id, limit: 500 });
      if (!listed.ok) throw new Error(`list failed: ${listed.error.code}`);
      const byDay = new Map<string, bigint>();
      const byMonth = new Map<string, bigint>();
      for (const view of listed.value.items) {
        if (view.status === 'pending') openByWallet.set(card.walletId, (openByWallet.get(card.walletId) ?? 0n) + BigInt(view.heldAmount));
        if (!view.approved) continue;
        const counted = BigInt(view.heldAmount) + BigInt(view.capturedAmount);
        byDay.set(view.createdAt.slice(0, 10), (byDay.get(view.createdAt.slice(0, 10)) ?? 0n) + counted);
        byMonth.set(view.createdAt.slice(0, 7), (byMonth.get(view.createdAt.slice(0, 7)) ?? 0n) + counted);
      }
      const daily = card.spendingControls.daily === undefined ? undefined : BigInt(card.spendingControls.daily);
      const monthly = card.spendingControls.monthly === undefined ? undefined : BigInt(card.spendingControls.monthly);
      for (const [day, spent] of byDay) if (daily !== undefined && spent > daily) throw new Error(`card ${card.id} spent ${spent} on ${day}, over ${daily}`);
      for (const [month, spent] of byMonth) if (monthly !== undefined && spent > monthly) throw new Error(`card ${card.id} spent ${spent} in ${month}, over ${monthly}`);
    }
    for (const walletId of new Set(cards.map(({ card }) => card.walletId))) {
      const account = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!;
      expect({ walletId, pending: account.debitsPending }).toEqual({ walletId, pending: openByWallet.get(walletId) ?? 0n });
    }
  }
});
