// The card-issuer's streams are a journal too: each authorization's capture, reversal, expiry and
// refund is recorded there after the ledger moved the money (the issuer waits for the ledger's
// answer, or learns it from `ledger.events`, before it appends). So each such card event must
// find its counterpart in the ledger as folded so far: the hold (id = authorization id) captured
// with the same amount, released by the same command with the same amount, or expired; the
// refund's entry posted crediting the same amount. Either side edited (its chain recomputed and
// the projections with it) leaves the two journals disagreeing, and `verify` names the card event.
// Memory: the ledger keeps finished holds and command outcomes for its 24 h idempotency window;
// refunds posted and not yet recorded by the card are held up to CARD_REFUNDS_OPEN_MAX.
import { amountOf, type RecordedEvent } from '@ledger/contracts';
import type { EntryPosted, Hold, LedgerEvent } from '@ledger/ledger';
import type { CardEvent } from '../../card-issuer/src/domain/card';
import { printable } from './card-number-filter';

/** Card refunds the ledger posted that the card has not recorded yet; beyond it the oldest are forgotten (and noted). */
export const CARD_REFUNDS_OPEN_MAX = 100_000;

/** What the card checks read of the ledger folded so far (every shard). */
export interface LedgerLookup {
  /** The holds with this id (pending, or finished within the idempotency window), on any shard. */
  holds(holdId: string): Hold[];
  /** The event a command with this idempotency key produced (within the window), on any shard. */
  outcomes(idempotencyKey: string): LedgerEvent[];
}

const CHECKED: ReadonlySet<string> = new Set<CardEvent['type']>([
  'cards.AuthorizationCaptured.v1',
  'cards.AuthorizationReversed.v1',
  'cards.AuthorizationExpired.v1',
  'cards.AuthorizationRefunded.v1',
]);

const WINDOW_NOTE = 'or it finished over 24 h before, past what the ledger keeps';

export class CardJournal {
  /** Refund entry id -> what it credited, until the card records the refund. */
  private readonly refunds = new Map<string, bigint>();
  private forgottenRefunds = 0;

  constructor(private readonly ledger: LedgerLookup) {}

  /** A ledger entry applied: a card refund's is remembered until the card records it. */
  entryPosted(data: EntryPosted['data']): void {
    if (data.kind !== 'card_refund') return;
    if (this.refunds.size >= CARD_REFUNDS_OPEN_MAX) {
      this.refunds.delete(this.refunds.keys().next().value!);
      this.forgottenRefunds++;
    }
    this.refunds.set(data.entryId, data.postings.filter((posting) => posting.side === 'credit').reduce((sum, posting) => sum + amountOf(posting.amount), 0n));
  }

  /** A card event: the problem when the ledger does not bear it out, else undefined. */
  check(event: RecordedEvent): string | undefined {
    if (!CHECKED.has(event.type)) return undefined;
    const card = { type: event.type, data: event.data } as unknown as CardEvent;
    switch (card.type) {
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
        if (credited !== undefined && credited.toString() === amount) return undefined;
        // Its entry may be one of those forgotten beyond the limit: not followed, as they are.
        if (credited === undefined && this.forgottenRefunds > 0) return undefined;
        const posted = credited === undefined ? 'posted no such refund entry before it' : `credited ${credited} by that entry`;
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
    return notes;
  }
}

function describe(holds: readonly Hold[]): string {
  if (holds.length === 0) return `has no such hold (${WINDOW_NOTE})`;
  return holds.map((hold) => `has its hold ${hold.status}${hold.status === 'captured' ? ` for ${hold.capturedAmount}` : ''}`).join(', and ');
}
