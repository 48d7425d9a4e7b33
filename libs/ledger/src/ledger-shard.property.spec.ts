// Property tests: random command sequences over a small pool of accounts (so many commands
// succeed), checking after every command what must always hold.
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { canonicalJson, type Currency, type DomainError } from '@ledger/contracts';
import { isOverdrawn } from './account';
import { evolve, foldLedgerShard, globalSums, initialState, outcomeOf, type LedgerEvent, type LedgerShardState } from './ledger-shard';
import { decide, rejectionEvent, type LedgerCommand, type OpenAccount } from './ledger-shard.commands';
import type { Posting } from './entry';

const HOUR_MS = 60 * 60 * 1000;
const START_MS = 1_700_000_000_000;
const RUNS = 1_000;

// The pool: per currency a funding account, a settlement asset that must not go below zero, a
// fee account, wallets; `late:USD` is opened only by a random step, `ghost` never.
const ACCOUNTS: Record<string, Omit<OpenAccount, 'type' | 'idempotencyKey' | 'accountId'>> = {
  'fund:USD': { currency: 'USD', normalSide: 'debit', flags: {}, kind: 'system' },
  'settle:USD': { currency: 'USD', normalSide: 'debit', flags: { creditsMustNotExceedDebits: true }, kind: 'system' },
  'fees:USD': { currency: 'USD', normalSide: 'credit', flags: {}, kind: 'system' },
  'w1:USD': { currency: 'USD', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: 'u1' },
  'w2:USD': { currency: 'USD', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: 'u2' },
  'w3:USD': { currency: 'USD', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: 'u3' },
  'fund:JPY': { currency: 'JPY', normalSide: 'debit', flags: {}, kind: 'system' },
  'w1:JPY': { currency: 'JPY', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: 'u1' },
  'w2:JPY': { currency: 'JPY', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: 'u2' },
  'late:USD': { currency: 'USD', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: 'u4' },
};
const OPENED_AT_START = Object.keys(ACCOUNTS).filter((id) => id !== 'late:USD');
const BY_CURRENCY: Record<'USD' | 'JPY', string[]> = {
  USD: Object.keys(ACCOUNTS).filter((id) => id.endsWith(':USD')),
  JPY: Object.keys(ACCOUNTS).filter((id) => id.endsWith(':JPY')),
};
const ANY_ACCOUNT = [...Object.keys(ACCOUNTS), 'ghost'];
const HOLD_IDS = ['h1', 'h2', 'h3', 'h4'];

const openAccount = (accountId: string, idempotencyKey: string): OpenAccount => ({
  type: 'OpenAccount',
  idempotencyKey,
  accountId,
  ...(ACCOUNTS[accountId] ?? ACCOUNTS['w1:USD']!),
});

// ---------------------------------------------------------------------------------------------
// Steps: a command without its key and time, which the runner fills in.

type Shape =
  | { kind: 'transfer'; currency: 'USD' | 'JPY'; from: number; to: number; amount: bigint }
  | { kind: 'entry'; postings: Posting[] }
  | { kind: 'hold'; holdId: string; currency: 'USD' | 'JPY'; debit: number; credit: number; amount: bigint; expiresInMs: number }
  | { kind: 'capture'; holdId: string; amount: bigint }
  | { kind: 'release'; holdId: string; amount: bigint | null }
  | { kind: 'expire'; holdId: string }
  | { kind: 'freeze' | 'unfreeze' | 'close' | 'open'; accountId: string }
  | { kind: 'repeat'; back: number };

interface Step {
  readonly shape: Shape;
  /** null: a fresh key; otherwise one of a few shared keys, so keys get reused. */
  readonly sharedKey: string | null;
  readonly dtMs: number;
}

const amount = fc.oneof({ weight: 4, arbitrary: fc.bigInt(1n, 3_000n) }, { weight: 1, arbitrary: fc.constantFrom(0n, 10_000n) });
const currency = fc.constantFrom<'USD' | 'JPY'>('USD', 'JPY');
const index = fc.nat(7);
const holdId = fc.constantFrom(...HOLD_IDS);
const anyAccount = fc.constantFrom(...ANY_ACCOUNT);

const shape: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('transfer' as const), currency, from: index, to: index, amount }) },
  {
    // Balanced pairs over any accounts, in either currency: reaches not_found, currency_mismatch,
    // an account twice on one side, and (with `skew`) unbalanced entries.
    weight: 2,
    arbitrary: fc
      .record({
        pairs: fc.array(fc.record({ debit: anyAccount, credit: anyAccount, amount, currency }), { minLength: 1, maxLength: 3 }),
        skew: fc.oneof({ weight: 5, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constant(1n) }),
      })
      .map(({ pairs, skew }): Shape => ({
        kind: 'entry',
        postings: pairs.flatMap((pair, i) => [
          { accountId: pair.debit, side: 'debit' as const, amount: pair.amount, currency: pair.currency },
          { accountId: pair.credit, side: 'credit' as const, amount: pair.amount + (i === 0 ? skew : 0n), currency: pair.currency },
        ]),
      })),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('hold' as const),
      holdId,
      currency,
      debit: index,
      credit: index,
      amount,
      expiresInMs: fc.integer({ min: 1, max: 48 * HOUR_MS }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), holdId, amount }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), holdId, amount: fc.option(amount) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('expire' as const), holdId }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('freeze' as const, 'unfreeze' as const, 'close' as const, 'open' as const), accountId: anyAccount }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('repeat' as const), back: fc.nat(20) }) },
);

const step: fc.Arbitrary<Step> = fc.record({
  shape,
  sharedKey: fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('shared-0', 'shared-1') }),
  dtMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: HOUR_MS }), fc.integer({ min: HOUR_MS, max: 8 * HOUR_MS })),
});

function pick(currencyCode: 'USD' | 'JPY', at: number): string {
  const pool = BY_CURRENCY[currencyCode];
  return pool[at % pool.length]!;
}

function commandOf(shape: Shape, key: string, nowMs: number, sent: LedgerCommand[]): LedgerCommand {
  switch (shape.kind) {
    case 'transfer': {
      const c: Currency = shape.currency;
      return {
        type: 'PostEntry',
        idempotencyKey: key,
        entryId: `e-${key}`,
        kind: 'transfer',
        postings: [
          { accountId: pick(shape.currency, shape.from), side: 'debit', amount: shape.amount, currency: c },
          { accountId: pick(shape.currency, shape.to), side: 'credit', amount: shape.amount, currency: c },
        ],
      };
    }
    case 'entry':
      return { type: 'PostEntry', idempotencyKey: key, entryId: `e-${key}`, kind: 'adjustment', postings: shape.postings, references: { source: 'property' } };
    case 'hold':
      return {
        type: 'PlaceHold',
        idempotencyKey: key,
        holdId: shape.holdId,
        debitAccountId: pick(shape.currency, shape.debit),
        creditAccountId: pick(shape.currency, shape.credit),
        amount: shape.amount,
        expiresAtMs: nowMs + shape.expiresInMs,
      };
    case 'capture':
      return { type: 'CaptureHold', idempotencyKey: key, holdId: shape.holdId, amount: shape.amount };
    case 'release':
      return shape.amount === null
        ? { type: 'ReleaseHold', idempotencyKey: key, holdId: shape.holdId }
        : { type: 'ReleaseHold', idempotencyKey: key, holdId: shape.holdId, amount: shape.amount };
    case 'expire':
      return { type: 'ExpireHold', idempotencyKey: key, holdId: shape.holdId };
    case 'freeze':
      return { type: 'FreezeAccount', idempotencyKey: key, accountId: shape.accountId };
    case 'unfreeze':
      return { type: 'UnfreezeAccount', idempotencyKey: key, accountId: shape.accountId };
    case 'close':
      return { type: 'CloseAccount', idempotencyKey: key, accountId: shape.accountId };
    case 'open':
      return openAccount(shape.accountId, key);
    case 'repeat':
      // The same command again, key and payload: a client retry, possibly after the window.
      // (`sent` is never empty: the accounts are opened first.)
      return sent[sent.length - 1 - (shape.back % sent.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// The properties.

/** The whole state as a string, Maps in their iteration order: equal strings, equal states. */
function snapshot(state: LedgerShardState): string {
  return JSON.stringify(state, (_, value: unknown) => {
    if (value instanceof Map) return [...value.entries()];
    if (typeof value === 'bigint') return `${value}n`;
    return value;
  });
}

/**
 * Which objects the state's Maps hold, by identity: cheap enough for every command. Accounts and
 * holds are replaced, never mutated, so a decide that changed anything shows here (and a decide
 * that mutated an object in place shows in the final fold comparison).
 */
function identities(state: LedgerShardState): unknown[] {
  return [state.accounts, state.holds, state.finishedHolds, state.idempotency].flatMap((map) => [...(map as Map<string, unknown>)].flat());
}

function expectUnchanged(before: unknown[], state: LedgerShardState): void {
  const after = identities(state);
  if (after.length !== before.length || after.some((item, i) => item !== before[i])) throw new Error('decide changed the state');
}

function expectZeroGlobalSums(state: LedgerShardState): void {
  for (const [currencyCode, sums] of globalSums(state)) {
    if (sums.posted !== 0n || sums.pending !== 0n) {
      throw new Error(`global sums of ${currencyCode} are not zero: posted ${sums.posted}, pending ${sums.pending}`);
    }
  }
}

function expectNoOverdraft(state: LedgerShardState): void {
  for (const account of state.accounts.values()) {
    if (isOverdrawn(account)) {
      const { debitsPosted, creditsPosted, debitsPending, creditsPending } = account;
      throw new Error(`account ${account.id} is overdrawn: ${JSON.stringify({ debitsPosted, creditsPosted, debitsPending, creditsPending }, (_, v: unknown) => (typeof v === 'bigint' ? `${v}` : v))}`);
    }
  }
}

/** Every pending sum is exactly what the pending holds on that account reserve. */
function expectHoldsMatchPendingSums(state: LedgerShardState): void {
  const reserved = new Map<string, { debits: bigint; credits: bigint }>();
  for (const hold of state.holds.values()) {
    if (hold.status !== 'pending') continue;
    const debit = reserved.get(hold.debitAccountId) ?? { debits: 0n, credits: 0n };
    reserved.set(hold.debitAccountId, { ...debit, debits: debit.debits + hold.heldAmount });
    const credit = reserved.get(hold.creditAccountId) ?? { debits: 0n, credits: 0n };
    reserved.set(hold.creditAccountId, { ...credit, credits: credit.credits + hold.heldAmount });
  }
  for (const account of state.accounts.values()) {
    const expected = reserved.get(account.id) ?? { debits: 0n, credits: 0n };
    if (account.debitsPending !== expected.debits || account.creditsPending !== expected.credits) {
      throw new Error(`pending sums of ${account.id} differ from its pending holds`);
    }
  }
}

/** Stored as JSON: only null, booleans, finite numbers, strings, arrays and plain objects; no undefined. */
function expectJsonSafe(value: unknown, path = 'event'): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number' && Number.isFinite(value)) return;
  if (Array.isArray(value)) return value.forEach((item, i) => expectJsonSafe(item, `${path}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) expectJsonSafe(item, `${path}.${key}`);
    return;
  }
  throw new Error(`${path} is not JSON-safe: ${typeof value}`);
}

/** The command's payload, worked out here independently of `commandFingerprint`. */
function payloadOf(command: LedgerCommand): string {
  const { idempotencyKey: _key, ...payload } = command;
  return canonicalJson(JSON.parse(JSON.stringify(payload, (_, value: unknown) => (typeof value === 'bigint' ? `${value}` : value))));
}

function sameError(actual: DomainError, expected: DomainError): boolean {
  return JSON.stringify(actual) === JSON.stringify(expected);
}

/** How often each command type was accepted and each error code returned, over all runs. */
const tally = new Map<string, number>();
const count = (name: string) => tally.set(name, (tally.get(name) ?? 0) + 1);

/** Runs one sequence as the application layer would, checking the properties after each command. */
function run(steps: Step[]): void {
  const state = initialState();
  const log: LedgerEvent[] = [];
  const sent: LedgerCommand[] = [];
  /** The payload of the command whose outcome each key currently records. */
  const recordedPayload = new Map<string, string>();
  let nowMs = START_MS;
  const append = (event: LedgerEvent) => {
    expectJsonSafe(event);
    evolve(state, event);
    log.push(event);
  };
  const opening = OPENED_AT_START.map((id) => openAccount(id, `open-${id}`));
  const all: { shape: Shape | null; command: LedgerCommand | null; key: string; dtMs: number }[] = [
    ...opening.map((command) => ({ shape: null, command, key: command.idempotencyKey, dtMs: 0 })),
    ...steps.map((s, i) => ({ shape: s.shape, command: null, key: s.sharedKey ?? `k${i}`, dtMs: s.dtMs })),
  ];
  for (const item of all) {
    nowMs += item.dtMs;
    const context = { nowMs };
    const command = item.command ?? commandOf(item.shape!, item.key, nowMs, sent);
    sent.push(command);

    const prior = outcomeOf(state, command.idempotencyKey, nowMs); // a key a window old is new, forgotten or not
    const before = identities(state);
    const result = decide(command, state, context);
    expectUnchanged(before, state);

    // A repeated command (same key, same payload) produces no events and the first outcome.
    const samePayload = prior !== undefined && recordedPayload.get(command.idempotencyKey) === payloadOf(command);
    if (prior !== undefined && samePayload) {
      const replayed = prior.outcome.ok ? result.ok && result.events.length === 0 : !result.ok && sameError(result.error, prior.outcome.error);
      if (!replayed) throw new Error(`a retry of ${command.idempotencyKey} did not replay its first outcome`);
    }
    if (prior !== undefined && !samePayload) {
      if (result.ok || result.error.code !== 'idempotency_key_reuse') throw new Error(`key ${command.idempotencyKey} reused without idempotency_key_reuse`);
    }

    count(result.ok ? (result.events.length > 0 ? `accepted ${command.type}` : 'replayed') : `rejected ${result.error.code}`);
    if (result.ok) result.events.forEach(append);
    else {
      const rejection = rejectionEvent(state, command, result.error, context);
      if (rejection !== undefined) append(rejection);
    }
    if (prior === undefined) recordedPayload.set(command.idempotencyKey, payloadOf(command));

    // ...and right after, the same command again: nothing new, the same answer, the outcome kept.
    const afterFirst = identities(state);
    const again = decide(command, state, context);
    if (result.ok) {
      if (!again.ok || again.events.length > 0) throw new Error(`a retry of accepted ${command.idempotencyKey} was not a no-op`);
      if (prior === undefined) {
        const recorded = outcomeOf(state, command.idempotencyKey);
        // Equal, not the same object: an opened account's event is rebuilt from the account.
        if (!recorded?.outcome.ok || !isDeepStrictEqual(recorded.outcome.event, result.events[0])) throw new Error('the first outcome was not recorded');
      }
    } else {
      if (again.ok || !sameError(again.error, result.error)) throw new Error(`a retry of rejected ${command.idempotencyKey} got another answer`);
      const recorded = outcomeOf(state, command.idempotencyKey);
      if (prior === undefined && result.error.code !== 'idempotency_key_required' && (recorded?.outcome.ok !== false || !sameError(recorded.outcome.error, result.error))) {
        throw new Error('the first rejection was not recorded');
      }
    }
    expectUnchanged(afterFirst, state);

    expectZeroGlobalSums(state);
    expectNoOverdraft(state);
    expectHoldsMatchPendingSums(state);
  }

  // Folding the stored (JSON) events from scratch gives the incrementally evolved state.
  const stored: LedgerEvent[] = JSON.parse(JSON.stringify(log));
  const rebuilt = foldLedgerShard(stored);
  if (snapshot(rebuilt) !== snapshot(state)) {
    expect(snapshot(rebuilt)).toBe(snapshot(state)); // prints the difference
  }
}

describe(`ledger shard, over ${RUNS} random command sequences`, () => {
  it('keeps global sums zero, no flagged account overdrawn, holds matching pending sums, retries idempotent, and fold equal to incremental evolution', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60, size: 'max' }), (steps) => run(steps)),
      { numRuns: RUNS },
    );
    // The sequences reach every path that matters, so a pass means something.
    const unreached = [
      'accepted PostEntry',
      'accepted PlaceHold',
      'accepted CaptureHold',
      'accepted ReleaseHold',
      'accepted ExpireHold',
      'accepted FreezeAccount',
      'accepted UnfreezeAccount',
      'accepted CloseAccount',
      'accepted OpenAccount',
      'replayed',
      'rejected insufficient_funds',
      'rejected wallet_not_active',
      'rejected idempotency_key_reuse',
      'rejected hold_not_pending',
      'rejected amount_exceeds_hold',
      'rejected currency_mismatch',
      'rejected validation_failed',
    ].filter((name) => !tally.has(name));
    if (process.env.LEDGER_PROPERTY_TALLY) console.log([...tally].sort().map(([name, n]) => `${name}: ${n}`).join('\n'));
    expect(unreached).toEqual([]);
  });
});
