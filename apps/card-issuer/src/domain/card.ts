// The card aggregate, part 1: its events, state and `evolve` (one stream per card, `card-{id}`).
// The card's stream also holds its authorizations, so one card's decisions are serialised by the
// stream's revision and the spending limits hold under concurrent authorizations. Commands and
// `decide` are in ./card.commands.ts.
//
// No clear PAN or CVV ever enters an event: the PAN is sealed (AES-256-GCM, see
// application/card-crypto.ts) and found by its HMAC fingerprint; the view keeps the last four.
import type { AuthorizationStatus, CardStatus, IsoResponseCode, Merchant, SpendingControlsView } from '@ledger/contracts';
import { CAPTURED_AUTHORIZATIONS_KEPT_MAX, CHANGE_KEY_KEPT_MS, CHANGE_KEYS_KEPT_MAX, CVV_FAILURES_MAX, CVV_FAILURES_WINDOW_MS, FINISHED_AUTHORIZATION_KEPT_MS, MS_PER_DAY, REFUND_WINDOW_MS } from './limits';
import { AuthorizationBook } from './authorization-book';
import { SPEND_DAYS_KEPT_MS, spendWindowsOf } from './spending-controls';

// ---------------------------------------------------------------------------------------------
// Events. Amounts are digit strings, times are epoch milliseconds.

export interface CardIssued {
  readonly type: 'cards.CardIssued.v1';
  readonly data: {
    readonly cardId: string;
    readonly ownerId: string;
    readonly walletId: string;
    readonly currency: string;
    readonly label: string | null;
    readonly brand: string;
    readonly last4: string;
    readonly expMonth: number;
    readonly expYear: number;
    /** HMAC-SHA256 of the PAN under the fingerprint key, hex: the reservation stream's name. */
    readonly panFingerprint: string;
    /** The PAN sealed under a per-card data key, itself wrapped by key-encryption key `kekId`. */
    readonly sealedPan: string;
    readonly kekId: string;
    readonly spendingControls: SpendingControlsView;
    readonly atMs: number;
  };
}

/** Who saw the card's details, and when; never what. */
export interface CardRevealed {
  readonly type: 'cards.CardRevealed.v1';
  readonly data: { readonly userId: string; readonly atMs: number };
}

/** A freeze, unfreeze or cancel; `idempotencyKey` tells a retried lifecycle command from a second one. */
interface CardLifecycleEvent<Type extends string> {
  readonly type: Type;
  readonly data: { readonly idempotencyKey: string; readonly atMs: number };
}

export type CardFrozen = CardLifecycleEvent<'cards.CardFrozen.v1'>;
export type CardUnfrozen = CardLifecycleEvent<'cards.CardUnfrozen.v1'>;
export type CardCanceled = CardLifecycleEvent<'cards.CardCanceled.v1'>;

export interface SpendingControlsSet {
  readonly type: 'cards.SpendingControlsSet.v1';
  readonly data: { readonly spendingControls: SpendingControlsView; readonly idempotencyKey: string; readonly atMs: number };
}

/** What the network asked for; on every authorization's first event. */
export interface AuthorizationRequest {
  readonly authorizationId: string;
  readonly amount: string;
  readonly currency: string;
  readonly merchant: Merchant;
  readonly atMs: number;
}

/**
 * The intent: the issuer's checks passed and a hold (id = authorization id) is about to be asked
 * of the ledger. Recorded BEFORE the ledger is asked, so a crash in between is found on start.
 */
export interface AuthorizationRequested {
  readonly type: 'cards.AuthorizationRequested.v1';
  readonly data: AuthorizationRequest & { readonly walletId: string; readonly holdTimeoutMs: number | null };
}

/** The ledger placed the hold. */
export interface AuthorizationApproved {
  readonly type: 'cards.AuthorizationApproved.v1';
  readonly data: { readonly authorizationId: string; readonly atMs: number };
}

/** Refused by the issuer's checks (first event, full request) or by the ledger (after Requested). */
export interface AuthorizationDeclined {
  readonly type: 'cards.AuthorizationDeclined.v1';
  readonly data: AuthorizationRequest & { readonly cardId: string | null; readonly responseCode: IsoResponseCode; readonly reason: string };
}

/**
 * Posts `capturedAmount`; the ledger released `releasedAmount`, the rest of the hold.
 * `idempotencyKey` is the network's; null when the capture was learnt from `ledger.events`
 * (the issuer stopped between the ledger's answer and this event).
 */
export interface AuthorizationCaptured {
  readonly type: 'cards.AuthorizationCaptured.v1';
  readonly data: { readonly authorizationId: string; readonly capturedAmount: string; readonly releasedAmount: string; readonly idempotencyKey: string | null; readonly atMs: number };
}

/**
 * Releases `releasedAmount`; `sequence` numbers the reversals of one authorization (1, 2, ...);
 * `ledgerKey` is the ReleaseHold's idempotency key (derived from the network's key, which is null
 * when the reversal was learnt from `ledger.events`).
 */
export interface AuthorizationReversed {
  readonly type: 'cards.AuthorizationReversed.v1';
  readonly data: {
    readonly authorizationId: string;
    readonly releasedAmount: string;
    readonly sequence: number;
    readonly idempotencyKey: string | null;
    readonly ledgerKey: string;
    readonly atMs: number;
  };
}

export interface AuthorizationRefunded {
  readonly type: 'cards.AuthorizationRefunded.v1';
  readonly data: { readonly authorizationId: string; readonly refundId: string; readonly entryId: string; readonly amount: string; readonly atMs: number };
}

/** The ledger expired the hold (past its timeout) and released what it still held. */
export interface AuthorizationExpired {
  readonly type: 'cards.AuthorizationExpired.v1';
  readonly data: { readonly authorizationId: string; readonly releasedAmount: string; readonly atMs: number };
}

export type CardEvent =
  | CardIssued
  | CardRevealed
  | CardFrozen
  | CardUnfrozen
  | CardCanceled
  | SpendingControlsSet
  | AuthorizationRequested
  | AuthorizationApproved
  | AuthorizationDeclined
  | AuthorizationCaptured
  | AuthorizationReversed
  | AuthorizationRefunded
  | AuthorizationExpired;

export const CARD_EVENT_TYPES: readonly CardEvent['type'][] = [
  'cards.CardIssued.v1',
  'cards.CardRevealed.v1',
  'cards.CardFrozen.v1',
  'cards.CardUnfrozen.v1',
  'cards.CardCanceled.v1',
  'cards.SpendingControlsSet.v1',
  'cards.AuthorizationRequested.v1',
  'cards.AuthorizationApproved.v1',
  'cards.AuthorizationDeclined.v1',
  'cards.AuthorizationCaptured.v1',
  'cards.AuthorizationReversed.v1',
  'cards.AuthorizationRefunded.v1',
  'cards.AuthorizationExpired.v1',
];

// ---------------------------------------------------------------------------------------------
// State.

/** `requested`: the hold was asked for and its answer is not recorded yet. */
export type AuthorizationPhase = 'requested' | AuthorizationStatus;

export interface Authorization {
  readonly id: string;
  readonly phase: AuthorizationPhase;
  readonly responseCode: IsoResponseCode | null;
  readonly reason: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly merchant: Merchant;
  readonly walletId: string;
  readonly holdTimeoutMs: number | null;
  /** Still reserved on the wallet by the ledger's hold. */
  readonly heldAmount: bigint;
  readonly capturedAmount: bigint;
  readonly refundedAmount: bigint;
  /** By refund id: a retried refund is answered from here. */
  readonly refunds: ReadonlyMap<string, Refund>;
  /** The network's key of the capture; null before one, or when it was learnt from the ledger. */
  readonly captureKey: string | null;
  /** The network's keys of the reversals (those it is known for). */
  readonly reversalKeys: readonly string[];
  /** The ledger keys of the reversals, in order (their sequence is index + 1). */
  readonly reversalLedgerKeys: readonly string[];
  readonly createdAtMs: number;
  /** When it stopped changing (declined, reversed, expired) or was captured; null while open. */
  readonly finishedAtMs: number | null;
}

export interface Refund {
  readonly entryId: string;
  readonly amount: bigint;
  readonly atMs: number;
}

/** What CardIssued recorded (its `atMs` becomes `createdAtMs`), and what has happened since. */
export interface Card extends Omit<CardIssued['data'], 'atMs'> {
  readonly status: CardStatus;
  readonly createdAtMs: number;
  /** Keys of the recent freezes, unfreezes, cancels and controls changes (key -> when): a retry of one changes nothing, never undoing later ones. */
  readonly changeKeys: ReadonlyMap<string, number>;
  /** Persistent: evolve's changes copy a bucket of it, not all of it. */
  readonly authorizations: AuthorizationBook<Authorization>;
  /** Counted spend (approved holds and captures less reversals and expiries) per UTC day / month. */
  readonly spendByDay: ReadonlyMap<string, bigint>;
  readonly spendByMonth: ReadonlyMap<string, bigint>;
  /** When the newest wrong CVVs or expiries were presented (within CVV_FAILURES_WINDOW_MS, at most CVV_FAILURES_MAX); the owner's unfreeze clears them. */
  readonly cvvFailuresAtMs: readonly number[];
  /** The latest event's time: `decide` never goes back before it (windows and retention are pruned by it). */
  readonly lastAtMs: number;
}

export type CardState = { readonly status: 'none' } | Card;

export function initialState(): CardState {
  return { status: 'none' };
}

export function isCard(state: CardState): state is Card {
  return state.status !== 'none';
}

// ---------------------------------------------------------------------------------------------
// evolve: applies one event. It throws only on a broken invariant (a bug or a corrupt stream).

export function evolve(state: CardState, event: CardEvent): CardState {
  if (event.type === 'cards.CardIssued.v1') {
    if (isCard(state)) throw new Error('invariant: a card is issued once');
    // Every recorded field is the card's (Card extends the event's data), so a new one needs no line here.
    const { atMs, ...issued } = event.data;
    return {
      ...issued,
      status: 'active',
      createdAtMs: atMs,
      changeKeys: new Map(),
      authorizations: AuthorizationBook.empty(),
      spendByDay: new Map(),
      spendByMonth: new Map(),
      cvvFailuresAtMs: [],
      lastAtMs: atMs,
    };
  }
  if (!isCard(state)) throw new Error(`invariant: ${event.type} before the card was issued`);
  const next = applied(state, event);
  return next.lastAtMs >= event.data.atMs ? next : { ...next, lastAtMs: event.data.atMs };
}

function applied(state: Card, event: Exclude<CardEvent, CardIssued>): Card {
  switch (event.type) {
    case 'cards.CardRevealed.v1':
      return state;
    case 'cards.CardFrozen.v1':
      return { ...state, status: 'frozen', changeKeys: withChangeKey(state.changeKeys, event.data) };
    case 'cards.CardUnfrozen.v1':
      // The owner's unfreeze also lifts a lock by wrong CVVs: they vouch for the card.
      return { ...state, status: 'active', changeKeys: withChangeKey(state.changeKeys, event.data), cvvFailuresAtMs: [] };
    case 'cards.CardCanceled.v1':
      return { ...state, status: 'canceled', changeKeys: withChangeKey(state.changeKeys, event.data) };
    case 'cards.SpendingControlsSet.v1':
      return { ...state, spendingControls: event.data.spendingControls, changeKeys: withChangeKey(state.changeKeys, event.data) };
    case 'cards.AuthorizationRequested.v1': {
      const { data } = event;
      const amount = BigInt(data.amount);
      const authorization: Authorization = {
        ...newAuthorization(data, data.walletId),
        phase: 'requested',
        holdTimeoutMs: data.holdTimeoutMs,
        heldAmount: amount,
      };
      return withSpend(withAuthorization(prune(state, data.atMs), authorization), data.atMs, amount);
    }
    case 'cards.AuthorizationDeclined.v1': {
      const { data } = event;
      const existing = state.authorizations.get(data.authorizationId);
      const base = existing ?? newAuthorization(data, state.walletId);
      if (existing !== undefined && existing.phase !== 'requested') throw new Error(`invariant: authorization ${data.authorizationId} is decided once`);
      const declined: Authorization = { ...base, phase: 'declined', responseCode: data.responseCode, reason: data.reason, heldAmount: 0n, finishedAtMs: data.atMs };
      const next = withAuthorization(prune(state, data.atMs), declined);
      if (existing !== undefined) return withSpend(next, existing.createdAtMs, -existing.heldAmount);
      return isVerificationFailure(data) ? { ...next, cvvFailuresAtMs: withCvvFailure(state.cvvFailuresAtMs, data.atMs) } : next;
    }
    case 'cards.AuthorizationApproved.v1': {
      const existing = requireAuthorization(state, event.data.authorizationId, 'requested');
      return withAuthorization(state, { ...existing, phase: 'pending', responseCode: '00', reason: 'approved' });
    }
    case 'cards.AuthorizationCaptured.v1': {
      const { data } = event;
      const existing = requireAuthorization(state, data.authorizationId, 'pending');
      const captured = BigInt(data.capturedAmount);
      const released = BigInt(data.releasedAmount);
      if (captured + released !== existing.heldAmount) throw new Error(`invariant: a capture settles the whole hold of ${data.authorizationId}`);
      const next: Authorization = { ...existing, phase: 'captured', heldAmount: 0n, capturedAmount: captured, captureKey: data.idempotencyKey, finishedAtMs: data.atMs };
      // Pruned with this capture counted: the state keeps CAPTURED_AUTHORIZATIONS_KEPT_MAX captures, not one more.
      return withSpend(prune(withAuthorization(state, next), data.atMs), existing.createdAtMs, -released);
    }
    case 'cards.AuthorizationReversed.v1': {
      const { data } = event;
      const existing = requireAuthorization(state, data.authorizationId, 'pending');
      const released = BigInt(data.releasedAmount);
      if (released <= 0n || released > existing.heldAmount) throw new Error(`invariant: a reversal releases part of what ${data.authorizationId} holds`);
      const heldAmount = existing.heldAmount - released;
      const next: Authorization = {
        ...existing,
        phase: heldAmount === 0n ? 'reversed' : 'pending',
        heldAmount,
        reversalKeys: data.idempotencyKey === null ? existing.reversalKeys : [...existing.reversalKeys, data.idempotencyKey],
        reversalLedgerKeys: [...existing.reversalLedgerKeys, data.ledgerKey],
        finishedAtMs: heldAmount === 0n ? data.atMs : null,
      };
      return withSpend(withAuthorization(prune(state, data.atMs), next), existing.createdAtMs, -released);
    }
    case 'cards.AuthorizationRefunded.v1': {
      const { data } = event;
      // A capture beyond CAPTURED_AUTHORIZATIONS_KEPT_MAX newer ones left the state: its refunds are decided from its own events.
      if (!state.authorizations.has(data.authorizationId)) return prune(state, data.atMs);
      const existing = requireAuthorization(state, data.authorizationId, 'captured');
      const refundedAmount = existing.refundedAmount + BigInt(data.amount);
      if (refundedAmount > existing.capturedAmount) throw new Error(`invariant: refunds of ${data.authorizationId} exceed its capture`);
      const refunds = new Map(existing.refunds);
      refunds.set(data.refundId, { entryId: data.entryId, amount: BigInt(data.amount), atMs: data.atMs });
      return withAuthorization(prune(state, data.atMs), { ...existing, refundedAmount, refunds });
    }
    case 'cards.AuthorizationExpired.v1': {
      const { data } = event;
      const existing = requireAuthorization(state, data.authorizationId, 'pending');
      const next: Authorization = { ...existing, phase: 'expired', heldAmount: 0n, finishedAtMs: data.atMs };
      return withSpend(withAuthorization(prune(state, data.atMs), next), existing.createdAtMs, -existing.heldAmount);
    }
  }
}

/** The change keys with this one added, those past CHANGE_KEY_KEPT_MS and beyond the newest CHANGE_KEYS_KEPT_MAX dropped. */
function withChangeKey(keys: ReadonlyMap<string, number>, change: { readonly idempotencyKey: string; readonly atMs: number }): ReadonlyMap<string, number> {
  const next = new Map([...keys].filter(([, atMs]) => change.atMs - atMs <= CHANGE_KEY_KEPT_MS));
  next.delete(change.idempotencyKey);
  next.set(change.idempotencyKey, change.atMs);
  while (next.size > CHANGE_KEYS_KEPT_MAX) next.delete(next.keys().next().value!);
  return next;
}

/** A decline for wrong security details: what CVV_FAILURES_MAX counts. */
function isVerificationFailure(data: AuthorizationDeclined['data']): boolean {
  return data.responseCode === 'N7' || data.reason === 'expiry_mismatch';
}

/** The failure times with `atMs` added, those past the window and beyond the newest CVV_FAILURES_MAX dropped. */
function withCvvFailure(failures: readonly number[], atMs: number): readonly number[] {
  return [...failures.filter((at) => atMs - at < CVV_FAILURES_WINDOW_MS), atMs].slice(-CVV_FAILURES_MAX);
}

/** Whether CVV_FAILURES_MAX wrong CVVs or expiries were presented within the window before `atMs`: the card takes no more guesses. */
export function isCvvLocked(card: Card, atMs: number): boolean {
  return card.cvvFailuresAtMs.filter((at) => atMs - at < CVV_FAILURES_WINDOW_MS).length >= CVV_FAILURES_MAX;
}

/** Whether `key` is of a change this card made within CHANGE_KEY_KEPT_MS of `atMs`: its retry. */
export function isRecentChange(card: Card, key: string, atMs: number): boolean {
  const changedAtMs = card.changeKeys.get(key);
  return changedAtMs !== undefined && atMs - changedAtMs <= CHANGE_KEY_KEPT_MS;
}

function newAuthorization(data: AuthorizationRequest, walletId: string): Authorization {
  return {
    id: data.authorizationId,
    phase: 'requested',
    responseCode: null,
    reason: 'in_progress',
    amount: BigInt(data.amount),
    currency: data.currency,
    merchant: data.merchant,
    walletId,
    holdTimeoutMs: null,
    heldAmount: 0n,
    capturedAmount: 0n,
    refundedAmount: 0n,
    refunds: new Map(),
    captureKey: null,
    reversalKeys: [],
    reversalLedgerKeys: [],
    createdAtMs: data.atMs,
    finishedAtMs: null,
  };
}

function requireAuthorization(state: Card, authorizationId: string, phase: AuthorizationPhase): Authorization {
  const existing = state.authorizations.get(authorizationId);
  if (existing === undefined || existing.phase !== phase) {
    throw new Error(`invariant: authorization ${authorizationId} is ${existing?.phase ?? 'unknown'}, expected ${phase}`);
  }
  return existing;
}

function withAuthorization(state: Card, authorization: Authorization): Card {
  return { ...state, authorizations: state.authorizations.with(authorization.id, authorization) };
}

/** Adds `delta` to the day and month windows of `createdAtMs`; a window already dropped stays dropped. */
function withSpend(state: Card, createdAtMs: number, delta: bigint): Card {
  if (delta === 0n) return state;
  const { day, month } = spendWindowsOf(createdAtMs);
  return { ...state, spendByDay: adjusted(state.spendByDay, day, delta), spendByMonth: adjusted(state.spendByMonth, month, delta) };
}

function adjusted(windows: ReadonlyMap<string, bigint>, key: string, delta: bigint): ReadonlyMap<string, bigint> {
  const current = windows.get(key);
  if (current === undefined && delta < 0n) return windows;
  const value = (current ?? 0n) + delta;
  if (value < 0n) throw new Error(`invariant: counted spend of ${key} below zero`);
  const next = new Map(windows);
  next.set(key, value);
  return next;
}

/**
 * Drops what no decision can need any more, deterministically by the event's time: finished
 * authorizations past their retention, and spend windows no authorization can fall into.
 */
function prune(state: Card, atMs: number): Card {
  const expired: string[] = [];
  const captured: Authorization[] = [];
  for (const [id, authorization] of state.authorizations) {
    if (authorization.finishedAtMs === null) continue;
    const keptMs = authorization.phase === 'captured' ? REFUND_WINDOW_MS : FINISHED_AUTHORIZATION_KEPT_MS;
    if (atMs - authorization.finishedAtMs > keptMs) expired.push(id);
    else if (authorization.phase === 'captured') captured.push(authorization);
  }
  if (captured.length > CAPTURED_AUTHORIZATIONS_KEPT_MAX) expired.push(...oldestFirst(captured).slice(0, captured.length - CAPTURED_AUTHORIZATIONS_KEPT_MAX));
  const authorizations = state.authorizations.without(expired);
  const oldestDay = spendWindowsOf(atMs - SPEND_DAYS_KEPT_MS).day;
  const oldestMonth = spendWindowsOf(atMs - 32 * MS_PER_DAY).month;
  const spendByDay = withoutOlder(state.spendByDay, oldestDay);
  const spendByMonth = withoutOlder(state.spendByMonth, oldestMonth);
  if (authorizations === state.authorizations && spendByDay === state.spendByDay && spendByMonth === state.spendByMonth) return state;
  return { ...state, authorizations, spendByDay, spendByMonth };
}

/** Ids of captured authorizations, the earliest captured first (ties by id: the same on every fold). */
function oldestFirst(captured: readonly Authorization[]): string[] {
  return [...captured].sort((a, b) => a.finishedAtMs! - b.finishedAtMs! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((authorization) => authorization.id);
}

function withoutOlder(windows: ReadonlyMap<string, bigint>, oldest: string): ReadonlyMap<string, bigint> {
  let next: Map<string, bigint> | undefined;
  for (const key of windows.keys()) {
    if (key >= oldest) continue;
    next ??= new Map(windows);
    next.delete(key);
  }
  return next ?? windows;
}

/** Counted spend of the day and month `atMs` falls in. */
export function spendAt(state: Card, atMs: number): { daily: bigint; monthly: bigint } {
  const { day, month } = spendWindowsOf(atMs);
  return { daily: state.spendByDay.get(day) ?? 0n, monthly: state.spendByMonth.get(month) ?? 0n };
}

/** The card with `authorization`, folded from its own events after it left the state, back in it (for one decision). */
export function withRestored(state: CardState, authorization: Authorization): CardState {
  return isCard(state) && !state.authorizations.has(authorization.id) ? withAuthorization(state, authorization) : state;
}

/** Whether an event is the card's issue or of authorization `authorizationId`: what folds that one authorization alone. */
export function concernsAuthorization(event: CardEvent, authorizationId: string): boolean {
  return event.type === 'cards.CardIssued.v1' || ('authorizationId' in event.data && event.data.authorizationId === authorizationId);
}

export function foldCard(events: readonly CardEvent[]): CardState {
  return events.reduce(evolve, initialState());
}

/** The authorization an unknown-PAN decline (on its own stream, no card) describes. */
export function unmatchedAuthorization(event: AuthorizationDeclined): Authorization {
  const { data } = event;
  return { ...newAuthorization(data, ''), phase: 'declined', responseCode: data.responseCode, reason: data.reason, finishedAtMs: data.atMs };
}
