// The card aggregate, part 2: its commands and `decide`. Events, state and `evolve` are in ./card.ts.
//
// `decide` is pure: the application generates and seals the PAN, checks the CVV (an HMAC) and
// asks identity for the step-up, and hands in only the results (`sealedPan`, `cvvValid`,
// `stepUpVerified`). A declined authorization is a fact, not a rejection: it returns an
// AuthorizationDeclined event and the reply is still a success (approved: false).
//
// Authorization checks run in DESIGN.md's order and the first failure answers: after a lock by
// wrong CVVs (05, before anything is checked), expiry (54),
// CVV (N7), card status (62), merchant category or country (57), spending limits (61), currency
// (05). An unknown PAN (14) never reaches a card: the application records it on its own stream.
import { domainError, isUuid, parseAmount, type DomainError, type IsoResponseCode, type Merchant, type SpendingControlsView } from '@ledger/contracts';
import {
  evolve,
  initialState,
  isCard,
  isCvvLocked,
  isRecentChange,
  spendAt,
  type Authorization,
  type AuthorizationDeclined,
  type AuthorizationRequest,
  type Card,
  type CardEvent,
  type CardIssued,
  type CardState,
} from './card';
import { CARDS_PER_OWNER_MAX, isValidId, LABEL_LENGTH_MAX, REFUND_WINDOW_MS, REFUNDS_PER_AUTHORIZATION_MAX, REVERSALS_PER_AUTHORIZATION_MAX, validationFailed, type FieldProblem } from './limits';
import { endOfExpiryMs } from './pan';
import { merchantProblem, parseSpendingControls } from './spending-controls';

// ---------------------------------------------------------------------------------------------
// Commands. Every command carries its time (`atMs`); ids and crypto results are handed in.

/** CardIssued's facts, but the currency comes from the wallet and the controls are still unchecked input. */
export interface IssueCard extends Omit<CardIssued['data'], 'currency' | 'spendingControls' | 'atMs'> {
  readonly type: 'IssueCard';
  /** What the ledger said of the wallet. */
  readonly wallet: { readonly currency: string; readonly status: string; readonly ownerId: string };
  /** Cards the owner has already (the application counts them). */
  readonly cardsOfOwner: number;
  readonly spendingControls: unknown;
}

export interface RevealCard {
  readonly type: 'RevealCard';
  readonly userId: string;
  /** Identity's answer to VerifyStepUp. */
  readonly stepUpVerified: boolean;
}

export interface ChangeCardStatus {
  readonly type: 'FreezeCard' | 'UnfreezeCard' | 'CancelCard';
  readonly idempotencyKey: string;
}

export interface SetSpendingControls {
  readonly type: 'SetSpendingControls';
  readonly spendingControls: unknown;
  readonly idempotencyKey: string;
}

export interface RequestAuthorization {
  readonly type: 'RequestAuthorization';
  readonly authorizationId: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly merchant: Merchant;
  readonly expMonth: number;
  readonly expYear: number;
  /** The CVV matched the one derived from the card's PAN and expiry (compared in constant time). */
  readonly cvvValid: boolean;
  readonly holdTimeoutMs: number | null;
}

/** The ledger's answer to the hold: placed, or refused with the ISO code it maps to. */
export interface CompleteAuthorization {
  readonly type: 'CompleteAuthorization';
  readonly authorizationId: string;
  readonly outcome: { readonly approved: true } | { readonly approved: false; readonly responseCode: IsoResponseCode; readonly reason: string };
}

export interface CaptureAuthorization {
  readonly type: 'CaptureAuthorization';
  readonly authorizationId: string;
  readonly amount: bigint;
  readonly idempotencyKey: string;
  /** The ledger answered this key's capture as a replay: of a capture learnt from ledger.events (whose key the card does not know), this one's retry. */
  readonly replayedByLedger?: boolean;
}

export interface ReverseAuthorization {
  readonly type: 'ReverseAuthorization';
  readonly authorizationId: string;
  /** Absent: everything still held. */
  readonly amount: bigint | undefined;
  readonly idempotencyKey: string;
  /** The ReleaseHold's key, derived from `idempotencyKey`. */
  readonly ledgerKey: string;
}

/**
 * What `ledger.events` says happened to one of our holds or refunds. It changes the card only
 * when the card does not know yet: the issuer stopped between the ledger's answer and its own
 * event, and nobody retried.
 */
export type ObserveLedger =
  | { readonly type: 'ObserveHoldCaptured'; readonly authorizationId: string; readonly walletId: string; readonly capturedAmount: bigint; readonly releasedAmount: bigint }
  | { readonly type: 'ObserveHoldReleased'; readonly authorizationId: string; readonly walletId: string; readonly releasedAmount: bigint; readonly ledgerKey: string }
  /** `credited`: what the entry credits, by account; only the credit to the authorization's wallet is its refund. */
  | { readonly type: 'ObserveRefundPosted'; readonly authorizationId: string; readonly refundId: string; readonly entryId: string; readonly credited: ReadonlyMap<string, bigint> };

export interface RefundAuthorization {
  readonly type: 'RefundAuthorization';
  readonly authorizationId: string;
  readonly refundId: string;
  readonly entryId: string;
  readonly amount: bigint;
}

export interface ExpireAuthorization {
  readonly type: 'ExpireAuthorization';
  readonly authorizationId: string;
  /** The wallet the expired hold debited. */
  readonly walletId: string;
}

export type CardCommand =
  | IssueCard
  | RevealCard
  | ChangeCardStatus
  | SetSpendingControls
  | RequestAuthorization
  | CompleteAuthorization
  | CaptureAuthorization
  | ReverseAuthorization
  | RefundAuthorization
  | ExpireAuthorization
  | ObserveLedger;

export interface CardContext {
  readonly nowMs: number;
}

export type CardDecision = { ok: true; events: CardEvent[] } | { ok: false; error: DomainError };

const accepted = (...events: CardEvent[]): CardDecision => ({ ok: true, events });
const rejected = (error: DomainError): CardDecision => ({ ok: false, error });
const notFound = (what: string): DomainError => domainError('not_found', `no such ${what}`);
const notActive = (card: Card): DomainError => domainError('card_not_active', `the card is ${card.status}`, { status: card.status });
const notPending = (authorization: Authorization): DomainError =>
  domainError('hold_not_pending', `the authorization is ${authorization.phase}`, { authorizationId: authorization.id, status: authorization.phase });
const exceedsHold = (authorizationId: string, available: bigint): DomainError =>
  domainError('amount_exceeds_hold', 'the amount exceeds what the authorization allows', { authorizationId, available: available.toString() });

// ---------------------------------------------------------------------------------------------
// decide: pure; reads the state, never changes it.

export function decide(command: CardCommand, state: CardState, context: CardContext): CardDecision {
  // A card's time never goes back (a clock stepped back): a window pruned by a later event must not be counted afresh.
  const atMs = isCard(state) ? Math.max(context.nowMs, state.lastAtMs) : context.nowMs;
  if (command.type === 'IssueCard') return issue(command, state, atMs);
  if (!isCard(state)) return rejected(notFound('card'));
  switch (command.type) {
    case 'RevealCard':
      if (command.userId !== state.ownerId) return rejected(domainError('forbidden', 'only the card owner may see its details'));
      if (state.status === 'canceled') return rejected(notActive(state));
      if (!command.stepUpVerified) return rejected(domainError('step_up_required', 'confirm with your password or a TOTP code'));
      return accepted({ type: 'cards.CardRevealed.v1', data: { userId: command.userId, atMs } });
    case 'FreezeCard':
    case 'UnfreezeCard':
    case 'CancelCard':
      return changeStatus(command, state, atMs);
    case 'SetSpendingControls': {
      if (isRecentChange(state, command.idempotencyKey, atMs)) return accepted(); // a retry
      if (state.status === 'canceled') return rejected(notActive(state));
      const parsed = parseSpendingControls(command.spendingControls);
      if (!parsed.ok) return rejected(validationFailed(parsed.problems));
      return accepted({ type: 'cards.SpendingControlsSet.v1', data: { spendingControls: parsed.value, idempotencyKey: command.idempotencyKey, atMs } });
    }
    case 'RequestAuthorization':
      return requestAuthorization(command, state, atMs);
    case 'CompleteAuthorization': {
      const authorization = state.authorizations.get(command.authorizationId);
      if (authorization === undefined) return rejected(notFound('authorization'));
      if (authorization.phase !== 'requested') return accepted(); // answered already
      if (command.outcome.approved) return accepted({ type: 'cards.AuthorizationApproved.v1', data: { authorizationId: authorization.id, atMs } });
      return accepted(declined(requestOf(authorization, atMs), state.cardId, command.outcome.responseCode, command.outcome.reason));
    }
    case 'CaptureAuthorization': {
      const authorization = state.authorizations.get(command.authorizationId);
      if (authorization === undefined) return rejected(notFound('authorization'));
      // A retry: of the recorded capture by its key, of one learnt from the ledger (key unknown here) by the ledger's replay of its key.
      if (authorization.phase === 'captured' && (authorization.captureKey === command.idempotencyKey || (authorization.captureKey === null && command.replayedByLedger === true))) return accepted();
      if (authorization.phase !== 'pending') return rejected(notPending(authorization));
      if (command.amount <= 0n) return rejected(validationFailed([{ field: 'amount', reason: 'not_positive' }]));
      if (command.amount > authorization.heldAmount) return rejected(exceedsHold(authorization.id, authorization.heldAmount));
      return accepted({
        type: 'cards.AuthorizationCaptured.v1',
        data: {
          authorizationId: authorization.id,
          capturedAmount: command.amount.toString(),
          releasedAmount: (authorization.heldAmount - command.amount).toString(),
          idempotencyKey: command.idempotencyKey,
          atMs,
        },
      });
    }
    case 'ReverseAuthorization': {
      const authorization = state.authorizations.get(command.authorizationId);
      if (authorization === undefined) return rejected(notFound('authorization'));
      if (authorization.reversalKeys.includes(command.idempotencyKey) || authorization.reversalLedgerKeys.includes(command.ledgerKey)) return accepted(); // a retry
      if (authorization.phase !== 'pending') return rejected(notPending(authorization));
      const amount = command.amount ?? authorization.heldAmount;
      // The bound is on partial reversals: one that releases the rest finishes the authorization, so it is always taken.
      if (amount < authorization.heldAmount && authorization.reversalLedgerKeys.length >= REVERSALS_PER_AUTHORIZATION_MAX) {
        return rejected(validationFailed([{ field: 'amount', reason: `more_than_${REVERSALS_PER_AUTHORIZATION_MAX}_reversals` }]));
      }
      if (amount <= 0n) return rejected(validationFailed([{ field: 'amount', reason: 'not_positive' }]));
      if (amount > authorization.heldAmount) return rejected(exceedsHold(authorization.id, authorization.heldAmount));
      return accepted({
        type: 'cards.AuthorizationReversed.v1',
        data: {
          authorizationId: authorization.id,
          releasedAmount: amount.toString(),
          sequence: authorization.reversalLedgerKeys.length + 1,
          idempotencyKey: command.idempotencyKey,
          ledgerKey: command.ledgerKey,
          atMs,
        },
      });
    }
    case 'ObserveHoldCaptured':
    case 'ObserveHoldReleased':
    case 'ObserveRefundPosted':
      return observeLedger(command, state, atMs);
    case 'RefundAuthorization': {
      const authorization = state.authorizations.get(command.authorizationId);
      if (authorization === undefined) return rejected(notFound('authorization'));
      if (authorization.refunds.has(command.refundId)) return accepted(); // a retry
      if (authorization.phase !== 'captured') return rejected(notPending(authorization));
      // By time, not by whether a later event has pruned the capture from the state yet (a quiet card kept it past its window).
      if (atMs - authorization.finishedAtMs! > REFUND_WINDOW_MS) return rejected(domainError('hold_not_pending', 'the refund window of this capture has passed', { authorizationId: authorization.id, status: 'captured' }));
      const refundable = authorization.capturedAmount - authorization.refundedAmount;
      // The bound is on partial refunds: one of the whole rest leaves nothing to refund, so it is always taken.
      if (command.amount !== refundable && authorization.refunds.size >= REFUNDS_PER_AUTHORIZATION_MAX) {
        return rejected(validationFailed([{ field: 'refundId', reason: `more_than_${REFUNDS_PER_AUTHORIZATION_MAX}_refunds` }]));
      }
      if (command.amount <= 0n) return rejected(validationFailed([{ field: 'amount', reason: 'not_positive' }]));
      if (command.amount > refundable) return rejected(exceedsHold(authorization.id, refundable));
      return accepted({
        type: 'cards.AuthorizationRefunded.v1',
        data: { authorizationId: authorization.id, refundId: command.refundId, entryId: command.entryId, amount: command.amount.toString(), atMs },
      });
    }
    case 'ExpireAuthorization': {
      const authorization = state.authorizations.get(command.authorizationId);
      if (authorization === undefined || !holdOf(authorization, command)) return accepted(); // unknown here
      if (authorization.phase === 'requested') return accepted(holdGone(authorization, state, atMs));
      if (authorization.phase !== 'pending') return accepted(); // finished otherwise first
      return accepted({ type: 'cards.AuthorizationExpired.v1', data: { authorizationId: authorization.id, releasedAmount: authorization.heldAmount.toString(), atMs } });
    }
  }
}

function observeLedger(command: ObserveLedger, state: Card, atMs: number): CardDecision {
  const authorization = state.authorizations.get(command.authorizationId);
  if (authorization === undefined || (command.type !== 'ObserveRefundPosted' && !holdOf(authorization, command))) return accepted();
  const authorizationId = authorization.id;
  switch (command.type) {
    case 'ObserveHoldCaptured':
      if (authorization.phase !== 'pending' || command.capturedAmount + command.releasedAmount !== authorization.heldAmount) return accepted();
      return accepted({
        type: 'cards.AuthorizationCaptured.v1',
        data: { authorizationId, capturedAmount: command.capturedAmount.toString(), releasedAmount: command.releasedAmount.toString(), idempotencyKey: null, atMs },
      });
    case 'ObserveHoldReleased':
      // Released whole while requested: recovery's release, whose decline was not recorded (its answer lost, or a crash).
      if (authorization.phase === 'requested' && command.releasedAmount === authorization.heldAmount) return accepted(holdGone(authorization, state, atMs));
      // What this release released, not the ledger's rest: a later reversal may be recorded already, and its release is in neither.
      if (authorization.phase !== 'pending' || authorization.reversalLedgerKeys.includes(command.ledgerKey)) return accepted();
      if (command.releasedAmount <= 0n || command.releasedAmount > authorization.heldAmount) return accepted();
      return accepted({
        type: 'cards.AuthorizationReversed.v1',
        data: {
          authorizationId,
          releasedAmount: command.releasedAmount.toString(),
          sequence: authorization.reversalLedgerKeys.length + 1,
          idempotencyKey: null,
          ledgerKey: command.ledgerKey,
          atMs,
        },
      });
    case 'ObserveRefundPosted': {
      // Any internal service may post an entry of kind card_refund: one that pays the card's wallet nothing refunds nothing.
      const amount = command.credited.get(authorization.walletId) ?? 0n;
      if (authorization.phase !== 'captured' || authorization.refunds.has(command.refundId) || amount <= 0n || amount > authorization.capturedAmount - authorization.refundedAmount) return accepted();
      return accepted({
        type: 'cards.AuthorizationRefunded.v1',
        data: { authorizationId, refundId: command.refundId, entryId: command.entryId, amount: amount.toString(), atMs },
      });
    }
  }
}

/**
 * The decline of an authorization interrupted before its outcome was recorded whose hold the ledger
 * since released or expired: declined as recovery declines it (a retry would be approved on nothing held).
 */
function holdGone(authorization: Authorization, state: Card, atMs: number): AuthorizationDeclined {
  return declined(requestOf(authorization, atMs), state.cardId, ISSUER_RECOVERED.responseCode, ISSUER_RECOVERED.reason);
}

/** Whether a ledger hold event is of this authorization's hold: hold ids are unique per ledger shard only, so its wallet must match too. */
function holdOf(authorization: Authorization, observed: { readonly walletId: string }): boolean {
  return observed.walletId === authorization.walletId;
}

function issue(command: IssueCard, state: CardState, atMs: number): CardDecision {
  if (isCard(state)) {
    // A retry of the same issue (the card id comes from its idempotency key) changes nothing.
    if (state.ownerId === command.ownerId && state.walletId === command.walletId) return accepted();
    return rejected(domainError('idempotency_key_reuse', 'this card id was issued for another wallet or owner'));
  }
  const problems: FieldProblem[] = [];
  if (!isUuid(command.cardId)) problems.push({ field: 'cardId', reason: 'not_a_uuid' });
  if (!isValidId(command.ownerId)) problems.push({ field: 'ownerId', reason: 'required' });
  if (!isValidId(command.walletId)) problems.push({ field: 'walletId', reason: 'required' });
  if (command.label !== null && (typeof command.label !== 'string' || command.label.length > LABEL_LENGTH_MAX)) {
    problems.push({ field: 'label', reason: `not_a_string_of_at_most_${LABEL_LENGTH_MAX}` });
  }
  const controls = parseSpendingControls(command.spendingControls);
  if (!controls.ok) problems.push(...controls.problems);
  if (problems.length > 0 || !controls.ok) return rejected(validationFailed(problems));
  if (command.wallet.ownerId !== command.ownerId) return rejected(domainError('forbidden', 'the wallet is not yours'));
  if (command.wallet.status !== 'active') return rejected(domainError('wallet_not_active', `the wallet is ${command.wallet.status}`, { status: command.wallet.status }));
  if (command.cardsOfOwner >= CARDS_PER_OWNER_MAX) return rejected(domainError('limit_exceeded', `an owner may have at most ${CARDS_PER_OWNER_MAX} cards`, { limit: CARDS_PER_OWNER_MAX }));
  return accepted({
    type: 'cards.CardIssued.v1',
    data: {
      cardId: command.cardId,
      ownerId: command.ownerId,
      walletId: command.walletId,
      currency: command.wallet.currency,
      label: command.label,
      brand: command.brand,
      last4: command.last4,
      expMonth: command.expMonth,
      expYear: command.expYear,
      panFingerprint: command.panFingerprint,
      sealedPan: command.sealedPan,
      kekId: command.kekId,
      spendingControls: controls.value,
      atMs,
    },
  });
}

const STATUS_CHANGES = {
  FreezeCard: { from: ['active'], type: 'cards.CardFrozen.v1', to: 'frozen' },
  UnfreezeCard: { from: ['frozen'], type: 'cards.CardUnfrozen.v1', to: 'active' },
  CancelCard: { from: ['active', 'frozen'], type: 'cards.CardCanceled.v1', to: 'canceled' },
} as const;

function changeStatus(command: ChangeCardStatus, state: Card, atMs: number): CardDecision {
  const change = STATUS_CHANGES[command.type];
  if (isRecentChange(state, command.idempotencyKey, atMs)) return accepted(); // a retry, even after later changes: it never undoes them
  if (!(change.from as readonly string[]).includes(state.status)) return rejected(notActive(state));
  return accepted({ type: change.type, data: { idempotencyKey: command.idempotencyKey, atMs } } as CardEvent);
}

function requestAuthorization(command: RequestAuthorization, state: Card, atMs: number): CardDecision {
  if (state.authorizations.has(command.authorizationId)) return accepted(); // a retry: the first outcome answers
  const request: AuthorizationRequest = {
    authorizationId: command.authorizationId,
    amount: command.amount.toString(),
    currency: command.currency,
    merchant: command.merchant,
    atMs,
  };
  const decline = (code: IsoResponseCode, reason: string) => accepted(declined(request, state.cardId, code, reason));
  // First, before any detail is checked: a locked card's answer must not tell a right CVV or expiry from a wrong one.
  if (isCvvLocked(state, atMs)) return decline('05', 'cvv_tries_exceeded');
  const expiryMismatch = command.expMonth !== state.expMonth || command.expYear !== state.expYear;
  if (expiryMismatch || atMs > endOfExpiryMs(state.expMonth, state.expYear)) return decline('54', expiryMismatch ? 'expiry_mismatch' : 'expired_card');
  if (!command.cvvValid) return decline('N7', 'cvv_mismatch');
  if (state.status !== 'active') return decline('62', state.status === 'frozen' ? 'card_frozen' : 'card_canceled');
  const merchant = merchantProblem(state.spendingControls, command.merchant);
  if (merchant !== undefined) return decline('57', merchant);
  const limit = limitProblem(state, state.spendingControls, command.amount, atMs);
  if (limit !== undefined) return decline('61', limit);
  if (command.currency !== state.currency) return decline('05', 'currency_mismatch');
  return accepted({ type: 'cards.AuthorizationRequested.v1', data: { ...request, walletId: state.walletId, holdTimeoutMs: command.holdTimeoutMs } });
}

function limitProblem(state: Card, controls: SpendingControlsView, amount: bigint, atMs: number): string | undefined {
  const limit = (text: string | undefined) => (text === undefined ? undefined : (parseAmount(text).ok ? BigInt(text) : undefined));
  const perAuthorization = limit(controls.perAuthorization);
  if (perAuthorization !== undefined && amount > perAuthorization) return 'per_authorization_limit';
  const spent = spendAt(state, atMs);
  const daily = limit(controls.daily);
  if (daily !== undefined && spent.daily + amount > daily) return 'daily_limit';
  const monthly = limit(controls.monthly);
  if (monthly !== undefined && spent.monthly + amount > monthly) return 'monthly_limit';
  return undefined;
}

function requestOf(authorization: Authorization, atMs: number): AuthorizationRequest {
  return { authorizationId: authorization.id, amount: authorization.amount.toString(), currency: authorization.currency, merchant: authorization.merchant, atMs };
}

/** The decline of an authorization interrupted between its intent and its outcome, whose hold is released (or expired) since. */
export const ISSUER_RECOVERED = { approved: false, responseCode: '05', reason: 'issuer_recovered' } as const;

/** A decline of an authorization: on a card's stream, or (unknown PAN, `cardId` null) on the authorization's own. */
export function declined(request: AuthorizationRequest, cardId: string | null, responseCode: IsoResponseCode, reason: string): AuthorizationDeclined {
  return { type: 'cards.AuthorizationDeclined.v1', data: { ...request, cardId, responseCode, reason } };
}

export const cardDecider = { initialState, evolve, decide };
