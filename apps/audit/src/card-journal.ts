// The card-issuer's streams are a journal too: each authorization's approval, capture, reversal,
// expiry and refund is recorded there after the ledger moved the money (the issuer waits for the
// ledger's answer, or learns it from `ledger.events`, before it appends). So each such card event
// must find its counterpart in the ledger as folded so far: the hold (id = authorization id)
// placed on the requested wallet for the requested amount, captured with the same amount,
// released by the same command with the same amount, or expired; the refund's entry crediting the
// card's wallet (from its CardIssued) the same amount. Either side edited (its chain recomputed
// and the projections with it) leaves the two journals disagreeing, and `verify` names the card event.
// Memory: the ledger keeps finished holds and command outcomes for its 24 h idempotency window;
// refunds posted and not yet recorded by the card are held up to CARD_REFUNDS_OPEN_MAX, requests
// not yet answered up to CARD_REQUESTS_OPEN_MAX, cards' wallets up to CARD_WALLETS_MAX.
import { amountOf, type RecordedEvent } from '@ledger/contracts';
import type { EntryPosted, Hold, LedgerEvent } from '@ledger/ledger';
import type { CardEvent } from '../../card-issuer/src/domain/card';
import { printable } from './card-number-filter';

/** Card refunds the ledger posted that the card has not recorded yet; beyond it the oldest are forgotten (and noted). */
export const CARD_REFUNDS_OPEN_MAX = 100_000;
/** Authorizations requested and not yet approved or declined; beyond it the oldest are forgotten (and noted). */
export const CARD_REQUESTS_OPEN_MAX = 100_000;
/** Cards whose wallet is remembered (a refund must pay it); beyond it the oldest are forgotten (and noted). */
export const CARD_WALLETS_MAX = 1_000_000;

/** What the card checks read of the ledger folded so far (every shard). */
export interface LedgerLookup {
  /** The holds with this id (pending, or finished within the idempotency window), on any shard. */
  holds(holdId: string): Hold[];
  /** The event a command with this idempotency key produced (within the window), on any shard. */
  outcomes(idempotencyKey: string): LedgerEvent[];
}

const CHECKED: ReadonlySet<string> = new Set<CardEvent['type']>([
  'cards.CardIssued.v1',
  'cards.AuthorizationRequested.v1',
  'cards.AuthorizationApproved.v1',
  'cards.AuthorizationDeclined.v1',
  'cards.AuthorizationCaptured.v1',
  'cards.AuthorizationReversed.v1',
  'cards.AuthorizationExpired.v1',
  'cards.AuthorizationRefunded.v1',
]);

const WINDOW_NOTE = 'or it finished over 24 h before, past what the ledger keeps';

export class CardJournal {
  /** Refund entry id -> what it credited each wallet (not system accounts), until the card records the refund. */
  private readonly refunds = new Map<string, Map<string, bigint>>();
  private forgottenRefunds = 0;
  /** Card stream and authorization id -> the wallet and amount its hold must take, until approved or declined. */
  private readonly requests = new Map<string, { walletId: string; amount: string; currency: string }>();
  private forgottenRequests = 0;
  /** Card stream -> the wallet the card spends from (CardIssued). */
  private readonly cardWallets = new Map<string, string>();
  private forgottenCards = 0;

  constructor(private readonly ledger: LedgerLookup) {}

  /** A ledger entry applied: a card refund's is remembered until the card records it. */
  entryPosted(data: EntryPosted['data']): void {
    if (data.kind !== 'card_refund') return;
    if (this.refunds.size >= CARD_REFUNDS_OPEN_MAX) {
      this.refunds.delete(this.refunds.keys().next().value!);
      this.forgottenRefunds++;
    }
    const credited = new Map<string, bigint>();
    for (const posting of data.postings) {
      if (posting.side === 'credit' && !posting.accountId.startsWith('sys:')) credited.set(posting.accountId, (credited.get(posting.accountId) ?? 0n) + amountOf(posting.amount));
    }
    this.refunds.set(data.entryId, credited);
  }

  /** A card event: the problem when the ledger does not bear it out, else undefined. */
  check(event: RecordedEvent): string | undefined {
    if (!CHECKED.has(event.type)) return undefined;
    const card = { type: event.type, data: event.data } as unknown as CardEvent;
    const requestKey = (authorizationId: string) => `${event.streamId}\n${authorizationId}`;
    switch (card.type) {
      case 'cards.CardIssued.v1':
        if (this.cardWallets.size >= CARD_WALLETS_MAX) {
          this.cardWallets.delete(this.cardWallets.keys().next().value!);
          this.forgottenCards++;
        }
        this.cardWallets.set(event.streamId, card.data.walletId);
        return undefined;
      case 'cards.AuthorizationRequested.v1': {
        if (this.requests.size >= CARD_REQUESTS_OPEN_MAX) {
          this.requests.delete(this.requests.keys().next().value!);
          this.forgottenRequests++;
        }
        const { authorizationId, walletId, amount, currency } = card.data;
        this.requests.set(requestKey(authorizationId), { walletId, amount, currency });
        return undefined;
      }
      case 'cards.AuthorizationDeclined.v1':
        this.requests.delete(requestKey(card.data.authorizationId));
        return undefined;
      case 'cards.AuthorizationApproved.v1': {
        // The issuer placed the hold (id = authorization id) on the requested wallet for the requested amount, then approved.
        const { authorizationId } = card.data;
        const request = this.requests.get(requestKey(authorizationId));
        this.requests.delete(requestKey(authorizationId));
        if (request === undefined) return this.forgottenRequests > 0 ? undefined : `authorization ${printable(authorizationId)} approved on the card without a request before it`;
        const holds = this.ledger.holds(authorizationId);
        const placed = holds.some((hold) => hold.debitAccountId === request.walletId && hold.placedAmount.toString() === request.amount && hold.currency === request.currency);
        if (placed) return undefined;
        const found = holds.length === 0 ? `has no such hold (${WINDOW_NOTE})` : holds.map((hold) => `holds ${hold.currency} ${hold.placedAmount} of ${hold.debitAccountId}`).join(', and ');
        return `authorization ${printable(authorizationId)} approved on the card for ${request.currency} ${request.amount} of wallet ${request.walletId}, but the ledger ${found}`;
      }
      case 'cards.AuthorizationCaptured.v1': {
        const { authorizationId, capturedAmount } = card.data;
        const holds = this.ledger.holds(authorizationId);
        if (holds.some((hold) => hold.status === 'captured' && hold.capturedAmount.toString() === capturedAmount)) return undefined;
        return `authorization ${printable(authorizationId)} captured ${capturedAmount} on the card, but the ledger ${describe(holds)}`;
      }
      case 'cards.AuthorizationReversed.v1': {
        const { authorizationId, releasedAmount, ledgerKey } = card.data;
        const released = this.ledger
          .outcomes(ledgerKey)
          .some((outcome) => outcome.type === 'ledger.HoldReleased.v1' && outcome.data.holdId === authorizationId && outcome.data.releasedAmount === releasedAmount);
        if (released) return undefined;
        return `authorization ${printable(authorizationId)} reversed ${releasedAmount} on the card, but the ledger released no such amount of its hold by that command (${WINDOW_NOTE})`;
      }
      case 'cards.AuthorizationExpired.v1': {
        const { authorizationId } = card.data;
        const holds = this.ledger.holds(authorizationId);
        if (holds.some((hold) => hold.status === 'expired')) return undefined;
        return `authorization ${printable(authorizationId)} expired on the card, but the ledger ${describe(holds)}`;
      }
      case 'cards.AuthorizationRefunded.v1': {
        const { authorizationId, entryId, amount } = card.data;
        const credited = this.refunds.get(entryId);
        this.refunds.delete(entryId);
        // The card's refund is what the entry pays the card's wallet (the card-issuer counts no other credit); any wallet's when the card is forgotten.
        const wallet = this.cardWallets.get(event.streamId);
        const paid = wallet === undefined ? [...(credited?.values() ?? [])] : [credited?.get(wallet) ?? 0n];
        if (credited !== undefined && paid.some((value) => value.toString() === amount)) return undefined;
        // Its entry may be one of those forgotten beyond the limit: not followed, as they are.
        if (credited === undefined && this.forgottenRefunds > 0) return undefined;
        const payments = credited === undefined ? '' : [...credited].map(([to, value]) => `${value} to ${to}`).join(', ');
        const posted = credited === undefined ? 'posted no such refund entry before it' : `credited ${payments === '' ? 'no wallet' : payments} by that entry${wallet === undefined ? '' : ` (the card's wallet is ${wallet})`}`;
        return `authorization ${printable(authorizationId)} refunded ${amount} on the card (entry ${printable(entryId)}), but the ledger ${posted}`;
      }
      default:
        return undefined;
    }
  }

  notes(): string[] {
    const notes: string[] = [];
    if (this.refunds.size > 0) notes.push(`${this.refunds.size} card refunds posted in the ledger are not recorded by the card-issuer yet`);
    if (this.forgottenRefunds > 0) notes.push(`${this.forgottenRefunds} card refunds beyond CARD_REFUNDS_OPEN_MAX were not followed`);
    if (this.forgottenCards > 0) notes.push(`${this.forgottenCards} cards beyond CARD_WALLETS_MAX had their refunds matched to any wallet`);
    if (this.forgottenRequests > 0) notes.push(`${this.forgottenRequests} card authorizations beyond CARD_REQUESTS_OPEN_MAX were not followed to their holds`);
    return notes;
  }
}

function describe(holds: readonly Hold[]): string {
  if (holds.length === 0) return `has no such hold (${WINDOW_NOTE})`;
  return holds.map((hold) => `has its hold ${hold.status}${hold.status === 'captured' ? ` for ${hold.capturedAmount}` : ''}`).join(', and ');
}
