// The ledger shard aggregate, part 2: its commands and `decide`. Events, state and `evolve`
// are in ./ledger-shard.ts.
//
// The application layer runs each command of a shard in order, on one writer:
//   const result = decide(command, state, context);
//   if (result.ok) append and evolve result.events;  // none for a retry: answer it from outcomeOf(state, key)
//   else { const rejected = rejectionEvent(state, command, result.error, context); if (rejected) append and evolve it }
import { domainError, formatAmount, isCurrency, type Currency, type DomainError } from '@ledger/contracts';
import {
  hasZeroBalance,
  isOverdrawn,
  postedBalance,
  withBalanceChange,
  type AccountFlags,
  type AccountKind,
  type Side,
} from './account';
import { entryError, insufficientFunds, postingStatusError, postingToJson, type Posting } from './entry';
import { fingerprintOf, openAccountFingerprint } from './fingerprint';
import {
  entryPostedOf,
  evolve,
  holdOf,
  initialState,
  outcomeOf,
  type CommandRejected,
  type CommandStamp,
  type EntryPosted,
  type LedgerAcceptedEvent,
  type LedgerEvent,
  type LedgerShardState,
} from './ledger-shard';
import {
  ENTRY_KIND_LENGTH_MAX,
  HOLD_TIMEOUT_MAX_MS,
  ID_LENGTH_MAX,
  isValidAmount,
  isValidId,
  REFERENCE_LENGTH_MAX,
  REFERENCES_MAX,
  validationFailed,
} from './limits';

// ---------------------------------------------------------------------------------------------
// Commands. Each carries the idempotency key the application derived from (caller, key); the
// ids of what it creates (account, entry, hold) are chosen by the caller, never here.

interface CommandBase {
  readonly idempotencyKey: string;
}

export interface OpenAccount extends CommandBase {
  readonly type: 'OpenAccount';
  readonly accountId: string;
  readonly currency: Currency;
  readonly normalSide: Side;
  readonly flags: Partial<AccountFlags>;
  readonly kind: AccountKind;
  readonly ownerId?: string;
}

export interface PostEntry extends CommandBase {
  readonly type: 'PostEntry';
  readonly entryId: string;
  readonly postings: readonly Posting[];
  /** `top_up`, `withdrawal`, `transfer`, `fee`, `reversal`, ... */
  readonly kind: string;
  readonly references?: Readonly<Record<string, string>>;
}

/** Reserves `amount`: pending debit on the debit account, pending credit on the credit account. */
export interface PlaceHold extends CommandBase {
  readonly type: 'PlaceHold';
  readonly holdId: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
  readonly amount: bigint;
  readonly expiresAtMs: number;
  /** The expiry is the service's default timeout, not the caller's: left out of the fingerprint, so a retry after the default changed is still one. */
  readonly expiryByDefault?: boolean;
}

/** Posts `amount` (at most what is held) and releases the rest. */
export interface CaptureHold extends CommandBase {
  readonly type: 'CaptureHold';
  readonly holdId: string;
  readonly amount: bigint;
}

/** Releases `amount`, or everything still held when absent. */
export interface ReleaseHold extends CommandBase {
  readonly type: 'ReleaseHold';
  readonly holdId: string;
  readonly amount?: bigint;
}

/** Releases everything still held, once the hold's time is up. */
export interface ExpireHold extends CommandBase {
  readonly type: 'ExpireHold';
  readonly holdId: string;
}

export interface FreezeAccount extends CommandBase {
  readonly type: 'FreezeAccount';
  readonly accountId: string;
}

export interface UnfreezeAccount extends CommandBase {
  readonly type: 'UnfreezeAccount';
  readonly accountId: string;
}

export interface CloseAccount extends CommandBase {
  readonly type: 'CloseAccount';
  readonly accountId: string;
}

export type LedgerCommand =
  | OpenAccount
  | PostEntry
  | PlaceHold
  | CaptureHold
  | ReleaseHold
  | ExpireHold
  | FreezeAccount
  | UnfreezeAccount
  | CloseAccount;

/** What decide needs besides the command and the state: the command's time from the one clock. */
export interface LedgerContext {
  readonly nowMs: number;
  /**
   * A PostEntry's: the entry the store holds under its entry id, when the application found one the
   * state no longer keeps (`entries` is a window); the id is then taken, as within the window.
   */
  readonly postedEntry?: EntryPosted;
}

export type LedgerDecision = { ok: true; events: LedgerEvent[] } | { ok: false; error: DomainError };

// ---------------------------------------------------------------------------------------------
// Idempotency.

/**
 * What identifies a command's payload (everything but its idempotency key): FNV-1a 64 of its
 * canonical JSON, 16 hex digits. Stored in events, so changing it is a stored-format change.
 * Not collision-proof against someone trying; a collision only makes a reused key replay its
 * first outcome instead of failing with `idempotency_key_reuse`, it never moves money.
 */
export function commandFingerprint(command: LedgerCommand): string {
  if (command.type === 'OpenAccount') {
    return openAccountFingerprint({
      accountId: command.accountId,
      currency: command.currency,
      normalSide: command.normalSide,
      flags: normalizedFlags(command.flags),
      kind: command.kind,
      ownerId: command.ownerId ?? null,
    });
  }
  return fingerprintOf(commandPayload(command));
}

/** The command as JSON without its key (OpenAccount's is `openAccountPayload`): amounts as digit strings, optional fields normalised. */
function commandPayload(command: Exclude<LedgerCommand, OpenAccount>): unknown {
  switch (command.type) {
    case 'PostEntry':
      return {
        type: command.type,
        entryId: command.entryId,
        postings: command.postings.map(postingToJson),
        kind: command.kind,
        references: command.references ?? {},
      };
    case 'PlaceHold':
      return {
        type: command.type,
        holdId: command.holdId,
        debitAccountId: command.debitAccountId,
        creditAccountId: command.creditAccountId,
        amount: formatAmount(command.amount),
        expiresAtMs: command.expiryByDefault === true ? 'default' : command.expiresAtMs,
      };
    case 'CaptureHold':
      return { type: command.type, holdId: command.holdId, amount: formatAmount(command.amount) };
    case 'ReleaseHold':
      return {
        type: command.type,
        holdId: command.holdId,
        amount: command.amount === undefined ? null : formatAmount(command.amount),
      };
    case 'ExpireHold':
      return { type: command.type, holdId: command.holdId };
    case 'FreezeAccount':
    case 'UnfreezeAccount':
    case 'CloseAccount':
      return { type: command.type, accountId: command.accountId };
  }
}

/**
 * The event that records a rejection as the command's first outcome, so a retry gets the same
 * error after a restart; undefined when there is nothing to record (the key already has an
 * outcome, e.g. a retry or a reused key, or the key itself is unusable).
 */
export function rejectionEvent(
  state: LedgerShardState,
  command: LedgerCommand,
  error: DomainError,
  context: LedgerContext,
): CommandRejected | undefined {
  if (!isValidId(command.idempotencyKey) || outcomeOf(state, command.idempotencyKey, context.nowMs) !== undefined) return undefined;
  return {
    type: 'ledger.CommandRejected.v1',
    data: {
      idempotencyKey: command.idempotencyKey,
      fingerprint: commandFingerprint(command),
      atMs: context.nowMs,
      commandType: command.type,
      error: { code: error.code, message: error.message, details: error.details ?? {} },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// decide: pure; reads the state, never changes it.

export function decide(command: LedgerCommand, state: LedgerShardState, context: LedgerContext): LedgerDecision {
  if (!Number.isSafeInteger(context.nowMs) || context.nowMs < 0) {
    throw new RangeError(`context.nowMs must be a non-negative integer, got ${context.nowMs}`);
  }
  if (!isValidId(command.idempotencyKey)) {
    return rejected(
      domainError('idempotency_key_required', 'a non-empty idempotency key is required', { idempotencyKeyLengthMax: ID_LENGTH_MAX }),
    );
  }
  const fingerprint = commandFingerprint(command);
  const prior = outcomeOf(state, command.idempotencyKey, context.nowMs);
  if (prior !== undefined) {
    if (prior.fingerprint !== fingerprint) {
      return rejected(
        domainError('idempotency_key_reuse', 'this idempotency key was used for a different command', {
          idempotencyKey: command.idempotencyKey,
        }),
      );
    }
    return prior.outcome.ok ? { ok: true, events: [] } : rejected(prior.outcome.error);
  }
  // An entry id names one entry: the same entry under another key (a retry whose key the caller or the window lost) is answered as posted.
  const posted = command.type === 'PostEntry' ? postedEntryOf(state, command, context) : undefined;
  if (posted !== undefined) return posted.data.fingerprint === fingerprint ? { ok: true, events: [] } : rejected(validationFailed('entryId', 'entry_exists'));
  // Event data copies the stamp field by field: `{ ...stamp, more }` (a spread plus new keys) makes V8
  // allocate each copy in old space, garbage only a full GC frees (~1.5 KB per opened account).
  const stamp: CommandStamp = { idempotencyKey: command.idempotencyKey, fingerprint, atMs: context.nowMs };
  switch (command.type) {
    case 'OpenAccount':
      return openAccount(command, state, stamp);
    case 'PostEntry':
      return postEntry(command, state, stamp);
    case 'PlaceHold':
      return placeHold(command, state, stamp);
    case 'CaptureHold':
      return captureHold(command, state, stamp);
    case 'ReleaseHold':
      return releaseHold(command, state, stamp);
    case 'ExpireHold':
      return expireHold(command, state, stamp);
    case 'FreezeAccount':
      return freezeAccount(command, state, stamp);
    case 'UnfreezeAccount':
      return unfreezeAccount(command, state, stamp);
    case 'CloseAccount':
      return closeAccount(command, state, stamp);
    default: {
      const unknown: never = command;
      return rejected(validationFailed('type', 'unknown_command', { type: String((unknown as { type: unknown }).type) }));
    }
  }
}

/** The entry already posted under a PostEntry's entry id (kept in the state, or found by the application): what answers it. */
export function postedEntryOf(state: LedgerShardState, command: PostEntry, context: LedgerContext): EntryPosted | undefined {
  if (typeof command.entryId !== 'string') return undefined;
  return entryPostedOf(state, command.entryId, context.nowMs) ?? (context.postedEntry?.data.entryId === command.entryId ? context.postedEntry : undefined);
}

/** The ledger shard as a decider: what `deciderSpec` and the application layer run. */
export const ledgerShard = { initialState, evolve, decide };

// Checks run in the same order in every handler: the command on its own (`validation_failed`),
// then what it names (`not_found`), then the state it would change.

function openAccount(command: OpenAccount, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  if (!isValidId(command.accountId)) return rejected(validationFailed('accountId', 'invalid_id'));
  if (!isCurrency(command.currency)) return rejected(validationFailed('currency', 'unknown_currency'));
  if (!isSide(command.normalSide)) return rejected(validationFailed('normalSide', 'invalid_side'));
  if (command.kind !== 'wallet' && command.kind !== 'system') return rejected(validationFailed('kind', 'invalid_kind'));
  if (command.ownerId !== undefined && !isValidId(command.ownerId)) return rejected(validationFailed('ownerId', 'invalid_id'));
  const flags = normalizedFlags(command.flags);
  if (flags.debitsMustNotExceedCredits && flags.creditsMustNotExceedDebits) {
    return rejected(validationFailed('flags', 'flags_mutually_exclusive'));
  }
  if (command.kind === 'wallet' && (command.normalSide !== 'credit' || !flags.debitsMustNotExceedCredits)) {
    return rejected(validationFailed('flags', 'wallet_must_be_credit_normal_without_overdraft'));
  }
  if (state.accounts.has(command.accountId)) {
    return rejected(domainError('account_exists', 'an account with this id exists', { accountId: command.accountId }));
  }
  return accepted({
    type: 'ledger.AccountOpened.v1',
    data: {
      idempotencyKey: stamp.idempotencyKey,
      fingerprint: stamp.fingerprint,
      atMs: stamp.atMs,
      accountId: command.accountId,
      currency: command.currency,
      normalSide: command.normalSide,
      flags,
      kind: command.kind,
      ownerId: command.ownerId ?? null,
    },
  });
}

function postEntry(command: PostEntry, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  if (!isValidId(command.entryId)) return rejected(validationFailed('entryId', 'invalid_id'));
  if (typeof command.kind !== 'string' || command.kind.length === 0 || command.kind.length > ENTRY_KIND_LENGTH_MAX) {
    return rejected(validationFailed('kind', 'invalid_kind', { entryKindLengthMax: ENTRY_KIND_LENGTH_MAX }));
  }
  const references = command.references ?? {};
  const referencesError = referencesErrorOf(references);
  if (referencesError !== undefined) return rejected(referencesError);
  const error = entryError(command.postings, state.accounts);
  if (error !== undefined) return rejected(error);
  return accepted({
    type: 'ledger.EntryPosted.v1',
    data: {
      idempotencyKey: stamp.idempotencyKey,
      fingerprint: stamp.fingerprint,
      atMs: stamp.atMs,
      entryId: command.entryId,
      kind: command.kind,
      postings: command.postings.map(postingToJson),
      references: { ...references },
    },
  });
}

function placeHold(command: PlaceHold, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  if (!isValidId(command.holdId)) return rejected(validationFailed('holdId', 'invalid_id'));
  if (!isValidId(command.debitAccountId)) return rejected(validationFailed('debitAccountId', 'invalid_id'));
  if (!isValidId(command.creditAccountId)) return rejected(validationFailed('creditAccountId', 'invalid_id'));
  if (command.debitAccountId === command.creditAccountId) return rejected(validationFailed('creditAccountId', 'same_account'));
  if (!isValidAmount(command.amount)) return rejected(validationFailed('amount', 'amount_out_of_range'));
  if (
    !Number.isSafeInteger(command.expiresAtMs) ||
    command.expiresAtMs <= stamp.atMs ||
    command.expiresAtMs > stamp.atMs + HOLD_TIMEOUT_MAX_MS
  ) {
    return rejected(validationFailed('expiresAtMs', 'outside_hold_timeout', { holdTimeoutMaxMs: HOLD_TIMEOUT_MAX_MS }));
  }
  // A finished hold keeps its id until it ages out of the window.
  if (holdOf(state, command.holdId, stamp.atMs) !== undefined) return rejected(validationFailed('holdId', 'hold_exists'));
  const debitAccount = state.accounts.get(command.debitAccountId);
  if (debitAccount === undefined) return rejected(notFound('accountId', command.debitAccountId));
  const creditAccount = state.accounts.get(command.creditAccountId);
  if (creditAccount === undefined) return rejected(notFound('accountId', command.creditAccountId));
  if (debitAccount.currency !== creditAccount.currency) {
    return rejected(
      domainError('currency_mismatch', 'a hold moves money within one currency', {
        debitAccountId: debitAccount.id,
        debitCurrency: debitAccount.currency,
        creditAccountId: creditAccount.id,
        creditCurrency: creditAccount.currency,
      }),
    );
  }
  const statusError = postingStatusError(debitAccount, 'debit') ?? postingStatusError(creditAccount, 'credit');
  if (statusError !== undefined) return rejected(statusError);
  if (isOverdrawn(withBalanceChange(debitAccount, { debitsPending: command.amount }))) {
    return rejected(insufficientFunds(debitAccount));
  }
  if (isOverdrawn(withBalanceChange(creditAccount, { creditsPending: command.amount }))) {
    return rejected(insufficientFunds(creditAccount));
  }
  return accepted({
    type: 'ledger.HoldPlaced.v1',
    data: {
      idempotencyKey: stamp.idempotencyKey,
      fingerprint: stamp.fingerprint,
      atMs: stamp.atMs,
      holdId: command.holdId,
      debitAccountId: debitAccount.id,
      creditAccountId: creditAccount.id,
      currency: debitAccount.currency,
      amount: formatAmount(command.amount),
      expiresAtMs: command.expiresAtMs,
    },
  });
}

// Capture and release only settle what the hold already reserved, so they go through on a
// frozen account (a card network expects an authorised amount to clear); a closed account
// cannot have an open hold.
function captureHold(command: CaptureHold, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  if (!isValidId(command.holdId)) return rejected(validationFailed('holdId', 'invalid_id'));
  if (!isValidAmount(command.amount)) return rejected(validationFailed('amount', 'amount_out_of_range'));
  const hold = unexpiredHold(state, command.holdId, stamp.atMs);
  if (!hold.ok) return hold;
  const { value } = hold;
  if (command.amount > value.heldAmount) return rejected(exceedsHold(value.id, value.heldAmount));
  return accepted({
    type: 'ledger.HoldCaptured.v1',
    data: {
      idempotencyKey: stamp.idempotencyKey,
      fingerprint: stamp.fingerprint,
      atMs: stamp.atMs,
      holdId: value.id, debitAccountId: value.debitAccountId, creditAccountId: value.creditAccountId, currency: value.currency,
      capturedAmount: formatAmount(command.amount),
      releasedAmount: formatAmount(value.heldAmount - command.amount),
    },
  });
}

function releaseHold(command: ReleaseHold, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  if (!isValidId(command.holdId)) return rejected(validationFailed('holdId', 'invalid_id'));
  if (command.amount !== undefined && !isValidAmount(command.amount)) {
    return rejected(validationFailed('amount', 'amount_out_of_range'));
  }
  const hold = unexpiredHold(state, command.holdId, stamp.atMs);
  if (!hold.ok) return hold;
  const { value } = hold;
  const released = command.amount ?? value.heldAmount;
  if (released > value.heldAmount) return rejected(exceedsHold(value.id, value.heldAmount));
  return accepted({
    type: 'ledger.HoldReleased.v1',
    data: {
      idempotencyKey: stamp.idempotencyKey,
      fingerprint: stamp.fingerprint,
      atMs: stamp.atMs,
      holdId: value.id, debitAccountId: value.debitAccountId, creditAccountId: value.creditAccountId, currency: value.currency,
      releasedAmount: formatAmount(released),
      heldAmount: formatAmount(value.heldAmount - released),
    },
  });
}

function expireHold(command: ExpireHold, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  if (!isValidId(command.holdId)) return rejected(validationFailed('holdId', 'invalid_id'));
  const hold = pendingHold(state, command.holdId, stamp.atMs);
  if (!hold.ok) return hold;
  const { value } = hold;
  if (stamp.atMs < value.expiresAtMs) {
    const details = { holdId: value.id, expiresAtMs: value.expiresAtMs };
    return rejected(domainError('hold_not_expired', 'the hold has not reached its expiry', details));
  }
  return accepted({
    type: 'ledger.HoldExpired.v1',
    data: { idempotencyKey: stamp.idempotencyKey, fingerprint: stamp.fingerprint, atMs: stamp.atMs, holdId: value.id, debitAccountId: value.debitAccountId, creditAccountId: value.creditAccountId, currency: value.currency, releasedAmount: formatAmount(value.heldAmount) },
  });
}

function freezeAccount(command: FreezeAccount, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  const found = existingAccount(state, command.accountId);
  if (!found.ok) return found;
  const account = found.value;
  if (account.status !== 'active') return rejected(notActive(account.id, account.status));
  return accepted({ type: 'ledger.AccountFrozen.v1', data: { idempotencyKey: stamp.idempotencyKey, fingerprint: stamp.fingerprint, atMs: stamp.atMs, accountId: account.id } });
}

function unfreezeAccount(command: UnfreezeAccount, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  const found = existingAccount(state, command.accountId);
  if (!found.ok) return found;
  const account = found.value;
  if (account.status === 'closed') return rejected(notActive(account.id, account.status));
  if (account.status !== 'frozen') return rejected(validationFailed('accountId', 'account_not_frozen'));
  return accepted({ type: 'ledger.AccountUnfrozen.v1', data: { idempotencyKey: stamp.idempotencyKey, fingerprint: stamp.fingerprint, atMs: stamp.atMs, accountId: account.id } });
}

function closeAccount(command: CloseAccount, state: LedgerShardState, stamp: CommandStamp): LedgerDecision {
  const found = existingAccount(state, command.accountId);
  if (!found.ok) return found;
  const account = found.value;
  if (account.status === 'closed') return rejected(notActive(account.id, account.status));
  if (!hasZeroBalance(account)) {
    return rejected(
      domainError('balance_not_zero', 'only an account with nothing posted or pending can close', {
        accountId: account.id,
        posted: formatAmount(postedBalance(account)),
        debitsPending: formatAmount(account.debitsPending),
        creditsPending: formatAmount(account.creditsPending),
      }),
    );
  }
  return accepted({ type: 'ledger.AccountClosed.v1', data: { idempotencyKey: stamp.idempotencyKey, fingerprint: stamp.fingerprint, atMs: stamp.atMs, accountId: account.id } });
}

// ---------------------------------------------------------------------------------------------

function accepted(event: LedgerAcceptedEvent): LedgerDecision {
  return { ok: true, events: [event] };
}

function rejected(error: DomainError): { ok: false; error: DomainError } {
  return { ok: false, error };
}

function existingAccount(state: LedgerShardState, accountId: string) {
  if (!isValidId(accountId)) return rejected(validationFailed('accountId', 'invalid_id'));
  const account = state.accounts.get(accountId);
  if (account === undefined) return rejected(notFound('accountId', accountId));
  return { ok: true as const, value: account };
}

function pendingHold(state: LedgerShardState, holdId: string, atMs: number) {
  const hold = holdOf(state, holdId, atMs);
  if (hold === undefined) return rejected(notFound('holdId', holdId));
  if (hold.status !== 'pending') {
    return rejected(domainError('hold_not_pending', `the hold is ${hold.status}`, { holdId, status: hold.status }));
  }
  return { ok: true as const, value: hold };
}

/**
 * A pending hold a capture or release may still settle: from its expiresAtMs on it is expired in
 * substance (only ExpireHold settles it), whether or not the writer's sweep has reached it yet.
 */
function unexpiredHold(state: LedgerShardState, holdId: string, atMs: number) {
  const hold = pendingHold(state, holdId, atMs);
  if (!hold.ok || atMs < hold.value.expiresAtMs) return hold;
  return rejected(domainError('hold_not_pending', 'the hold is expired', { holdId, status: 'expired', expiresAtMs: hold.value.expiresAtMs }));
}

function normalizedFlags(flags: Partial<AccountFlags> | undefined): AccountFlags {
  return {
    debitsMustNotExceedCredits: flags?.debitsMustNotExceedCredits === true,
    creditsMustNotExceedDebits: flags?.creditsMustNotExceedDebits === true,
  };
}

function referencesErrorOf(references: unknown): DomainError | undefined {
  if (typeof references !== 'object' || references === null || Array.isArray(references)) {
    return validationFailed('references', 'not_an_object');
  }
  const entries = Object.entries(references);
  if (entries.length > REFERENCES_MAX) return validationFailed('references', 'too_many', { referencesMax: REFERENCES_MAX });
  for (const [name, value] of entries) {
    const nameOk = name.length > 0 && name.length <= REFERENCE_LENGTH_MAX;
    if (!nameOk || typeof value !== 'string' || value.length > REFERENCE_LENGTH_MAX) {
      const field = `references.${name.slice(0, REFERENCE_LENGTH_MAX)}`;
      return validationFailed(field, 'invalid_reference', { referenceLengthMax: REFERENCE_LENGTH_MAX });
    }
  }
  return undefined;
}

function isSide(value: unknown): value is Side {
  return value === 'debit' || value === 'credit';
}

function notFound(field: 'accountId' | 'holdId', id: string): DomainError {
  return domainError('not_found', field === 'accountId' ? 'no such account' : 'no such hold', { [field]: id });
}

function notActive(accountId: string, status: string): DomainError {
  return domainError('wallet_not_active', `account is ${status}`, { accountId, status });
}

function exceedsHold(holdId: string, heldAmount: bigint): DomainError {
  return domainError('amount_exceeds_hold', 'the amount exceeds what the hold still reserves', {
    holdId,
    heldAmount: formatAmount(heldAmount),
  });
}
