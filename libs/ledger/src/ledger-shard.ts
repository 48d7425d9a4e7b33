// The ledger shard aggregate, part 1: its events, its state and `evolve`. The commands and
// `decide` are in ./ledger-shard.commands.ts.
//
// One shard is one stream (`ledger-{shard}`) and one writer. The writer keeps this state in
// memory for up to ~1M accounts, so `evolve` updates the state's Maps in place: it takes
// ownership of the state it is given and returns that same object. Keep no other reference
// to a state you pass to `evolve`; to go back, fold the stream again. Account and hold
// objects themselves are never mutated (each change stores a new object), so a reference to
// one is a stable snapshot.
//
// Idempotency lives in the state: an accepted command produces exactly one event, and every
// event carries its command's key, fingerprint and time (`CommandStamp`), so `evolve` records
// each key's first outcome, rejections included (`ledger.CommandRejected.v1`), and a restart
// that folds the stream gets the same answers back.
import { amountOf, type Currency, type DomainError } from '@ledger/contracts';
import {
  hasZeroBalance,
  isOverdrawn,
  sideChange,
  withBalanceChange,
  type Account,
  type AccountFlags,
  type BalanceSums,
} from './account';
import type { PostingJson } from './entry';
import { openAccountFingerprint, type OpenedAccountFields } from './fingerprint';
import { IDEMPOTENCY_WINDOW_MS } from './limits';

// ---------------------------------------------------------------------------------------------
// Events. Their `data` is stored as JSON: amounts are digit strings, absent values are null.

/** On every event a command produces, so `evolve` can record the command's outcome. */
export interface CommandStamp {
  readonly idempotencyKey: string;
  /** `commandFingerprint(command)`: tells a retry (same payload) from a reused key. */
  readonly fingerprint: string;
  /** The command's time (`context.nowMs`): ages idempotency records and finished holds out. */
  readonly atMs: number;
}

export interface AccountOpened {
  readonly type: 'ledger.AccountOpened.v1';
  readonly data: CommandStamp & OpenedAccountFields;
}

export interface EntryPosted {
  readonly type: 'ledger.EntryPosted.v1';
  readonly data: CommandStamp & {
    readonly entryId: string;
    /** `top_up`, `withdrawal`, `transfer`, `fee`, `reversal`, ... */
    readonly kind: string;
    readonly postings: readonly PostingJson[];
    /** `{}` when the command had none. */
    readonly references: Readonly<Record<string, string>>;
  };
}

/** Where a hold's money comes from and goes to; on every hold event so projections need no hold state. */
interface HoldAccounts {
  readonly holdId: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly currency: Currency;
}

export interface HoldPlaced {
  readonly type: 'ledger.HoldPlaced.v1';
  readonly data: CommandStamp & HoldAccounts & { readonly amount: string; readonly expiresAtMs: number };
}

/** Posts `capturedAmount` and releases `releasedAmount`, the rest of what was held. */
export interface HoldCaptured {
  readonly type: 'ledger.HoldCaptured.v1';
  readonly data: CommandStamp & HoldAccounts & { readonly capturedAmount: string; readonly releasedAmount: string };
}

/** Releases `releasedAmount`; the hold stays pending while `heldAmount` (what is left) is not zero. */
export interface HoldReleased {
  readonly type: 'ledger.HoldReleased.v1';
  readonly data: CommandStamp & HoldAccounts & { readonly releasedAmount: string; readonly heldAmount: string };
}

export interface HoldExpired {
  readonly type: 'ledger.HoldExpired.v1';
  readonly data: CommandStamp & HoldAccounts & { readonly releasedAmount: string };
}

export interface AccountFrozen {
  readonly type: 'ledger.AccountFrozen.v1';
  readonly data: CommandStamp & { readonly accountId: string };
}

export interface AccountUnfrozen {
  readonly type: 'ledger.AccountUnfrozen.v1';
  readonly data: CommandStamp & { readonly accountId: string };
}

export interface AccountClosed {
  readonly type: 'ledger.AccountClosed.v1';
  readonly data: CommandStamp & { readonly accountId: string };
}

/** A command's first outcome was a rejection: recorded so a retry gets the same answer after a restart. */
export interface CommandRejected {
  readonly type: 'ledger.CommandRejected.v1';
  readonly data: CommandStamp & {
    readonly commandType: string;
    readonly error: {
      readonly code: DomainError['code'];
      readonly message: string;
      readonly details: Readonly<Record<string, unknown>>;
    };
  };
}

/** What an accepted command produces: exactly one of these. */
export type LedgerAcceptedEvent =
  | AccountOpened
  | EntryPosted
  | HoldPlaced
  | HoldCaptured
  | HoldReleased
  | HoldExpired
  | AccountFrozen
  | AccountUnfrozen
  | AccountClosed;

export type LedgerEvent = LedgerAcceptedEvent | CommandRejected;

export type LedgerEventType = LedgerEvent['type'];

// ---------------------------------------------------------------------------------------------
// State.

export type HoldStatus = 'pending' | 'captured' | 'released' | 'expired';

export interface Hold {
  readonly id: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly currency: Currency;
  readonly placedAmount: bigint;
  /** Still reserved: `debitsPending` of the debit account and `creditsPending` of the credit account include it. */
  readonly heldAmount: bigint;
  readonly capturedAmount: bigint;
  readonly expiresAtMs: number;
  readonly status: HoldStatus;
}

/** The first outcome of an idempotency key: the event it produced, or the error it got. */
export type CommandOutcome =
  | { readonly ok: true; readonly event: LedgerAcceptedEvent }
  | { readonly ok: false; readonly error: DomainError };

export interface IdempotencyRecord {
  readonly fingerprint: string;
  readonly atMs: number;
  readonly outcome: CommandOutcome;
}

export interface LedgerShardState {
  readonly accounts: Map<string, Account>;
  /** Pending holds, and finished ones until they age out (see `finishedHolds`). */
  readonly holds: Map<string, Hold>;
  /** Finished hold id -> when it finished, in the order they finished. */
  readonly finishedHolds: Map<string, number>;
  /**
   * Idempotency key -> first outcome, in the order recorded; read it with `outcomeOf`. An opened
   * account's outcome is kept as the account's id: its AccountOpened event is rebuilt from the
   * account, so a million open accounts keep no million events.
   */
  readonly idempotency: Map<string, IdempotencyRecord | string>;
  /**
   * Entry id -> the idempotency key of the command that posted it, while that key's record is kept:
   * an entry id names one entry, under whatever key it comes again (older ones the application looks up).
   */
  readonly entries: Map<string, string>;
}

export function initialState(): LedgerShardState {
  return { accounts: new Map(), holds: new Map(), finishedHolds: new Map(), idempotency: new Map(), entries: new Map() };
}

// ---------------------------------------------------------------------------------------------
// evolve: applies one recorded event. Never validates a user's input (decide did); it asserts
// the invariants and throws an Error, a bug, if one would break.

export function evolve(state: LedgerShardState, event: LedgerEvent): LedgerShardState {
  switch (event.type) {
    case 'ledger.AccountOpened.v1': {
      const { data } = event;
      invariant(!state.accounts.has(data.accountId), `account ${data.accountId} opened twice`);
      invariant(!(data.flags.debitsMustNotExceedCredits && data.flags.creditsMustNotExceedDebits), 'exclusive flags both set');
      const account: Account = {
        id: data.accountId,
        currency: data.currency,
        normalSide: data.normalSide,
        flags: sharedFlags(data.flags.debitsMustNotExceedCredits, data.flags.creditsMustNotExceedDebits),
        kind: data.kind,
        ownerId: data.ownerId,
        status: 'active',
        openedAtMs: data.atMs,
        debitsPosted: 0n,
        creditsPosted: 0n,
        debitsPending: 0n,
        creditsPending: 0n,
      };
      state.accounts.set(data.accountId, account);
      // The account holds every field of its event: keep its id, unless the stored fingerprint differs.
      if (data.fingerprint === openAccountFingerprint(data)) {
        recordOutcome(state, data.idempotencyKey, data.accountId, data.atMs);
        return state;
      }
      break;
    }
    case 'ledger.EntryPosted.v1': {
      const { data } = event;
      const net = new Map<Currency, bigint>();
      const touched = new Map<string, Account>();
      for (const posting of data.postings) {
        const amount = amountOf(posting.amount);
        const account = touched.get(posting.accountId) ?? accountOf(state, posting.accountId);
        invariant(amount > 0n && account.currency === posting.currency, `entry ${data.entryId}: bad posting on ${account.id}`);
        touched.set(account.id, withBalanceChange(account, sideChange(posting.side, amount)));
        net.set(posting.currency, (net.get(posting.currency) ?? 0n) + (posting.side === 'debit' ? amount : -amount));
      }
      for (const [currency, sum] of net) invariant(sum === 0n, `entry ${data.entryId} unbalanced in ${currency}`);
      // Judged after the whole entry, so an account on both sides is judged on its net.
      for (const account of touched.values()) storeAccount(state, account);
      break;
    }
    case 'ledger.HoldPlaced.v1': {
      const { data } = event;
      const amount = amountOf(data.amount);
      invariant(amount > 0n, `hold ${data.holdId}: amount not positive`);
      // A finished hold's id is free from the window after it finished on, whether or not a later event has forgotten it yet.
      if (state.holds.has(data.holdId) && holdOf(state, data.holdId, data.atMs) === undefined) forgetHold(state, data.holdId);
      invariant(!state.holds.has(data.holdId), `hold ${data.holdId} placed twice`);
      const currencies = [accountOf(state, data.debitAccountId).currency, accountOf(state, data.creditAccountId).currency];
      invariant(currencies.every((currency) => currency === data.currency), `hold ${data.holdId}: currency mismatch`);
      changeBalance(state, data.debitAccountId, sideChange('debit', amount, 'pending'));
      changeBalance(state, data.creditAccountId, sideChange('credit', amount, 'pending'));
      state.holds.set(data.holdId, {
        id: data.holdId,
        debitAccountId: data.debitAccountId,
        creditAccountId: data.creditAccountId,
        currency: data.currency,
        placedAmount: amount,
        heldAmount: amount,
        capturedAmount: 0n,
        expiresAtMs: data.expiresAtMs,
        status: 'pending',
      });
      break;
    }
    case 'ledger.HoldCaptured.v1': {
      const { data } = event;
      const hold = pendingHoldOf(state, data.holdId);
      const captured = amountOf(data.capturedAmount);
      const addsUp = captured > 0n && captured + amountOf(data.releasedAmount) === hold.heldAmount;
      invariant(addsUp, `hold ${hold.id}: capture does not add up`);
      changeBalance(state, hold.debitAccountId, { debitsPending: -hold.heldAmount, debitsPosted: captured });
      changeBalance(state, hold.creditAccountId, { creditsPending: -hold.heldAmount, creditsPosted: captured });
      finishHold(state, { ...hold, heldAmount: 0n, capturedAmount: captured, status: 'captured' }, data.atMs);
      break;
    }
    case 'ledger.HoldReleased.v1': {
      const { data } = event;
      const hold = pendingHoldOf(state, data.holdId);
      const released = amountOf(data.releasedAmount);
      const held = hold.heldAmount - released;
      invariant(released > 0n && held >= 0n && held === amountOf(data.heldAmount), `hold ${hold.id}: release does not add up`);
      changeBalance(state, hold.debitAccountId, { debitsPending: -released });
      changeBalance(state, hold.creditAccountId, { creditsPending: -released });
      if (held === 0n) finishHold(state, { ...hold, heldAmount: 0n, status: 'released' }, data.atMs);
      else state.holds.set(hold.id, { ...hold, heldAmount: held });
      break;
    }
    case 'ledger.HoldExpired.v1': {
      const { data } = event;
      const hold = pendingHoldOf(state, data.holdId);
      invariant(amountOf(data.releasedAmount) === hold.heldAmount, `hold ${hold.id}: expiry does not release all`);
      changeBalance(state, hold.debitAccountId, { debitsPending: -hold.heldAmount });
      changeBalance(state, hold.creditAccountId, { creditsPending: -hold.heldAmount });
      finishHold(state, { ...hold, heldAmount: 0n, status: 'expired' }, data.atMs);
      break;
    }
    case 'ledger.AccountFrozen.v1': {
      const account = accountOf(state, event.data.accountId);
      invariant(account.status === 'active', `account ${account.id}: frozen while ${account.status}`);
      state.accounts.set(account.id, { ...account, status: 'frozen' });
      break;
    }
    case 'ledger.AccountUnfrozen.v1': {
      const account = accountOf(state, event.data.accountId);
      invariant(account.status === 'frozen', `account ${account.id}: unfrozen while ${account.status}`);
      state.accounts.set(account.id, { ...account, status: 'active' });
      break;
    }
    case 'ledger.AccountClosed.v1': {
      const account = accountOf(state, event.data.accountId);
      invariant(account.status !== 'closed', `account ${account.id} closed twice`);
      invariant(hasZeroBalance(account), `account ${account.id} closed with a balance`);
      state.accounts.set(account.id, { ...account, status: 'closed' });
      break;
    }
    case 'ledger.CommandRejected.v1': {
      const { data } = event;
      // The first outcome wins: a rejection appended for a key already recorded changes nothing.
      if (outcomeOf(state, data.idempotencyKey, data.atMs) === undefined) {
        forgetRecord(state, data.idempotencyKey); // one past the window, not forgotten yet
        state.idempotency.set(data.idempotencyKey, {
          fingerprint: data.fingerprint,
          atMs: data.atMs,
          outcome: { ok: false, error: data.error },
        });
      }
      forgetOlderThanWindow(state, data.atMs);
      return state;
    }
    default: {
      const unknown: never = event;
      throw new Error(`unknown ledger event type ${(unknown as { type: string }).type}`);
    }
  }
  const { idempotencyKey, fingerprint, atMs } = event.data;
  recordOutcome(state, idempotencyKey, { fingerprint, atMs, outcome: { ok: true, event } }, atMs);
  return state;
}

function recordOutcome(state: LedgerShardState, idempotencyKey: string, record: IdempotencyRecord | string, atMs: number): void {
  invariant(outcomeOf(state, idempotencyKey, atMs) === undefined, `two outcomes for idempotency key ${idempotencyKey}`);
  forgetRecord(state, idempotencyKey); // one past the window, not forgotten yet: this command's record replaces it
  state.idempotency.set(idempotencyKey, record);
  indexEntry(state, idempotencyKey, record);
  forgetOlderThanWindow(state, atMs);
}

/** Keeps the entry id of a record of a posted entry, so another key cannot post that id again. */
export function indexEntry(state: LedgerShardState, idempotencyKey: string, record: IdempotencyRecord | string): void {
  const event = typeof record === 'string' || !record.outcome.ok ? undefined : record.outcome.event;
  if (event?.type === 'ledger.EntryPosted.v1') state.entries.set(event.data.entryId, idempotencyKey);
}

function forgetRecord(state: LedgerShardState, idempotencyKey: string): void {
  const record = state.idempotency.get(idempotencyKey);
  if (record === undefined) return;
  state.idempotency.delete(idempotencyKey);
  const event = typeof record === 'string' || !record.outcome.ok ? undefined : record.outcome.event;
  if (event?.type === 'ledger.EntryPosted.v1' && state.entries.get(event.data.entryId) === idempotencyKey) state.entries.delete(event.data.entryId);
}

/** The entry posted under `entryId` within the window as of `nowMs`, or undefined (see `entries`). */
export function entryPostedOf(state: LedgerShardState, entryId: string, nowMs: number): EntryPosted | undefined {
  const key = state.entries.get(entryId);
  const record = key === undefined ? undefined : outcomeOf(state, key, nowMs);
  const event = record?.outcome.ok === true ? record.outcome.event : undefined;
  return event?.type === 'ledger.EntryPosted.v1' && event.data.entryId === entryId ? event : undefined;
}

/** A stored event of a ledger stream as the domain's event (the store keeps exactly type and data). */
export function ledgerEventOf(recorded: { readonly type: string; readonly data: unknown }): LedgerEvent {
  return { type: recorded.type, data: recorded.data } as LedgerEvent;
}

/** The state after `events`, from scratch (or on top of `state`, which it then owns). */
export function foldLedgerShard(events: Iterable<LedgerEvent>, state: LedgerShardState = initialState()): LedgerShardState {
  for (const event of events) evolve(state, event);
  return state;
}

/**
 * The first outcome recorded for an idempotency key within the window, or undefined. The
 * application layer answers a retry with it: `decide` returns no events for a retry. With
 * `nowMs` (a command's time), a record IDEMPOTENCY_WINDOW_MS or more older is none: records are
 * forgotten only as later events come, and the key of a shard idle since is new again all the same.
 */
export function outcomeOf(state: LedgerShardState, idempotencyKey: string, nowMs?: number): IdempotencyRecord | undefined {
  const stored = state.idempotency.get(idempotencyKey);
  const record = typeof stored === 'string' ? openedRecord(state, idempotencyKey, stored) : stored;
  return record === undefined || (nowMs !== undefined && record.atMs <= nowMs - IDEMPOTENCY_WINDOW_MS) ? undefined : record;
}

/** The record of the command that opened `accountId`, rebuilt from the account (fields that never change). */
function openedRecord(state: LedgerShardState, idempotencyKey: string, accountId: string): IdempotencyRecord {
  const account = accountOf(state, accountId);
  const data: AccountOpened['data'] = {
    idempotencyKey,
    fingerprint: '',
    atMs: account.openedAtMs,
    accountId: account.id,
    currency: account.currency,
    normalSide: account.normalSide,
    flags: account.flags,
    kind: account.kind,
    ownerId: account.ownerId,
  };
  const fingerprint = openAccountFingerprint(data);
  return { fingerprint, atMs: account.openedAtMs, outcome: { ok: true, event: { type: 'ledger.AccountOpened.v1', data: { ...data, fingerprint } } } };
}

/**
 * The hold under `holdId` as of `nowMs` (a command's time): a finished hold IDEMPOTENCY_WINDOW_MS or
 * more after it finished is none, though no later event has forgotten it yet (as `outcomeOf` for keys).
 */
export function holdOf(state: LedgerShardState, holdId: string, nowMs: number): Hold | undefined {
  const finishedAtMs = state.finishedHolds.get(holdId);
  return finishedAtMs !== undefined && finishedAtMs <= nowMs - IDEMPOTENCY_WINDOW_MS ? undefined : state.holds.get(holdId);
}

const FLAGS: readonly AccountFlags[] = [
  { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false },
  { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false },
  { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: true },
  { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true },
].map((flags) => Object.freeze(flags));

/** One frozen flags object per combination, shared by every account that has it. */
export function sharedFlags(debitsMustNotExceedCredits: boolean, creditsMustNotExceedDebits: boolean): AccountFlags {
  return FLAGS[(debitsMustNotExceedCredits ? 1 : 0) + (creditsMustNotExceedDebits ? 2 : 0)];
}

/** Per currency, sum of debits minus sum of credits over all accounts: both are always zero. */
export function globalSums(state: LedgerShardState): Map<Currency, { posted: bigint; pending: bigint }> {
  const sums = new Map<Currency, { posted: bigint; pending: bigint }>();
  for (const account of state.accounts.values()) {
    const sum = sums.get(account.currency) ?? { posted: 0n, pending: 0n };
    sums.set(account.currency, {
      posted: sum.posted + account.debitsPosted - account.creditsPosted,
      pending: sum.pending + account.debitsPending - account.creditsPending,
    });
  }
  return sums;
}

function changeBalance(state: LedgerShardState, accountId: string, change: Partial<BalanceSums>): void {
  storeAccount(state, withBalanceChange(accountOf(state, accountId), change));
}

function storeAccount(state: LedgerShardState, account: Account): void {
  const accountId = account.id;
  invariant(
    account.debitsPosted >= 0n && account.creditsPosted >= 0n && account.debitsPending >= 0n && account.creditsPending >= 0n,
    `account ${accountId}: a balance sum went negative`,
  );
  invariant(!isOverdrawn(account), `account ${accountId} overdrawn`);
  state.accounts.set(accountId, account);
}

function finishHold(state: LedgerShardState, hold: Hold, atMs: number): void {
  state.holds.set(hold.id, hold);
  state.finishedHolds.set(hold.id, atMs);
}

// Bounds memory deterministically: each event drops the idempotency records and finished holds
// whose time is at least IDEMPOTENCY_WINDOW_MS before its own `atMs`, oldest first (Maps iterate
// in insertion order; if clocks step back, a younger entry in front only delays the rest).
function forgetOlderThanWindow(state: LedgerShardState, nowMs: number): void {
  const horizonMs = nowMs - IDEMPOTENCY_WINDOW_MS;
  for (const [key, record] of state.idempotency) {
    if ((typeof record === 'string' ? accountOf(state, record).openedAtMs : record.atMs) > horizonMs) break;
    forgetRecord(state, key);
  }
  for (const [holdId, finishedAtMs] of state.finishedHolds) {
    if (finishedAtMs > horizonMs) break;
    forgetHold(state, holdId);
  }
}

function forgetHold(state: LedgerShardState, holdId: string): void {
  state.finishedHolds.delete(holdId);
  state.holds.delete(holdId);
}

function accountOf(state: LedgerShardState, accountId: string): Account {
  const account = state.accounts.get(accountId);
  invariant(account !== undefined, `no account ${accountId}`);
  return account;
}

function pendingHoldOf(state: LedgerShardState, holdId: string): Hold {
  const hold = state.holds.get(holdId);
  invariant(hold !== undefined && hold.status === 'pending', `hold ${holdId} is not pending`);
  return hold;
}

function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`ledger invariant broken: ${message}`);
}
