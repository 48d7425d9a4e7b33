// The journal as the audit reads it: the postings that change posted sums. An `EntryPosted` is
// its own postings; a `HoldCaptured` posts the captured amount (debit the hold's debit account,
// credit its credit account: docs/decisions.md, holds). Holds placed, released or expired only
// move pending sums, so they are not journal postings.
import type { Currency } from '@ledger/contracts';
import type { LedgerEvent, Side } from '@ledger/ledger';

export interface JournalPosting {
  /** The entry id, or for a capture the hold id (the transaction id of a hold, as in API.md). */
  readonly entryId: string;
  readonly kind: string;
  /** 0-based index of the posting within its entry. */
  readonly postingIndex: number;
  readonly accountId: string;
  readonly side: Side;
  readonly amount: string;
  readonly currency: Currency;
  readonly references: Readonly<Record<string, string>>;
}

export const CAPTURE_KIND = 'card_capture';

export function journalPostings(event: LedgerEvent): JournalPosting[] {
  switch (event.type) {
    case 'ledger.EntryPosted.v1': {
      const { entryId, kind, references, postings } = event.data;
      return postings.map((posting, postingIndex) => ({
        entryId,
        kind,
        postingIndex,
        accountId: posting.accountId,
        side: posting.side,
        amount: posting.amount,
        currency: posting.currency,
        references,
      }));
    }
    case 'ledger.HoldCaptured.v1': {
      const { holdId, debitAccountId, creditAccountId, capturedAmount, currency } = event.data;
      const common = { entryId: holdId, kind: CAPTURE_KIND, amount: capturedAmount, currency, references: { holdId } };
      return [
        { ...common, postingIndex: 0, accountId: debitAccountId, side: 'debit' },
        { ...common, postingIndex: 1, accountId: creditAccountId, side: 'credit' },
      ];
    }
    default:
      return [];
  }
}
