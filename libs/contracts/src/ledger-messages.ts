// The wallet-ledger's wire contract on `ledger.commands` / `ledger.queries` (request/reply) and
// `ledger.events`. Amounts are digit strings; every money-moving command has an idempotency key.
import type { DomainError } from './errors';

export const LEDGER_TOPICS = {
  commands: 'ledger.commands',
  queries: 'ledger.queries',
  events: 'ledger.events',
} as const;

/** Who asked, and why: carried into the event metadata. */
export interface CommandMeta {
  readonly idempotencyKey: string;
  readonly actor: string;
  readonly correlationId?: string;
}

export interface PostingMessage {
  readonly accountId: string;
  readonly side: 'debit' | 'credit';
  readonly amount: string;
  readonly currency: string;
}

export type LedgerCommandMessage =
  | { readonly type: 'OpenWallet'; readonly walletId: string; readonly ownerId: string; readonly currency: string }
  | { readonly type: 'TopUp'; readonly walletId: string; readonly amount: string; readonly reference?: string }
  | { readonly type: 'Withdraw'; readonly walletId: string; readonly amount: string; readonly reference?: string }
  | {
      readonly type: 'Transfer';
      readonly fromWalletId: string;
      readonly toWalletId: string;
      readonly amount: string;
      readonly memo?: string;
    }
  | {
      readonly type: 'PlaceHold';
      readonly holdId: string;
      readonly walletId: string;
      readonly amount: string;
      readonly timeoutMs?: number;
      readonly reference?: string;
    }
  | { readonly type: 'CaptureHold'; readonly holdId: string; readonly walletId: string; readonly amount: string }
  | { readonly type: 'ReleaseHold'; readonly holdId: string; readonly walletId: string; readonly amount?: string }
  | { readonly type: 'FreezeWallet'; readonly walletId: string }
  | { readonly type: 'UnfreezeWallet'; readonly walletId: string }
  | { readonly type: 'CloseWallet'; readonly walletId: string }
  /** Internal (the cross-shard transfer saga): credits the destination wallet of a transfer. */
  | {
      readonly type: 'TransferIn';
      readonly transferId: string;
      readonly fromWalletId: string;
      readonly toWalletId: string;
      readonly amount: string;
      readonly currency: string;
      readonly sourceShard: number;
      readonly memo?: string;
    }
  /** Internal (the cross-shard transfer saga): gives the money back when the destination refused it. */
  | {
      readonly type: 'TransferReverse';
      readonly transferId: string;
      readonly fromWalletId: string;
      readonly toWalletId: string;
      readonly amount: string;
      readonly currency: string;
      readonly destinationShard: number;
      readonly reason: string;
    }
  | {
      readonly type: 'PostEntry';
      readonly entryId: string;
      readonly kind: string;
      readonly postings: readonly PostingMessage[];
      readonly references?: Readonly<Record<string, string>>;
    };

export type LedgerCommandEnvelope = LedgerCommandMessage & { readonly meta: CommandMeta };

export type LedgerCommandType = LedgerCommandMessage['type'];

/**
 * Commands of one shard in one `ledger.commands` message (a LedgerClient that coalesces sends
 * these); answered `{ ok: true, value: replies }`, each reply the one its command would get alone,
 * in order. At most LEDGER_COMMAND_BATCH_MAX commands.
 */
export interface LedgerCommandBatch {
  readonly type: 'CommandBatch';
  readonly commands: readonly LedgerCommandEnvelope[];
}

export const LEDGER_COMMAND_BATCH_MAX = 512;

/** A card hold after one operation on it (place, capture, release, expiry), from that operation's event. */
export interface HoldView {
  readonly holdId: string;
  readonly walletId: string;
  readonly status: 'pending' | 'captured' | 'released' | 'expired';
  readonly currency: string;
  readonly amount: string;
  readonly heldAmount: string;
  readonly capturedAmount: string;
  /** Released by this operation. */
  readonly releasedAmount: string;
  /** When this operation happened. */
  readonly createdAt: string;
}

/** The four sums of any ledger account (admin view). */
export interface AccountSumsView {
  readonly accountId: string;
  readonly currency: string;
  readonly debitsPosted: string;
  readonly creditsPosted: string;
  readonly debitsPending: string;
  readonly creditsPending: string;
}

export type LedgerQueryMessage =
  /**
   * `eventual` answers from the projection as it is, without waiting for the store's head: for
   * what never changes once a wallet exists (owner, currency), checked on every request.
   */
  | { readonly type: 'GetWallet'; readonly walletId: string; readonly consistency?: 'eventual' }
  | { readonly type: 'ListWallets'; readonly ownerId: string }
  | { readonly type: 'GetBalance'; readonly walletId: string; readonly at?: string }
  | { readonly type: 'ListTransactions'; readonly walletId: string; readonly limit?: number; readonly cursor?: string }
  | { readonly type: 'GetAccountSums'; readonly accountId: string };

export type Reply<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DomainError };

/** API.md's transaction kinds: the only ones a wallet's transactions and lines show. */
export const TRANSACTION_KINDS = ['top_up', 'withdrawal', 'transfer', 'card_hold', 'card_capture', 'card_release', 'card_refund', 'fee', 'reversal'] as const;

export type TransactionKind = (typeof TRANSACTION_KINDS)[number];

/** API.md's transaction. */
export interface TransactionView {
  readonly id: string;
  readonly kind: TransactionKind | string;
  readonly status: 'posted' | 'pending' | 'voided';
  readonly amount: string;
  readonly currency: string;
  readonly fromWalletId?: string;
  readonly toWalletId?: string;
  readonly createdAt: string;
}

export interface BalanceView {
  readonly posted: string;
  readonly pending: string;
  readonly available: string;
}

/** API.md's wallet. */
export interface WalletView {
  readonly id: string;
  readonly ownerId: string;
  readonly currency: string;
  readonly status: 'active' | 'frozen' | 'closed';
  readonly balance: BalanceView;
  readonly createdAt: string;
}
