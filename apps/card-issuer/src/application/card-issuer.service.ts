// The card-issuer application service: each command of `cards.commands` is "load, (crypto or a
// question to the ledger or identity), decide, append, reply". Business rules live in ../domain;
// here are only the I/O and the crypto the pure decider must not do. Nothing secret is logged:
// log lines name the command type and the error, never a payload (a PAN or CVV is in one).
//
// The authorization flow, per card one at a time: record the intent (AuthorizationRequested)
// BEFORE asking the ledger for the hold, then record the ledger's answer. A crash in between
// leaves a requested authorization that `recoverRequested` finishes on the next start.
import { createHash } from 'node:crypto';
import {
  commandMetaOf,
  domainError,
  EXP_YEAR_MAX,
  EXP_YEAR_MIN,
  idFromKey,
  isUuid,
  parseAmount,
  toIsoTime,
  type AuthorizationView,
  type CardCommandEnvelope,
  type CardQueryMessage,
  type Clock,
  type CommandMeta,
  type Currency,
  type DomainError,
  type HoldView,
  type IdGenerator,
  type IsoResponseCode,
  type LedgerCommandEnvelope,
  type Merchant,
  type Reply,
  type RevealedCard,
  type TransactionView,
  type WalletView,
} from '@ledger/contracts';
import { WrongExpectedVersionError, type EventStore, type ProjectionRunner } from '@ledger/event-store';
import { HOLD_TIMEOUT_MAX_MS, systemAccountId, accountShard } from '@ledger/ledger';
import type { IdentityClient, LedgerClient, LedgerRequestOptions } from '@ledger/messaging';
import type Database from 'better-sqlite3';
import type { CardIssuerConfig } from '../card-issuer.config';
import { isCard, unmatchedAuthorization, withRestored, type Authorization, type Card, type CardEvent, type CardState } from '../domain/card';
import { decide, declined, ISSUER_RECOVERED, type CaptureAuthorization, type CardCommand, type CompleteAuthorization, type CardDecision, type ExpireAuthorization, type ObserveLedger } from '../domain/card.commands';
import { AUTHORIZATION_ID_LENGTH_MAX, isAuthorizationId, isValidId, MERCHANT_NAME_LENGTH_MAX, REFUND_WINDOW_MS, validationFailed, type FieldProblem } from '../domain/limits';
import { brandOf, expiryOf, last4Of } from '../domain/pan';
import { COUNTRY_PATTERN, MCC_PATTERN } from '../domain/spending-controls';
import { authorizationView, cardView } from '../domain/views';
import { cardCountOf, cardOfAuthorization, findAuthorization, interruptedDeclines, listAuthorizations, listCards, requestedAuthorizations } from '../projections/card-issuer.projection';
import { CardCrypto } from './card-crypto';
import { CardRepository, type AuthorizationRoute, type EventOrigin, type LoadedCard } from './card-repository';

/** Tries of one command when another process appended to the same card stream in between. */
export const APPEND_ATTEMPTS_MAX = 5;
/** PANs drawn for one card before giving up (a collision among 10^8+ numbers is already rare). */
export const PAN_ATTEMPTS_MAX = 8;
/** Recovery takes an authorization requested this many upstream timeouts ago (its hold's answer, then its append): none still in flight. */
export const RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS = 2;
/** A hold unanswered this close to the requester's deadline is abandoned: no approval would reach the requester in time. */
export const REQUESTER_DEADLINE_MARGIN_MS = 250;
/** Authorizations declined as interrupted whose hold one recovery pass releases (again): the rest wait for the next pass. */
export const RELEASE_CHECKS_PER_PASS_MAX = 1_000;
/** How long a query waits for the projection to reach the store's head. */
export const QUERY_WAIT_MS = 2_000;
const PAN_PATTERN = /^[0-9]{12,19}$/;
const CVV_PATTERN = /^[0-9]{3,4}$/;
const ACTOR = 'card-issuer';

/** The ledger idempotency keys of a card's ledger commands, derived so a retry is the same command. */
export const ledgerKeys = {
  hold: (authorizationId: string) => `card-auth:${authorizationId}`,
  /** One per network request, as reversals: a capture the ledger refused must not answer the next capture with that refusal. */
  capture: (authorizationId: string, networkKey: string) => `card-capture:${authorizationId}:${sha256Hex(networkKey).slice(0, 24)}`,
  /** One per network request (its idempotency key), so a retry releases nothing twice. */
  reverse: (authorizationId: string, networkKey: string) => `card-reverse:${authorizationId}:${sha256Hex(networkKey).slice(0, 24)}`,
  recover: (authorizationId: string) => `card-recover:${authorizationId}`,
  /**
   * One per refund slot of an authorization (its refunds recorded + 1), not per refund id: a refund
   * the ledger posted but the card has not recorded holds the slot, so another refund id meets
   * idempotency_key_reuse instead of being posted on top of it (refunds beyond the capture).
   */
  refund: (authorizationId: string, sequence: number) => `card-refund-slot:${sha256Hex(authorizationId).slice(0, 40)}:${sequence}`,
};

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function refundEntryId(authorizationId: string, refundId: string): string {
  return idFromKey('cards.refund', `${authorizationId}:${refundId}`);
}

export interface CardIssuerServiceDeps {
  readonly config: CardIssuerConfig;
  readonly store: EventStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly crypto: CardCrypto;
  readonly ledger: LedgerClient;
  readonly identity: IdentityClient;
  readonly projection: ProjectionRunner;
  readonly db: Database.Database;
  readonly log?: (message: string) => void;
  /** Tests only: runs after the ledger answered and before the answer is recorded (a crash there). */
  readonly afterLedgerReply?: LedgerReplyHook;
}

export type LedgerReplyHook = (operation: 'hold' | 'capture' | 'reverse' | 'refund', authorizationId: string) => Promise<void> | void;

/** Puts an authorization that left the card's state back in a state, for one decision. */
type Restore = (state: CardState) => CardState;
type Message<T extends CardCommandEnvelope['type']> = Extract<CardCommandEnvelope, { type: T }>;
type Query<T extends CardQueryMessage['type']> = Extract<CardQueryMessage, { type: T }>;
const failed = (error: DomainError): Reply<never> => ({ ok: false, error });
const unavailable = (message: string): DomainError => domainError('unavailable', message, { retryable: true });
/** The projection is behind what a decision needs from it (a restart's catch-up, a rebuild): the caller retries. */
const catchingUp = (): DomainError => unavailable('the card-issuer is catching up with its store; retry');

export class CardIssuerService {
  private readonly cards: CardRepository;
  /**
   * The projection position through which every authorization declined as interrupted had its hold's release confirmed by
   * the ledger. In memory: each process starts over HOLD_TIMEOUT_MAX_MS back (a crash between a decline and its release).
   */
  private releasesConfirmedThrough = 0n;

  constructor(private readonly deps: CardIssuerServiceDeps) {
    this.cards = new CardRepository(deps.store, deps.ids, deps.config.CARD_CACHE_MAX);
  }

  /** One command, answered after its events are durable (or with the error it got). `request`: when its requester stops waiting. */
  execute(message: CardCommandEnvelope, request: LedgerRequestOptions = {}): Promise<Reply<unknown>> {
    return this.unavailableOnThrow(message, '', 'complete this command', () => this.route(message, request));
  }

  /** One query, from the card streams (consistent) or the projection (caught up to the store's head first). */
  query(message: CardQueryMessage): Promise<Reply<unknown>> {
    return this.unavailableOnThrow(message, 'query ', 'answer this query', () => this.routeQuery(message));
  }

  /** An unexpected failure is logged by the message's type only (a payload may hold a PAN) and answered `unavailable`. */
  private async unavailableOnThrow(message: unknown, kind: string, what: string, answer: () => Promise<Reply<unknown>>): Promise<Reply<unknown>> {
    try {
      return await answer();
    } catch (error) {
      const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
      this.deps.log?.(`card-issuer: ${kind}${String(type).slice(0, 64)} failed: ${error instanceof Error ? error.message : String(error)}`);
      return failed(unavailable(`the card-issuer could not ${what}; retry`));
    }
  }

  private async route(message: CardCommandEnvelope, request: LedgerRequestOptions): Promise<Reply<unknown>> {
    if (typeof message !== 'object' || message === null) return failed(validationFailed([{ field: 'type', reason: 'required' }]));
    const origin = commandMetaOf(message, 'card');
    if ('code' in origin) return failed(origin);
    switch (message.type) {
      case 'IssueCard':
        return this.issue(message, origin);
      case 'RevealCard':
        return this.reveal(message, origin);
      case 'FreezeCard':
      case 'UnfreezeCard':
      case 'CancelCard':
        return this.changeCard(message.cardId, origin, { type: message.type, idempotencyKey: origin.idempotencyKey });
      case 'SetSpendingControls':
        return this.changeCard(message.cardId, origin, { type: 'SetSpendingControls', spendingControls: message.spendingControls, idempotencyKey: origin.idempotencyKey });
      case 'Authorize':
        return this.authorize(message, origin, request);
      case 'CaptureAuthorization':
        return this.capture(message, origin);
      case 'ReverseAuthorization':
        return this.reverse(message, origin);
      case 'RefundAuthorization':
        return this.refund(message, origin);
      default:
        return failed(validationFailed([{ field: 'type', reason: 'unknown_command' }]));
    }
  }

  private async routeQuery(message: CardQueryMessage): Promise<Reply<unknown>> {
    if (typeof message !== 'object' || message === null) return failed(validationFailed([{ field: 'type', reason: 'required' }]));
    switch (message.type) {
      case 'GetCard': {
        if (!isUuid(message.cardId)) return failed(domainError('not_found', 'no such card'));
        const { state } = await this.cards.load(message.cardId);
        return isCard(state) ? { ok: true, value: cardView(state) } : failed(domainError('not_found', 'no such card'));
      }
      case 'ListCards':
        if (!isValidId(message.ownerId)) return failed(validationFailed([{ field: 'ownerId', reason: 'required' }]));
        await this.caughtUp();
        return { ok: true, value: { items: listCards(this.deps.db, message.ownerId) } };
      case 'GetAuthorization':
        return this.getAuthorization(message);
      case 'ListAuthorizations': {
        if (!isUuid(message.cardId)) return failed(domainError('not_found', 'no such card'));
        const limit = message.limit ?? 50;
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500) return failed(validationFailed([{ field: 'limit', reason: 'not_from_1_to_500' }]));
        await this.caughtUp();
        const page = listAuthorizations(this.deps.db, message.cardId, limit, message.cursor);
        return page === undefined ? failed(validationFailed([{ field: 'cursor', reason: 'invalid_cursor' }])) : { ok: true, value: page };
      }
      default:
        return failed(validationFailed([{ field: 'type', reason: 'unknown_query' }]));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Cards.

  async issue(message: Message<'IssueCard'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const { cardId } = message;
    if (typeof cardId !== 'string') return failed(validationFailed([{ field: 'cardId', reason: 'not_a_uuid' }]));
    return this.cards.withLock(cardId, async () => {
      const existing = await this.cards.load(cardId);
      // The decider's checks of the input (and of a retry) before the ledger is asked: a wallet as the caller's, active.
      const checked = decide(this.issueCommand(message, { currency: '', status: 'active', ownerId: message.ownerId }, 0, null), existing.state, this.context());
      if (!checked.ok) return failed(checked.error);
      if (isCard(existing.state)) return { ok: true, value: cardView(existing.state) };
      // Consistent, not `eventual`: a wallet frozen a moment ago must not get a new card.
      const wallet = await this.deps.ledger.query<WalletView>({ type: 'GetWallet', walletId: message.walletId });
      if (!wallet.ok) return failed(wallet.error.code === 'not_found' ? domainError('not_found', 'no such wallet') : wallet.error);
      const walletFacts = { currency: wallet.value.currency, status: wallet.value.status, ownerId: wallet.value.ownerId };
      // One owner's new cards one at a time, each counting the cards the projection shows once caught up.
      return this.cards.withLock(`owner:${message.ownerId}`, async () => {
        // Counted on a projection behind the store (a restart's catch-up, a rebuild), the owner's cards could pass the bound for good.
        if (!(await this.caughtUp())) return failed(catchingUp());
        const cardsOfOwner = cardCountOf(this.deps.db, message.ownerId);
        // The decider's refusals (owner, status, how many cards) come before a PAN is drawn and reserved.
        const precheck = decide(this.issueCommand(message, walletFacts, cardsOfOwner, null), existing.state, this.context());
        if (!precheck.ok) return failed(precheck.error);
        const nowMs = this.deps.clock.nowMs();
        const pan = await allocateUniquePan({
          draw: () => this.deps.crypto.newPan(this.deps.config.CARD_BIN),
          fingerprint: (candidate) => this.deps.crypto.fingerprint(candidate),
          reserve: (fingerprint) => this.cards.reservePan(fingerprint, cardId, origin, nowMs),
        });
        if (pan === undefined) return failed(unavailable('could not draw an unused card number; retry'));
        const sealed = this.deps.crypto.sealPan(pan.pan, cardId);
        const command = this.issueCommand(message, walletFacts, cardsOfOwner, { ...sealed, panFingerprint: pan.fingerprint, last4: last4Of(pan.pan), nowMs });
        const outcome = await this.decideAndAppend(cardId, origin, () => command);
        if (!outcome.ok) return failed(outcome.error);
        return { ok: true, value: cardView(outcome.state as Card) };
      });
    });
  }

  private issueCommand(
    message: Message<'IssueCard'>,
    wallet: { currency: string; status: string; ownerId: string },
    cardsOfOwner: number,
    pan: { sealedPan: string; kekId: string; panFingerprint: string; last4: string; nowMs: number } | null,
  ): CardCommand {
    const expiry = expiryOf(pan?.nowMs ?? this.deps.clock.nowMs(), this.deps.config.CARD_VALIDITY_MONTHS);
    return {
      type: 'IssueCard',
      cardId: message.cardId,
      ownerId: message.ownerId,
      walletId: message.walletId,
      wallet,
      cardsOfOwner,
      label: message.label ?? null,
      spendingControls: message.spendingControls,
      brand: brandOf(this.deps.config.CARD_BIN),
      last4: pan?.last4 ?? '0000',
      ...expiry,
      panFingerprint: pan?.panFingerprint ?? '',
      sealedPan: pan?.sealedPan ?? '',
      kekId: pan?.kekId ?? '',
    };
  }

  async reveal(message: Message<'RevealCard'>, origin: EventOrigin): Promise<Reply<unknown>> {
    if (!isUuid(message.cardId)) return failed(domainError('not_found', 'no such card'));
    if (!isValidId(message.userId)) return failed(validationFailed([{ field: 'userId', reason: 'required' }]));
    const { state } = await this.cards.load(message.cardId);
    // Who may ask at all is decided before identity is asked anything.
    const allowed = decide({ type: 'RevealCard', userId: message.userId, stepUpVerified: true }, state, this.context());
    if (!allowed.ok) return failed(allowed.error);
    const stepUpVerified = await this.verifyStepUp(message, origin);
    if (typeof stepUpVerified !== 'boolean') return failed(stepUpVerified);
    const outcome = await this.cards.withLock(message.cardId, () =>
      this.decideAndAppend(message.cardId, origin, () => ({ type: 'RevealCard', userId: message.userId, stepUpVerified })),
    );
    if (!outcome.ok) return failed(outcome.error);
    const card = outcome.state as Card;
    const pan = this.deps.crypto.openPan(card.sealedPan, card.cardId);
    const revealed: RevealedCard = { pan, cvv: this.deps.crypto.cvv(pan, card.expMonth, card.expYear), expMonth: card.expMonth, expYear: card.expYear };
    return { ok: true, value: revealed };
  }

  /** Identity checks the password or TOTP code; only `unavailable` is passed on, every other refusal is `step_up_required`. */
  private async verifyStepUp(message: Message<'RevealCard'>, origin: EventOrigin): Promise<boolean | DomainError> {
    const password = typeof message.password === 'string' && message.password !== '' ? message.password : undefined;
    const totp = typeof message.totp === 'string' && message.totp !== '' ? message.totp : undefined;
    if (password === undefined && totp === undefined) return false;
    const attemptKey = `card-reveal:${sha256Hex(`${message.cardId}\u0000${origin.idempotencyKey}`).slice(0, 48)}`;
    const reply = await this.deps.identity.command({
      type: 'VerifyStepUp',
      userId: message.userId,
      ...(password === undefined ? {} : { password }),
      ...(totp === undefined ? {} : { totp }),
      meta: commandMeta(attemptKey, origin),
    });
    if (reply.ok) return true;
    return reply.error.code === 'unavailable' ? reply.error : false;
  }

  private async changeCard(cardId: string, origin: EventOrigin, command: CardCommand): Promise<Reply<unknown>> {
    if (!isUuid(cardId)) return failed(domainError('not_found', 'no such card'));
    const outcome = await this.cards.withLock(cardId, () => this.decideAndAppend(cardId, origin, () => command));
    return outcome.ok ? { ok: true, value: cardView(outcome.state as Card) } : failed(outcome.error);
  }

  // -------------------------------------------------------------------------------------------
  // Authorizations.

  async authorize(message: Message<'Authorize'>, origin: EventOrigin, request: LedgerRequestOptions = {}): Promise<Reply<unknown>> {
    const problems = authorizeProblems(message);
    if (problems.length > 0) return failed(validationFailed(problems));
    const amount = BigInt(message.amount);
    const nowMs = this.deps.clock.nowMs();
    const fingerprint = this.deps.crypto.fingerprint(message.pan);
    const unmatched = async () => {
      // An id a card's authorization has answers as that one: recorded as this decline, it would route its capture, reversal and refund here.
      // Not found while the projection is behind (a restart's catch-up, a rebuild) is no answer: unavailable, retried.
      const known = await this.routeOf(message.authorizationId, { throwWhenBehind: true });
      if (known !== undefined) return this.answerFromRoute(message.authorizationId, known);
      // 14: no card has this PAN (or its issue never completed). Recorded on the authorization's own stream.
      const request = { authorizationId: message.authorizationId, amount: amount.toString(), currency: message.currency, merchant: merchantOf(message.merchant), atMs: nowMs };
      const route = await this.cards.recordUnmatched(message.authorizationId, declined(request, null, '14', 'unknown_card'), origin, nowMs);
      return this.answerFromRoute(message.authorizationId, route);
    };
    const cardId = await this.cards.panOwner(fingerprint);
    if (cardId === undefined) return unmatched();
    // An id already known here for an unknown PAN or another card answers as that one (the ledger
    // would refuse a second hold of the id anyway: holdId = authorization id).
    const known = await this.cards.route(message.authorizationId);
    if (known !== undefined && known.cardId !== cardId) return this.answerFromRoute(message.authorizationId, known);
    return this.cards.withLock(cardId, async () => {
      // Loaded once, under the lock: the decision below starts from it.
      const card = await this.cards.load(cardId);
      if (!isCard(card.state) || card.state.panFingerprint !== fingerprint) return unmatched();
      // An id decided long ago has left the card's state (retention): its first outcome answers, never a second decision and hold.
      if (!card.state.authorizations.has(message.authorizationId)) {
        const decided = await this.decidedBefore(card, message.authorizationId);
        if (decided !== undefined) return decided;
      }
      const outcome = await this.decideAndAppend(cardId, origin, (state) => {
        if (!isCard(state)) throw new Error(`card ${cardId} vanished`);
        return {
          type: 'RequestAuthorization',
          authorizationId: message.authorizationId,
          amount,
          currency: message.currency,
          merchant: merchantOf(message.merchant),
          expMonth: message.expMonth,
          expYear: message.expYear,
          cvvValid: this.deps.crypto.cvvMatches(message.pan, state.expMonth, state.expYear, message.cvv),
          holdTimeoutMs: this.deps.config.CARD_HOLD_TIMEOUT_MS === 0 ? null : this.deps.config.CARD_HOLD_TIMEOUT_MS,
        };
      }, card);
      if (!outcome.ok) return failed(outcome.error);
      this.cards.noteRoute(message.authorizationId, { cardId });
      const authorization = (outcome.state as Card).authorizations.get(message.authorizationId);
      if (authorization === undefined) return this.answerFromProjection(message.authorizationId); // finished long ago and pruned
      if (authorization.phase !== 'requested') return { ok: true, value: authorizationView(cardId, authorization) };
      const status = (outcome.state as Card).status;
      // Requested while active, interrupted before its outcome, and the card frozen or canceled since: no approval now.
      if (status !== 'active') return this.declineInterrupted(cardId, authorization, origin, outcome.loaded, { approved: false, responseCode: '62', reason: status === 'frozen' ? 'card_frozen' : 'card_canceled' });
      return this.placeHold(cardId, authorization, origin, outcome.loaded, request);
    });
  }

  /**
   * The answer of an authorization id the card's state does not hold: its first outcome when the projection shows one
   * (it left the state), undefined when it is new. Only a projection applied through the card's last event can tell:
   * one behind it (a restart's catch-up, a rebuild) would have the id decided a second time.
   */
  private async decidedBefore(card: LoadedCard, authorizationId: string): Promise<Reply<unknown> | undefined> {
    const caughtUp = await this.projectedThrough(card);
    const decided = findAuthorization(this.deps.db, authorizationId);
    if (decided !== undefined) return { ok: true, value: decided };
    return caughtUp ? undefined : failed(catchingUp());
  }

  /**
   * Asks the ledger for the hold of a requested authorization and records its answer. Runs under
   * the card's lock, so the answer is decided on the card as this process last wrote it (`written`).
   */
  private async placeHold(cardId: string, authorization: Authorization, origin: EventOrigin, written: LoadedCard, request: LedgerRequestOptions): Promise<Reply<unknown>> {
    // Not past the network's deadline: an answer it no longer waits for would hold money it was told is not held (recovery releases it instead).
    const reply = await this.sendPlaceHold(authorization, origin, request).catch((error: unknown): Reply<HoldView> => {
      if (!requesterGaveUp(request)) throw error;
      return failed(unavailable('the ledger did not answer before the requester gave up'));
    });
    if (!reply.ok && reply.error.code === 'unavailable') {
      // Nobody waits for this answer any more: left requested, it would count against the card's limits (and its hold against the wallet)
      // until recovery, declining the network's retry under a new key. Finished now as recovery finishes it.
      if (requesterGaveUp(request)) return this.declineInterrupted(cardId, authorization, origin, written, ISSUER_RECOVERED);
      return failed(reply.error); // unknown outcome: a retry (or the next start) finishes it
    }
    await this.deps.afterLedgerReply?.('hold', authorization.id);
    // The hold exists: a first try placed it, and the ledger has forgotten that try's key (past its window). Declined and released, as recovery does.
    if (!reply.ok && reply.error.details?.reason === 'hold_exists') return this.declineInterrupted(cardId, authorization, origin, written, ISSUER_RECOVERED, reply);
    const outcome = await this.decideAndAppend(
      cardId,
      origin,
      () => ({ type: 'CompleteAuthorization', authorizationId: authorization.id, outcome: reply.ok ? { approved: true } : { approved: false, ...declineOfLedgerError(reply.error) } }),
      written,
    );
    if (!outcome.ok) return failed(outcome.error);
    return this.viewOf(cardId, outcome.state, authorization.id);
  }

  /** Declines an interrupted authorization (card no longer active, or abandoned by its requester), with whatever hold its first try placed released. */
  private async declineInterrupted(
    cardId: string,
    authorization: Authorization,
    origin: EventOrigin,
    written: LoadedCard,
    decline: CompleteAuthorization['outcome'],
    placed?: Reply<HoldView>,
  ): Promise<Reply<unknown>> {
    const outcome = await this.finishInterrupted(cardId, authorization, origin, written, decline, placed);
    if (!outcome.ok) return failed(outcome.error);
    return this.viewOf(cardId, outcome.state, authorization.id);
  }

  /**
   * Declines an authorization interrupted before its outcome, then releases its hold. The hold is placed
   * under its own key first (`placed`: the ledger answered that already), so a try still in flight cannot
   * land after the release. The decline is appended before the release, expecting the card's revision:
   * another process's approval of a retry is then either recorded first (and nothing is released) or
   * refused by it; released first, that approval would stand on a hold the ledger no longer has.
   */
  private async finishInterrupted(
    cardId: string,
    authorization: Authorization,
    origin: EventOrigin,
    written: LoadedCard | undefined,
    decline: CompleteAuthorization['outcome'],
    placed?: Reply<HoldView>,
  ): Promise<{ ok: true; state: CardState; released: boolean } | { ok: false; error: DomainError }> {
    const hold = placed ?? (await this.sendPlaceHold(authorization, origin));
    if (!hold.ok && hold.error.code === 'unavailable') return { ok: false, error: unavailable('the authorization could not be finished; retry') };
    const outcome = await this.decideAndAppend(cardId, origin, () => ({ type: 'CompleteAuthorization', authorizationId: authorization.id, outcome: decline }), written);
    if (!outcome.ok) return outcome;
    // Answered already (approved or declined elsewhere): that answer's process owns the hold.
    if (outcome.events.length === 0) return { ok: true, state: outcome.state, released: true };
    // Released even when the hold is refused now: past the ledger's idempotency window the first try's hold is still pending (hold_exists).
    // Unanswered, it is owed: the durable decline makes every recovery pass (of any process) send it again.
    const released = (await this.releaseOrphanHold(authorization)) === 'released';
    return { ok: true, state: outcome.state, released };
  }

  private sendPlaceHold(authorization: Authorization, origin: EventOrigin, request: LedgerRequestOptions = {}): Promise<Reply<HoldView>> {
    const hold: LedgerCommandEnvelope = {
      type: 'PlaceHold',
      holdId: authorization.id,
      walletId: authorization.walletId,
      amount: authorization.amount.toString(),
      ...(authorization.holdTimeoutMs === null ? {} : { timeoutMs: authorization.holdTimeoutMs }),
      reference: authorization.id,
      meta: commandMeta(ledgerKeys.hold(authorization.id), origin),
    };
    return this.deps.ledger.command<HoldView>(hold, request);
  }

  async capture(message: Message<'CaptureAuthorization'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const amount = parseAmount(message.amount);
    if (!isValidId(message.authorizationId)) return failed(validationFailed([{ field: 'authorizationId', reason: 'required' }]));
    if (!amount.ok) return failed(validationFailed([{ field: 'amount', reason: amount.error }]));
    return this.onAuthorization(message.authorizationId, async (cardId, loaded) => {
      const command: CaptureAuthorization = { type: 'CaptureAuthorization', authorizationId: message.authorizationId, amount: amount.amount, idempotencyKey: origin.idempotencyKey };
      const known = isCard(loaded.state) ? loaded.state.authorizations.get(message.authorizationId) : undefined;
      const captureHold = (authorization: Authorization) =>
        this.deps.ledger.command({
          type: 'CaptureHold',
          holdId: authorization.id,
          walletId: authorization.walletId,
          amount: amount.amount.toString(),
          meta: commandMeta(ledgerKeys.capture(authorization.id, origin.idempotencyKey), origin),
        });
      if (known?.phase === 'captured' && known.captureKey === null) {
        // Captured at the ledger under a key the card never learnt: only the ledger tells this capture's retry (replayed) from another capture (refused).
        const replayed = await captureHold(known);
        if (!replayed.ok && replayed.error.code === 'unavailable') return failed(replayed.error);
        return this.recordAndView(cardId, origin, { ...command, replayedByLedger: replayed.ok }, message.authorizationId);
      }
      const decision = decide(command, loaded.state, this.context());
      if (!decision.ok) return failed(decision.error);
      if (decision.events.length > 0) {
        const authorization = known!;
        const reply = await captureHold(authorization);
        if (!reply.ok) return failed(behindTheLedger(reply.error));
        await this.deps.afterLedgerReply?.('capture', authorization.id);
        // The ledger took this key's capture: one learnt from ledger.events meanwhile (another process) is this one.
        return this.recordAndView(cardId, origin, { ...command, replayedByLedger: true }, message.authorizationId);
      }
      return this.recordAndView(cardId, origin, command, message.authorizationId);
    });
  }

  async reverse(message: Message<'ReverseAuthorization'>, origin: EventOrigin): Promise<Reply<unknown>> {
    if (!isValidId(message.authorizationId)) return failed(validationFailed([{ field: 'authorizationId', reason: 'required' }]));
    const amount = message.amount === undefined ? undefined : parseAmount(message.amount);
    if (amount !== undefined && !amount.ok) return failed(validationFailed([{ field: 'amount', reason: amount.error }]));
    return this.onAuthorization(message.authorizationId, async (cardId, loaded) => {
      const command: Extract<CardCommand, { type: 'ReverseAuthorization' }> = {
        type: 'ReverseAuthorization',
        authorizationId: message.authorizationId,
        amount: amount?.amount,
        idempotencyKey: origin.idempotencyKey,
        ledgerKey: ledgerKeys.reverse(message.authorizationId, origin.idempotencyKey),
      };
      const decision = decide(command, loaded.state, this.context());
      if (!decision.ok) return failed(decision.error);
      const [event] = decision.events;
      if (event?.type !== 'cards.AuthorizationReversed.v1') return this.recordAndView(cardId, origin, command, message.authorizationId);
      const authorization = (loaded.state as Card).authorizations.get(message.authorizationId)!;
      // A whole reversal asks the ledger for the rest of its hold, not for what the card holds: the two differ
      // while a release the card has not recorded is on its way, and that amount would exceed the ledger's rest.
      const reply = await this.deps.ledger.command<HoldView>({
        type: 'ReleaseHold',
        holdId: authorization.id,
        walletId: authorization.walletId,
        ...(command.amount === undefined ? {} : { amount: event.data.releasedAmount }),
        meta: commandMeta(event.data.ledgerKey, origin),
      });
      if (!reply.ok) return failed(behindTheLedger(reply.error));
      await this.deps.afterLedgerReply?.('reverse', authorization.id);
      const released = BigInt(reply.value.releasedAmount);
      const recorded = await this.recordAndView(cardId, origin, { ...command, amount: released }, message.authorizationId);
      // Less than the card held: the rest went in that unrecorded release, which ledger.events brings; the retry gets the card's answer then.
      if (recorded.ok && released !== BigInt(event.data.releasedAmount)) return failed(unavailable('part of the hold was released at the ledger and is being recorded; retry'));
      return recorded;
    });
  }

  async refund(message: Message<'RefundAuthorization'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const problems: FieldProblem[] = [];
    if (!isValidId(message.authorizationId)) problems.push({ field: 'authorizationId', reason: 'required' });
    // Well-formed but longer than any authorization's: no such authorization, as a capture or reversal naming it answers.
    else if (!isAuthorizationId(message.authorizationId)) return failed(domainError('not_found', 'no such authorization'));
    if (!isAuthorizationId(message.refundId)) problems.push({ field: 'refundId', reason: `not_1_to_${AUTHORIZATION_ID_LENGTH_MAX}_characters` });
    const amount = parseAmount(message.amount);
    if (!amount.ok) problems.push({ field: 'amount', reason: amount.error });
    if (problems.length > 0 || !amount.ok) return failed(validationFailed(problems));
    const entryId = refundEntryId(message.authorizationId, message.refundId);
    return this.onAuthorization(message.authorizationId, async (cardId, loaded, restore) => {
      const command: CardCommand = { type: 'RefundAuthorization', authorizationId: message.authorizationId, refundId: message.refundId, entryId, amount: amount.amount };
      const decision = decide(command, loaded.state, this.context());
      if (!decision.ok) return failed(decision.error);
      const card = loaded.state as Card;
      if (decision.events.length > 0) {
        const clearing = systemAccountId('card-clearing', card.currency as Currency, accountShard(card.walletId, this.deps.config.LEDGER_SHARDS));
        const value = amount.amount.toString();
        const reply = await this.deps.ledger.command<TransactionView>({
          type: 'PostEntry',
          entryId,
          kind: 'card_refund',
          postings: [
            { accountId: clearing, side: 'debit', amount: value, currency: card.currency },
            { accountId: card.walletId, side: 'credit', amount: value, currency: card.currency },
          ],
          references: { authorizationId: message.authorizationId, refundId: message.refundId, cardId },
          meta: commandMeta(ledgerKeys.refund(message.authorizationId, card.authorizations.get(message.authorizationId)!.refunds.size + 1), origin),
        });
        // The slot holds a refund the ledger posted and ledger.events has not brought to the card yet, or one it refused.
        if (!reply.ok && reply.error.code === 'idempotency_key_reuse') return failed(await this.slotTaken(card.walletId));
        if (!reply.ok) return failed(reply.error);
        await this.deps.afterLedgerReply?.('refund', message.authorizationId);
      }
      const outcome = await this.decideAndAppend(cardId, origin, () => command, undefined, restore);
      if (!outcome.ok) return failed(outcome.error);
      const refund = (outcome.state as Card).authorizations.get(message.authorizationId)?.refunds.get(message.refundId);
      if (refund === undefined) throw new Error(`refund ${message.refundId} was not recorded`);
      const transaction: TransactionView = {
        id: refund.entryId,
        kind: 'card_refund',
        status: 'posted',
        amount: refund.amount.toString(),
        currency: card.currency,
        toWalletId: card.walletId,
        createdAt: toIsoTime(refund.atMs),
      };
      return { ok: true, value: transaction };
    }, { refundable: true });
  }

  /**
   * The answer to a refund whose slot another refund id holds at the ledger. A closed wallet (terminal) takes no
   * refund, whatever holds the slot: the ledger refused the slot's refund for it, so no retry would ever free it.
   */
  private async slotTaken(walletId: string): Promise<DomainError> {
    const wallet = await this.deps.ledger.query<WalletView>({ type: 'GetWallet', walletId });
    if (wallet.ok && wallet.value.status === 'closed') return domainError('wallet_not_active', 'the wallet is closed', { accountId: walletId, status: 'closed' });
    return unavailable('an earlier refund of this authorization is still being recorded; retry');
  }

  /**
   * An event of `ledger.events`. A hold of ours expired: the authorization is expired. A hold
   * captured or released, or a refund posted, that the card does not know of yet (the issuer
   * stopped between the ledger's answer and its own event, and nobody retried): recorded now.
   * Everything else, and anything the card already knows, changes nothing.
   */
  async ledgerEvent(event: { readonly eventId: string; readonly type: string; readonly data: unknown }): Promise<void> {
    const command = observationOf(event.type, event.data as Record<string, unknown>);
    if (command === undefined) return;
    // Unknown to a projection still behind (a restart's catch-up) throws: the bus delivers it again instead of it being marked processed.
    const route = await this.routeOf(command.authorizationId, { throwWhenBehind: true });
    if (route === undefined || route.cardId === null) return;
    const cardId = route.cardId;
    const origin: EventOrigin = { idempotencyKey: `ledger-event:${event.eventId}`, actor: ACTOR, correlationId: event.eventId };
    await this.cards.withLock(cardId, async () => {
      // A refund posted of a capture that left the card's state is recorded on it restored, as a refund asked here is.
      const loaded = command.type === 'ObserveRefundPosted' ? await this.cards.load(cardId) : undefined;
      if (loaded !== undefined && isCard(loaded.state) && !loaded.state.authorizations.has(command.authorizationId) && !(await this.projectedThrough(loaded))) {
        throw new Error('the card projection is behind the card; retry'); // delivered again, not marked processed unrecorded
      }
      const restore = loaded === undefined ? undefined : await this.restoreOf(cardId, loaded, command.authorizationId);
      return this.decideAndAppend(cardId, origin, () => command, undefined, restore);
    });
  }

  /**
   * Finishes every authorization whose hold was asked for but whose answer was never recorded
   * (a crash in between). Nobody waits for those answers any more, so a hold the ledger placed is
   * released and the authorization is recorded as declined (05, `issuer_recovered`). The same
   * idempotency key makes the ledger answer the first outcome, so no orphan hold remains.
   */
  async recoverRequested(): Promise<{ recovered: number; left: number }> {
    await this.caughtUp();
    let recovered = 0;
    let left = await this.releaseOwed();
    for (const { authorizationId, cardId } of requestedAuthorizations(this.deps.db)) {
      const done = await this.cards.withLock(cardId, () => this.recoverOne(cardId, authorizationId)).catch((error: unknown) => {
        // A ledger that did not answer in time (or a store error) leaves this one for the next pass; the rest, and the start, go on.
        this.deps.log?.(`card-issuer: recovering authorization ${authorizationId} failed: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      });
      if (done) recovered++;
      else left++;
    }
    return { recovered, left };
  }

  private async recoverOne(cardId: string, authorizationId: string): Promise<boolean> {
    const loaded = await this.cards.load(cardId);
    const { state } = loaded;
    const authorization = isCard(state) ? state.authorizations.get(authorizationId) : undefined;
    if (authorization === undefined || authorization.phase !== 'requested') return true;
    // The card's lock is per process: another issuer process may still be waiting for this hold's answer, and then records it.
    if (this.deps.clock.nowMs() - authorization.createdAtMs < RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * this.deps.config.CARD_UPSTREAM_TIMEOUT_MS) return false;
    const origin: EventOrigin = { idempotencyKey: ledgerKeys.recover(authorizationId), actor: ACTOR };
    const finished = await this.finishInterrupted(cardId, authorization, origin, loaded, ISSUER_RECOVERED);
    return finished.ok && finished.released; // a release owed is left for the next pass
  }

  /**
   * Releases the holds of authorizations declined as interrupted since the last pass (the ledger answers a release done
   * already by its key, or hold_not_pending), at most RELEASE_CHECKS_PER_PASS_MAX; the scan stops at the first unanswered
   * one, left for the next pass. A decline is durable, so a crash between it and its release loses no release. Returns how many are left.
   */
  private async releaseOwed(): Promise<number> {
    const sinceMs = Math.max(0, this.deps.clock.nowMs() - HOLD_TIMEOUT_MAX_MS); // every older hold has expired at the ledger
    const owed = interruptedDeclines(this.deps.db, this.releasesConfirmedThrough, sinceMs, RELEASE_CHECKS_PER_PASS_MAX);
    for (const [index, declined] of owed.entries()) {
      // A refusal no retry changes (logged) is passed over: it must not stop the scan for the holds behind it.
      if ((await this.releaseOrphanHold({ id: declined.authorizationId, walletId: declined.walletId })) === 'unanswered') return owed.length - index;
      // Every one of this pass up to here is released: two passes at once only ever move it to such a position.
      if (declined.position > this.releasesConfirmedThrough) this.releasesConfirmedThrough = declined.position;
    }
    return 0;
  }

  /**
   * Releases whatever the hold of a requested authorization still holds: 'released' when nothing is left held (none, or
   * finished already), 'unanswered' when the ledger did not answer (a retry may), 'refused' otherwise (logged).
   */
  private async releaseOrphanHold(authorization: Pick<Authorization, 'id' | 'walletId'>): Promise<'released' | 'refused' | 'unanswered'> {
    const origin: EventOrigin = { idempotencyKey: ledgerKeys.recover(authorization.id), actor: ACTOR };
    const released = await this.deps.ledger
      .command({ type: 'ReleaseHold', holdId: authorization.id, walletId: authorization.walletId, meta: commandMeta(ledgerKeys.recover(authorization.id), origin) })
      .catch((error: unknown): Reply<never> => failed(unavailable(error instanceof Error ? error.message : String(error))));
    if (released.ok || released.error.code === 'hold_not_pending' || released.error.code === 'not_found') return 'released';
    this.deps.log?.(`card-issuer: releasing the hold of authorization ${authorization.id} failed with ${released.error.code}`);
    return released.error.code === 'unavailable' ? 'unanswered' : 'refused';
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing.

  /**
   * Runs `work` under the lock of the card an authorization belongs to; not_found when it has none. `refundable`:
   * a capture that left the card's state (CAPTURED_AUTHORIZATIONS_KEPT_MAX newer ones) is restored from its events.
   */
  private async onAuthorization(
    authorizationId: string,
    work: (cardId: string, loaded: LoadedCard, restore: Restore | undefined) => Promise<Reply<unknown>>,
    options: { refundable?: boolean } = {},
  ): Promise<Reply<unknown>> {
    const route = await this.routeOf(authorizationId);
    if (route === undefined) return failed(domainError('not_found', 'no such authorization'));
    if (route.cardId === null) return failed(domainError('hold_not_pending', 'the authorization was declined', { authorizationId, status: 'declined' }));
    const cardId = route.cardId;
    return this.cards.withLock(cardId, async () => {
      const loaded = await this.cards.load(cardId);
      // One that left the card's state is known only to the projection: behind the card, it cannot tell a capture to refund from a finished one.
      if (isCard(loaded.state) && !loaded.state.authorizations.has(authorizationId) && !(await this.projectedThrough(loaded))) {
        return failed(catchingUp());
      }
      const restore = options.refundable === true ? await this.restoreOf(cardId, loaded, authorizationId) : undefined;
      if (restore !== undefined) return work(cardId, { ...loaded, state: restore(loaded.state) }, restore);
      if (isCard(loaded.state) && !loaded.state.authorizations.has(authorizationId)) {
        const finished = findAuthorization(this.deps.db, authorizationId);
        return failed(domainError('hold_not_pending', `the authorization is ${finished?.status ?? 'finished'}`, { authorizationId }));
      }
      return work(cardId, loaded, undefined);
    });
  }

  /** Of a capture still refundable that left the card's state: what puts it back for a decision; undefined otherwise. */
  private async restoreOf(cardId: string, loaded: LoadedCard, authorizationId: string): Promise<Restore | undefined> {
    if (!isCard(loaded.state) || loaded.state.authorizations.has(authorizationId)) return undefined;
    // The card's whole stream is read only for a capture: a refund naming a declined or reversed one must not cost that.
    if (findAuthorization(this.deps.db, authorizationId)?.status !== 'captured') return undefined;
    const past = await this.cards.authorizationFromHistory(cardId, authorizationId);
    if (past?.phase !== 'captured' || this.deps.clock.nowMs() - past.finishedAtMs! > REFUND_WINDOW_MS) return undefined;
    return (state) => withRestored(state, past);
  }

  private async recordAndView(cardId: string, origin: EventOrigin, command: CardCommand, authorizationId: string): Promise<Reply<unknown>> {
    const outcome = await this.decideAndAppend(cardId, origin, () => command);
    if (!outcome.ok) return failed(outcome.error);
    return this.viewOf(cardId, outcome.state, authorizationId);
  }

  private viewOf(cardId: string, state: CardState, authorizationId: string): Reply<unknown> {
    const authorization = isCard(state) ? state.authorizations.get(authorizationId) : undefined;
    if (authorization === undefined) throw new Error(`authorization ${authorizationId} is not on card ${cardId}`);
    return { ok: true, value: authorizationView(cardId, authorization) };
  }

  /**
   * Load, decide, append; on a concurrent append elsewhere, again (at most APPEND_ATTEMPTS_MAX
   * times). `current`: the card as just loaded or written under this lock, for the first try (a
   * stale one only costs that try: the append expects its revision).
   */
  private async decideAndAppend(
    cardId: string,
    origin: EventOrigin,
    commandOf: (state: CardState) => CardCommand,
    current?: LoadedCard,
    restore?: Restore,
  ): Promise<{ ok: true; state: CardState; loaded: LoadedCard; events: CardEvent[] } | { ok: false; error: DomainError }> {
    for (let attempt = 1; ; attempt++) {
      const read = attempt === 1 && current !== undefined ? current : await this.cards.load(cardId);
      const loaded = restore === undefined ? read : { ...read, state: restore(read.state) };
      const nowMs = this.deps.clock.nowMs();
      const decision: CardDecision = decide(commandOf(loaded.state), loaded.state, { nowMs });
      if (!decision.ok) return decision;
      if (decision.events.length === 0) return { ok: true, state: loaded.state, loaded, events: [] };
      try {
        const appended = await this.cards.append(cardId, loaded, decision.events, origin, nowMs);
        return { ok: true, state: appended.state, loaded: appended, events: decision.events };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || attempt >= APPEND_ATTEMPTS_MAX) throw error;
      }
    }
  }

  private async getAuthorization(message: Query<'GetAuthorization'>): Promise<Reply<unknown>> {
    if (!isValidId(message.authorizationId)) return failed(domainError('not_found', 'no such authorization'));
    const route = await this.routeOf(message.authorizationId);
    if (route === undefined) return failed(domainError('not_found', 'no such authorization'));
    return this.answerFromRoute(message.authorizationId, route);
  }

  /** Which card an authorization belongs to: remembered, an unmatched PAN's decline, or the projection (caught up first). */
  private async routeOf(authorizationId: string, options: { throwWhenBehind?: boolean } = {}): Promise<AuthorizationRoute | undefined> {
    const known = await this.cards.route(authorizationId);
    if (known !== undefined) return known;
    const caughtUp = await this.caughtUp();
    const cardId = cardOfAuthorization(this.deps.db, authorizationId);
    if (cardId === undefined && !caughtUp && options.throwWhenBehind === true) throw new Error('the card projection is behind the store; retry');
    if (cardId === undefined) return undefined;
    const route = { cardId };
    this.cards.noteRoute(authorizationId, route);
    return route;
  }

  private async answerFromRoute(authorizationId: string, route: AuthorizationRoute): Promise<Reply<unknown>> {
    if (route.cardId === null) return { ok: true, value: authorizationView(null, unmatchedAuthorization(route.declined)) };
    const { state } = await this.cards.load(route.cardId);
    const authorization = isCard(state) ? state.authorizations.get(authorizationId) : undefined;
    if (authorization !== undefined) return { ok: true, value: authorizationView(route.cardId, authorization) };
    return this.answerFromProjection(authorizationId);
  }

  private async answerFromProjection(authorizationId: string): Promise<Reply<unknown>> {
    await this.caughtUp();
    const view: AuthorizationView | undefined = findAuthorization(this.deps.db, authorizationId);
    return view === undefined ? failed(domainError('not_found', 'no such authorization')) : { ok: true, value: view };
  }

  /** Whether the projection applied the card's last event (within QUERY_WAIT_MS): only then does it know every authorization that left the card's state. */
  private async projectedThrough(card: LoadedCard): Promise<boolean> {
    return this.deps.projection.processedThrough() >= card.position || this.deps.projection.waitUntil(card.position, QUERY_WAIT_MS);
  }

  /** Whether the projection reached the store's head within QUERY_WAIT_MS (queries answer from it either way). */
  private async caughtUp(): Promise<boolean> {
    return this.deps.projection.waitUntil(await this.deps.store.headPosition(), QUERY_WAIT_MS);
  }

  private context() {
    return { nowMs: this.deps.clock.nowMs() };
  }
}

/** Draws PANs until one is reserved for the card; a collision (the reservation exists) draws again. */
export async function allocateUniquePan(options: {
  draw: () => string;
  fingerprint: (pan: string) => string;
  reserve: (fingerprint: string) => Promise<boolean>;
  attemptsMax?: number;
}): Promise<{ pan: string; fingerprint: string } | undefined> {
  const attemptsMax = options.attemptsMax ?? PAN_ATTEMPTS_MAX;
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    const pan = options.draw();
    const fingerprint = options.fingerprint(pan);
    if (await options.reserve(fingerprint)) return { pan, fingerprint };
  }
  return undefined;
}

/** Whether a ledger event may concern a card (a hold's end, a card refund); the rest need no look-up nor dedup record. */
export function observesLedgerEvent(event: { readonly type: string; readonly data: unknown }): boolean {
  return typeof event.data === 'object' && event.data !== null && observationOf(event.type, event.data as Record<string, unknown>) !== undefined;
}

/** The card command a ledger event of one of our holds or refunds asks for, if any. */
function observationOf(type: string, data: Record<string, unknown>): (ObserveLedger | ExpireAuthorization) | undefined {
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  const amount = (value: unknown) => BigInt(parseAmount(value, { allowZero: true }).ok ? (value as string) : '0');
  switch (type) {
    case 'ledger.HoldExpired.v1':
      return { type: 'ExpireAuthorization', authorizationId: text(data.holdId), walletId: text(data.debitAccountId) };
    case 'ledger.HoldCaptured.v1':
      return { type: 'ObserveHoldCaptured', authorizationId: text(data.holdId), walletId: text(data.debitAccountId), capturedAmount: amount(data.capturedAmount), releasedAmount: amount(data.releasedAmount) };
    case 'ledger.HoldReleased.v1':
      return { type: 'ObserveHoldReleased', authorizationId: text(data.holdId), walletId: text(data.debitAccountId), releasedAmount: amount(data.releasedAmount), ledgerKey: text(data.idempotencyKey) };
    case 'ledger.EntryPosted.v1': {
      const references = (data.references ?? {}) as Record<string, unknown>;
      if (data.kind !== 'card_refund' || typeof references.authorizationId !== 'string' || typeof references.refundId !== 'string') return undefined;
      const postings = Array.isArray(data.postings) ? (data.postings as { accountId?: unknown; side?: unknown; amount?: unknown }[]) : [];
      const credited = new Map<string, bigint>();
      for (const posting of postings) {
        if (posting.side === 'credit') credited.set(text(posting.accountId), (credited.get(text(posting.accountId)) ?? 0n) + amount(posting.amount));
      }
      return { type: 'ObserveRefundPosted', authorizationId: references.authorizationId, refundId: references.refundId, entryId: text(data.entryId), credited };
    }
    default:
      return undefined;
  }
}

/**
 * The ledger's refusal of a capture or reversal the card still holds pending. hold_not_pending
 * there means the card has not yet recorded the hold's end (a capture, reversal or expiry that
 * ledger.events will bring): a retry gets the card's answer then, not "finished" for a capture that went through.
 */
function behindTheLedger(error: DomainError): DomainError {
  return error.code === 'hold_not_pending' ? unavailable('the authorization changed at the ledger and is being recorded; retry') : error;
}

/** Whether the request's own requester stopped waiting, or will before an answer reaches it (wall-clock time, as the bus reads deadlines; timers may fire a little early). */
function requesterGaveUp(request: LedgerRequestOptions): boolean {
  return request.deadlineMs !== undefined && Date.now() >= request.deadlineMs - REQUESTER_DEADLINE_MARGIN_MS;
}

/** The ledger's refusal of a hold as an ISO 8583 decline. */
export function declineOfLedgerError(error: DomainError): { responseCode: IsoResponseCode; reason: string } {
  switch (error.code) {
    case 'insufficient_funds':
      return { responseCode: '51', reason: 'insufficient_funds' };
    case 'wallet_not_active':
      return { responseCode: '62', reason: 'wallet_not_active' };
    default:
      return { responseCode: '05', reason: `ledger_${error.code}` };
  }
}

/** The meta of a command the card-issuer sends upstream (ledger or identity) on behalf of `origin`. */
function commandMeta(idempotencyKey: string, origin: EventOrigin): CommandMeta {
  return { idempotencyKey, actor: ACTOR, ...(origin.correlationId === undefined ? {} : { correlationId: origin.correlationId }) };
}

function merchantOf(merchant: Merchant): Merchant {
  return { name: merchant.name, mcc: merchant.mcc, country: merchant.country };
}

/** Shape checks of an Authorize request; the values are never echoed back (the PAN and CVV are secrets). */
function authorizeProblems(message: Message<'Authorize'>): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!isAuthorizationId(message.authorizationId)) problems.push({ field: 'authorizationId', reason: `not_1_to_${AUTHORIZATION_ID_LENGTH_MAX}_characters` });
  if (typeof message.pan !== 'string' || !PAN_PATTERN.test(message.pan)) problems.push({ field: 'pan', reason: 'not_12_to_19_digits' });
  if (typeof message.cvv !== 'string' || !CVV_PATTERN.test(message.cvv)) problems.push({ field: 'cvv', reason: 'not_3_or_4_digits' });
  if (!Number.isSafeInteger(message.expMonth) || message.expMonth < 1 || message.expMonth > 12) problems.push({ field: 'expMonth', reason: 'not_1_to_12' });
  if (!Number.isSafeInteger(message.expYear) || message.expYear < EXP_YEAR_MIN || message.expYear > EXP_YEAR_MAX) problems.push({ field: 'expYear', reason: 'not_a_4_digit_year' });
  const amount = parseAmount(message.amount);
  if (!amount.ok) problems.push({ field: 'amount', reason: amount.error });
  if (typeof message.currency !== 'string' || !/^[A-Z]{3}$/.test(message.currency)) problems.push({ field: 'currency', reason: 'not_an_iso_4217_code' });
  const merchant = message.merchant as Partial<Merchant> | undefined;
  if (typeof merchant !== 'object' || merchant === null) problems.push({ field: 'merchant', reason: 'required' });
  else {
    if (typeof merchant.name !== 'string' || merchant.name.length === 0 || merchant.name.length > MERCHANT_NAME_LENGTH_MAX) problems.push({ field: 'merchant.name', reason: `not_1_to_${MERCHANT_NAME_LENGTH_MAX}_characters` });
    if (typeof merchant.mcc !== 'string' || !MCC_PATTERN.test(merchant.mcc)) problems.push({ field: 'merchant.mcc', reason: 'not_a_4_digit_mcc' });
    if (typeof merchant.country !== 'string' || !COUNTRY_PATTERN.test(merchant.country)) problems.push({ field: 'merchant.country', reason: 'not_an_upper_case_alpha_2_country' });
  }
  return problems;
}
