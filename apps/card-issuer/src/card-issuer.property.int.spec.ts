// A property test through the bus with the real wallet-ledger: random sequences of
// authorizations (some concurrent), captures, reversals, refunds (some racing on one
// authorization under different keys), hold expiries, days passing, freezes, limit changes, and
// failures after the ledger answered (retried with the same key, or left to recovery and
// ledger.events), across a few cards and wallets. After every step, once settled: each wallet's
// pending debits in the ledger equal the holds of its open authorizations, each authorization's
// hold at the ledger is what the card says, each wallet's posted balance is its top-up less
// captures plus refunds, and no card's counted spend in any UTC day or month exceeds the largest
// daily or monthly limit it had (nor, right after an approval, the limit it has).
import fc from 'fast-check';
import { type AuthorizationView, type CardCommandMessage, type CardView, type RevealedCard } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard, systemAccountId } from '@ledger/ledger';
import { RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS, type LedgerReplyHook } from './application/card-issuer.service';
import { loadCardIssuerConfig } from './card-issuer.config';
import { authorizeMessage, cardholder, issueCard, reveal } from './testing/card-fixtures';
import { LEDGER_SHARDS, startCardHarness, type CardHarness } from './testing/card-issuer.harness';

const PROPERTY_SEED = Number(process.env.CARD_PROPERTY_SEED ?? 13);
const RUNS = Number(process.env.CARD_PROPERTY_RUNS ?? 60);
const STEPS_MAX = 25;
const HOLD_TIMEOUT_MS = 6 * 60 * 60 * 1000;
const DAILY = 5_000n;
const MONTHLY = 12_000n;
/** Daily limits a step may set on the first two cards (lowered below what they spent, or raised). */
const DAILY_CHOICES = [2_000, 5_000, 9_000] as const;
const TOP_UPS = ['20000', '6000'] as const;

type Operation = Parameters<LedgerReplyHook>[0];
type Step =
  | { kind: 'authorize'; card: number; amounts: number[] }
  | { kind: 'capture'; pick: number; percent: number }
  | { kind: 'reverse'; pick: number; percent: number | null }
  | { kind: 'refund'; pick: number; percent: number }
  /** `settle`: wait for the ledger to expire the holds past their time and the card to record it; otherwise the next step races that. */
  | { kind: 'advance'; hours: number; settle: boolean }
  | { kind: 'race'; pick: number; capture: number; reverse: number | null; refund: number }
  | { kind: 'status'; card: number; freeze: boolean }
  | { kind: 'limit'; card: number; daily: number }
  /** `lost`: the ledger's answer is lost on its way (a timeout) instead of the issuer failing after it; `recoveryLost`: so is recovery's release. */
  | { kind: 'crash'; operation: Operation; card: number; pick: number; percent: number; retry: boolean; lost: boolean; recoveryLost: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('authorize' as const), card: fc.nat(2), amounts: fc.array(fc.integer({ min: 1, max: 4_000 }), { minLength: 1, maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), pick: fc.nat(), percent: fc.integer({ min: 1, max: 120 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick: fc.nat(), percent: fc.option(fc.integer({ min: 1, max: 120 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refund' as const), pick: fc.nat(), percent: fc.integer({ min: 1, max: 120 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 30 }), settle: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('race' as const), pick: fc.nat(), capture: fc.integer({ min: 1, max: 120 }), reverse: fc.option(fc.integer({ min: 1, max: 120 })), refund: fc.integer({ min: 1, max: 120 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('status' as const), card: fc.nat(2), freeze: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('limit' as const), card: fc.nat(1), daily: fc.constantFrom(...DAILY_CHOICES) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      operation: fc.constantFrom<Operation>('hold', 'capture', 'reverse', 'refund'),
      card: fc.nat(2),
      pick: fc.nat(),
      percent: fc.integer({ min: 1, max: 100 }),
      retry: fc.boolean(),
      lost: fc.boolean(),
      recoveryLost: fc.boolean(),
    }),
  },
);

/** What a card may spend: the limits it has now, and the largest it ever had (spend counted under an earlier, higher one stays). */
interface Limits {
  daily: bigint | undefined;
  monthly: bigint | undefined;
  dailyMax: bigint | undefined;
}
interface TestCard {
  card: CardView;
  secrets: RevealedCard;
  limits: Limits;
}

const tally = new Map<string, number>();
const count = (name: string) => tally.set(name, (tally.get(name) ?? 0) + 1);

describe(`card-issuer over ${RUNS} random sequences (seed ${PROPERTY_SEED})`, () => {
  let h: CardHarness;
  /** The next ledger answer of this operation is lost to a failure of the issuer (once). */
  const failure: { operation: Operation | undefined } = { operation: undefined };
  /** The next answer of the ledger to a command of this type is lost on its way back, after the ledger did it (once). */
  const lostAnswer: { type: string | undefined } = { type: undefined };
  const LEDGER_COMMAND_OF: Record<Operation, string> = { hold: 'PlaceHold', capture: 'CaptureHold', reverse: 'ReleaseHold', refund: 'PostEntry' };

  beforeAll(async () => {
    h = await startCardHarness({
      // No recovery pass of its own: the test runs recovery when it means to (a pass racing a retry is another test's case).
      env: { CARD_HOLD_TIMEOUT_MS: String(HOLD_TIMEOUT_MS), CARD_RECOVERY_INTERVAL_MS: '0' },
      afterLedgerReply: (operation) => {
        if (failure.operation !== operation) return;
        failure.operation = undefined;
        throw new Error(`simulated failure after the ledger answered a ${operation}`);
      },
    });
    for (let shard = 0; shard < LEDGER_SHARDS; shard++) {
      const writer = h.ledger.ledger.service.writer(shard)!;
      const submit = writer.submit.bind(writer);
      jest.spyOn(writer, 'submit').mockImplementation(async (command) => {
        const reply = await submit(command);
        if (lostAnswer.type !== command.type) return reply;
        lostAnswer.type = undefined;
        return { ok: false, error: { code: 'unavailable', message: 'the answer was lost', details: { retryable: true } } };
      });
    }
  });

  afterAll(async () => {
    await h?.close({ remove: true });
  });

  it('keeps pending debits equal to open holds and to the ledger\'s, posted balances to captures less refunds, and never exceeds a daily or monthly limit', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: STEPS_MAX }), async (steps) => {
        // Nothing armed by a run that failed halfway (fast-check goes on shrinking) reaches this one.
        failure.operation = undefined;
        lostAnswer.type = undefined;
        // Two cards share a wallet, so one wallet's pending debits sum several cards' holds.
        const first = await cardholder(h, { topUp: TOP_UPS[0], spendingControls: { daily: DAILY.toString(), monthly: MONTHLY.toString() } });
        const second = await issueCard(h, first.userId, first.walletId, { spendingControls: { daily: DAILY.toString() } });
        const other = await cardholder(h, { topUp: TOP_UPS[1], spendingControls: { monthly: MONTHLY.toString() } });
        const cards: TestCard[] = [
          { ...first, limits: { daily: DAILY, monthly: MONTHLY, dailyMax: DAILY } },
          { card: second, secrets: await reveal(h, second), limits: { daily: DAILY, monthly: undefined, dailyMax: DAILY } },
          { ...other, limits: { daily: undefined, monthly: MONTHLY, dailyMax: undefined } },
        ];
        const topUps = new Map([
          [first.walletId, BigInt(TOP_UPS[0])],
          [other.walletId, BigInt(TOP_UPS[1])],
        ]);
        const authorizations: string[] = [];
        const clearingBefore = clearingPosted();
        for (const each of steps) {
          const approvedOn = await apply(each, cards, authorizations);
          // Right after an approval, the card's spend that day is within the limit it has now.
          if (approvedOn !== undefined) await checkLimits(cards[approvedOn], 'daily');
          await waitFor('the card and the ledger to agree', () => checkInvariants(cards, topUps, clearingBefore), { timeoutMs: 10_000 });
        }
      }),
      { numRuns: RUNS, seed: PROPERTY_SEED, interruptAfterTimeLimit: 90_000 },
    );
    const unreached = [
      'approved',
      'declined 61',
      'declined 51',
      'declined 62',
      'capture ok',
      'capture amount_exceeds_hold',
      'reverse ok',
      'refund ok',
      'refund amount_exceeds_hold',
      'expired',
      'race capture ok',
      'race refund ok',
      'crash hold retried',
      'crash hold recovered',
      'crash hold recovered (its release answer lost)',
      'crash capture retried',
      'crash capture learnt',
      'crash reverse retried',
      'crash reverse learnt',
      'crash refund retried',
      'crash refund learnt',
    ].filter((name) => !tally.has(name));
    if (process.env.CARD_PROPERTY_TALLY) console.log([...tally].sort().map(([name, n]) => `${name}: ${n}`).join('\n'));
    expect(unreached).toEqual([]);
  }, 180_000);

  /** Applies one step; answers the index of a card it approved an authorization of under its current limits, if any. */
  async function apply(each: Step, cards: TestCard[], authorizations: string[]): Promise<number | undefined> {
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
        let approved = false;
        for (const reply of replies) {
          if (!reply.ok) throw new Error(`authorize failed: ${reply.error.code}`);
          count(reply.value.approved ? 'approved' : `declined ${reply.value.responseCode}`);
          if (reply.value.approved) authorizations.push(reply.value.id);
          approved ||= reply.value.approved;
        }
        return approved ? each.card : undefined;
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
        if (!each.settle) {
          count('advance unsettled');
          return;
        }
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
      case 'race': {
        // A capture, a reversal and a refund of one authorization at once, each under its own key.
        const authorizationId = picked(each.pick);
        if (authorizationId === undefined) return;
        const held = (await share(authorizationId, each.capture, 'heldAmount')).view;
        const part = (percent: number) => ((BigInt(held.heldAmount) * BigInt(percent)) / 100n || 1n).toString();
        const replies = await Promise.all([
          h.send({ type: 'CaptureAuthorization', authorizationId, amount: part(each.capture) }),
          h.send({ type: 'ReverseAuthorization', authorizationId, ...(each.reverse === null ? {} : { amount: part(each.reverse) }) }),
          h.send({ type: 'RefundAuthorization', refundId: `race-${Math.random()}`, authorizationId, amount: part(each.refund) }),
        ]);
        ['capture', 'reverse', 'refund'].forEach((name, i) => count(`race ${name} ${replies[i].ok ? 'ok' : replies[i].error.code}`));
        return;
      }
      case 'status': {
        const { card } = cards[each.card];
        const reply = await h.send({ type: each.freeze ? 'FreezeCard' : 'UnfreezeCard', cardId: card.id });
        count(`${each.freeze ? 'freeze' : 'unfreeze'} ${reply.ok ? 'ok' : reply.error.code}`);
        return;
      }
      case 'limit': {
        const target = cards[each.card];
        const daily = BigInt(each.daily);
        const controls = { daily: daily.toString(), ...(target.limits.monthly === undefined ? {} : { monthly: target.limits.monthly.toString() }) };
        const reply = await h.send({ type: 'SetSpendingControls', cardId: target.card.id, spendingControls: controls });
        if (!reply.ok) throw new Error(`limit change failed: ${reply.error.code}`);
        target.limits = { ...target.limits, daily, dailyMax: target.limits.dailyMax === undefined || daily > target.limits.dailyMax ? daily : target.limits.dailyMax };
        count('limit');
        return;
      }
      case 'crash':
        return crashAndFinish(each, cards, picked);
    }
  }

  /**
   * The issuer fails just after the ledger answered: the command is answered unavailable. Then the
   * network retries it under the same key, or nobody does: recovery (a hold) or ledger.events (the rest) finish it.
   */
  async function crashAndFinish(each: Extract<Step, { kind: 'crash' }>, cards: TestCard[], picked: (pick: number) => string | undefined): Promise<undefined> {
    const key = `crash-${Math.random()}`;
    let message: CardCommandMessage;
    let authorizationId: string;
    if (each.operation === 'hold') {
      const authorize = authorizeMessage(cards[each.card].secrets, { amount: String(each.percent * 20) });
      message = authorize;
      authorizationId = authorize.authorizationId;
    } else {
      const picks = picked(each.pick);
      if (picks === undefined) return;
      authorizationId = picks;
      const view = await h.query<AuthorizationView>({ type: 'GetAuthorization', authorizationId });
      if (!view.ok) throw new Error(`lost authorization ${authorizationId}`);
      const base = BigInt(each.operation === 'refund' ? BigInt(view.value.capturedAmount) - BigInt(view.value.refundedAmount) : BigInt(view.value.heldAmount));
      const amount = ((base * BigInt(each.percent)) / 100n || 1n).toString();
      message =
        each.operation === 'capture'
          ? { type: 'CaptureAuthorization', authorizationId, amount }
          : each.operation === 'reverse'
            ? { type: 'ReverseAuthorization', authorizationId, amount }
            : { type: 'RefundAuthorization', authorizationId, refundId: key, amount };
    }
    if (each.lost) lostAnswer.type = LEDGER_COMMAND_OF[each.operation];
    else failure.operation = each.operation;
    let first: Awaited<ReturnType<CardHarness['send']>>;
    let failed: boolean;
    try {
      first = await h.send(message, key);
      failed = failure.operation === undefined && lostAnswer.type === undefined; // the ledger answered, and the failure came after
    } finally {
      failure.operation = undefined;
      lostAnswer.type = undefined;
    }
    if (!failed) {
      // Refused before the ledger moved anything (a finished authorization, an amount over what is left): an ordinary answer.
      count(`crash ${each.operation} refused ${first.ok ? 'ok' : first.error.code}`);
      return;
    }
    expect(first).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    if (each.retry) {
      // Retried as the network does while told to (unavailable: the hold's end, an expiry, is still being recorded).
      await waitFor(`the retry of a ${each.operation} answered`, async () => {
        const retried = await h.send<AuthorizationView>(message, key);
        if (!retried.ok && retried.error.code === 'unavailable') return false;
        if (!retried.ok && !(each.operation !== 'hold' && retried.error.code === 'hold_not_pending')) throw new Error(`the retry of a ${each.operation} after a failure was answered ${retried.error.code}`);
        return true;
      });
      count(`crash ${each.operation} retried`);
      return;
    }
    if (each.operation === 'hold') {
      h.clock.advance(RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * loadCardIssuerConfig({}).CARD_UPSTREAM_TIMEOUT_MS + 1);
      if (each.recoveryLost) lostAnswer.type = 'ReleaseHold';
      // With its release's answer lost, recovery leaves the authorization for its next pass; ledger.events tells the card of the release.
      expect(await h.cards.service.recoverRequested()).toMatchObject({ left: each.recoveryLost ? 1 : 0 });
      lostAnswer.type = undefined;
      const card = cards[each.card].card;
      if (h.ledger.ledger.service.writer(accountShard(card.walletId, LEDGER_SHARDS))!.currentState.holds.has(authorizationId)) {
        await waitFor('the authorization declined', async () =>
          expect(await h.query({ type: 'GetAuthorization', authorizationId })).toMatchObject({ ok: true, value: { status: 'declined' } }),
        );
      } else {
        // The ledger had refused the hold (so released nothing): the next pass finishes it.
        expect(await h.cards.service.recoverRequested()).toMatchObject({ left: 0 });
      }
      // The network's retry (before any further recovery pass) gets the decline, never an approval on nothing held.
      expect(await h.send(message, key)).toMatchObject({ ok: true, value: { approved: false, reason: 'issuer_recovered', heldAmount: '0' } });
      count(`crash hold recovered${each.recoveryLost ? ' (its release answer lost)' : ''}`);
      return;
    }
    // Nobody retries: ledger.events brings what the ledger did (the invariants wait for it).
    count(`crash ${each.operation} learnt`);
    return undefined;
  }

  /** The counted spend of each UTC day and month of a card's approved authorizations. */
  function spendOf(items: readonly AuthorizationView[]): { byDay: Map<string, bigint>; byMonth: Map<string, bigint> } {
    const byDay = new Map<string, bigint>();
    const byMonth = new Map<string, bigint>();
    for (const view of items) {
      if (!view.approved) continue;
      const counted = BigInt(view.heldAmount) + BigInt(view.capturedAmount);
      byDay.set(view.createdAt.slice(0, 10), (byDay.get(view.createdAt.slice(0, 10)) ?? 0n) + counted);
      byMonth.set(view.createdAt.slice(0, 7), (byMonth.get(view.createdAt.slice(0, 7)) ?? 0n) + counted);
    }
    return { byDay, byMonth };
  }

  async function listed(card: CardView): Promise<AuthorizationView[]> {
    const reply = await h.query<{ items: AuthorizationView[] }>({ type: 'ListAuthorizations', cardId: card.id, limit: 500 });
    if (!reply.ok) throw new Error(`list failed: ${reply.error.code}`);
    return reply.value.items;
  }

  /** `now`: today's spend within the limit the card has now; otherwise every window within the largest limit it had. */
  async function checkLimits({ card, limits }: TestCard, now?: 'daily'): Promise<void> {
    const { byDay, byMonth } = spendOf(await listed(card));
    const today = new Date(h.clock.nowMs()).toISOString().slice(0, 10);
    const daily = now === 'daily' ? limits.daily : limits.dailyMax;
    for (const [day, spent] of byDay) {
      if (daily !== undefined && spent > daily && (now === undefined || day === today)) throw new Error(`card ${card.id} spent ${spent} on ${day}, over ${daily}`);
    }
    for (const [month, spent] of byMonth) if (limits.monthly !== undefined && spent > limits.monthly) throw new Error(`card ${card.id} spent ${spent} in ${month}, over ${limits.monthly}`);
  }

  /** What each shard's card clearing account holds posted (captures in, refunds out): it carries no balance flag, so the test checks it. */
  function clearingPosted(): bigint[] {
    return Array.from({ length: LEDGER_SHARDS }, (_, shard) => {
      const account = h.ledger.ledger.service.writer(shard)!.currentState.accounts.get(systemAccountId('card-clearing', 'USD', shard));
      return account === undefined ? 0n : account.creditsPosted - account.debitsPosted;
    });
  }

  async function checkInvariants(cards: TestCard[], topUps: ReadonlyMap<string, bigint>, clearingBefore: readonly bigint[]): Promise<void> {
    const openByWallet = new Map<string, bigint>();
    const postedByWallet = new Map(topUps);
    // This run's captures less refunds, by shard: every cent in the clearing account is one a card's authorization captured.
    const clearing = [...clearingBefore];
    for (const each of cards) {
      const { card } = each;
      const state = h.ledger.ledger.service.writer(accountShard(card.walletId, LEDGER_SHARDS))!.currentState;
      for (const view of await listed(card)) {
        if (view.status === 'pending') openByWallet.set(card.walletId, (openByWallet.get(card.walletId) ?? 0n) + BigInt(view.heldAmount));
        postedByWallet.set(card.walletId, postedByWallet.get(card.walletId)! - BigInt(view.capturedAmount) + BigInt(view.refundedAmount));
        clearing[accountShard(card.walletId, LEDGER_SHARDS)] += BigInt(view.capturedAmount) - BigInt(view.refundedAmount);
        // No authorization is left half done, and its hold at the ledger is what the card says (a finished one is forgotten after a day).
        if (view.status === 'pending' && !view.approved) throw new Error(`authorization ${view.id} is still requested`);
        const hold = state.holds.get(view.id);
        if (hold === undefined) {
          if (view.status === 'pending') throw new Error(`authorization ${view.id} is pending without a hold`);
          continue;
        }
        const expected = { pending: 'pending', captured: 'captured', reversed: 'released', expired: 'expired', declined: hold.status === 'expired' ? 'expired' : 'released' }[view.status];
        expect({ id: view.id, status: hold.status, held: hold.heldAmount.toString(), captured: hold.capturedAmount.toString() }).toEqual({
          id: view.id,
          status: expected,
          held: view.heldAmount,
          captured: view.capturedAmount,
        });
      }
      await checkLimits(each);
    }
    for (const walletId of new Set(cards.map(({ card }) => card.walletId))) {
      const account = h.ledger.ledger.service.writer(accountShard(walletId, LEDGER_SHARDS))!.currentState.accounts.get(walletId)!;
      expect({ walletId, pending: account.debitsPending, posted: account.creditsPosted - account.debitsPosted }).toEqual({
        walletId,
        pending: openByWallet.get(walletId) ?? 0n,
        posted: postedByWallet.get(walletId),
      });
    }
    expect(clearingPosted()).toEqual(clearing);
  }
});
