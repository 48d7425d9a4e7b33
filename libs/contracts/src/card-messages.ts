// The card-issuer's wire contract on `cards.commands` / `cards.queries` (request/reply) and
// `cards.events`. A clear PAN or CVV travels only inside an `Authorize` request (from the
// network) and a `RevealCard` reply (to the card's owner): never in an event, view or error.
import type { CommandMeta, Reply, TransactionView } from './ledger-messages';

export const CARD_TOPICS = {
  commands: 'cards.commands',
  queries: 'cards.queries',
  events: 'cards.events',
} as const;

export type CardStatus = 'active' | 'frozen' | 'canceled';

/** Blocked merchant categories one card may list: the card-issuer's bound, which the gateway checks before a request reaches it. */
export const BLOCKED_MCCS_MAX = 100;
/** Allowed merchant countries one card may list (there are 249 ISO 3166-1 codes). */
export const ALLOWED_COUNTRIES_MAX = 250;

/** An authorization's expiry year: any four-digit year is well-formed (one not the card's is declined 54, never refused). */
export const EXP_YEAR_MIN = 1000;
export const EXP_YEAR_MAX = 9999;

/** API.md's spending controls: limits are amount strings in the wallet's currency. */
export interface SpendingControlsView {
  readonly perAuthorization?: string;
  readonly daily?: string;
  readonly monthly?: string;
  /** Four-digit ISO 18245 merchant category codes. */
  readonly blockedMccs?: readonly string[];
  /** ISO 3166-1 alpha-2 country codes; absent means every country. */
  readonly allowedCountries?: readonly string[];
}

/** API.md's card, plus `ownerId` and `currency` (extra fields are allowed) for the gateway's ownership checks. */
export interface CardView {
  readonly id: string;
  readonly walletId: string;
  readonly ownerId: string;
  readonly currency: string;
  readonly last4: string;
  readonly brand: string;
  readonly expMonth: number;
  readonly expYear: number;
  readonly status: CardStatus;
  readonly label: string | null;
  readonly spendingControls: SpendingControlsView;
  readonly createdAt: string;
}

/** The reply to a successful `RevealCard`, and only to it. */
export interface RevealedCard {
  readonly pan: string;
  readonly cvv: string;
  readonly expMonth: number;
  readonly expYear: number;
}

export interface Merchant {
  readonly name: string;
  /** Four digits. */
  readonly mcc: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
}

/** ISO 8583 response codes the issuer answers with (DESIGN.md §6). */
export type IsoResponseCode = '00' | '05' | '14' | '51' | '54' | '57' | '61' | '62' | '65' | 'N7';

export type AuthorizationStatus = 'pending' | 'captured' | 'reversed' | 'expired' | 'declined';

/** API.md's authorization. `cardId` is null when the PAN matched no card (code 14). */
export interface AuthorizationView {
  readonly id: string;
  readonly cardId: string | null;
  readonly approved: boolean;
  readonly responseCode: IsoResponseCode;
  /** A short machine-readable reason (`approved`, `insufficient_funds`, `expired_card`, ...). */
  readonly reason: string;
  readonly amount: string;
  readonly currency: string;
  readonly heldAmount: string;
  readonly capturedAmount: string;
  readonly refundedAmount: string;
  readonly status: AuthorizationStatus;
  readonly merchant: Merchant;
  /** The ledger hold of an approved authorization (its id is the authorization's id). */
  readonly holdId: string | null;
  readonly walletId: string | null;
  readonly createdAt: string;
}

export type CardCommandMessage =
  /** The gateway has checked that `ownerId` owns `walletId`; the issuer checks the wallet is open. */
  | {
      readonly type: 'IssueCard';
      readonly cardId: string;
      readonly ownerId: string;
      readonly walletId: string;
      readonly label?: string;
      readonly spendingControls?: SpendingControlsView;
    }
  /** Step-up is checked by identity (`VerifyStepUp`) through the bus; the reveal is recorded (who, when). */
  | { readonly type: 'RevealCard'; readonly cardId: string; readonly userId: string; readonly password?: string; readonly totp?: string }
  | { readonly type: 'FreezeCard'; readonly cardId: string }
  | { readonly type: 'UnfreezeCard'; readonly cardId: string }
  | { readonly type: 'CancelCard'; readonly cardId: string }
  | { readonly type: 'SetSpendingControls'; readonly cardId: string; readonly spendingControls: SpendingControlsView }
  /**
   * From the card network. `authorizationId` is derived by the caller from its Idempotency-Key,
   * so a retry names the same authorization and never holds twice.
   */
  | {
      readonly type: 'Authorize';
      readonly authorizationId: string;
      readonly pan: string;
      readonly expMonth: number;
      readonly expYear: number;
      readonly cvv: string;
      readonly amount: string;
      readonly currency: string;
      readonly merchant: Merchant;
    }
  | { readonly type: 'CaptureAuthorization'; readonly authorizationId: string; readonly amount: string }
  | { readonly type: 'ReverseAuthorization'; readonly authorizationId: string; readonly amount?: string }
  /** Credits the wallet by a balanced entry; at most captured less earlier refunds (422 `amount_exceeds_hold`). */
  | { readonly type: 'RefundAuthorization'; readonly refundId: string; readonly authorizationId: string; readonly amount: string };

export type CardCommandEnvelope = CardCommandMessage & { readonly meta: CommandMeta };

export type CardQueryMessage =
  | { readonly type: 'GetCard'; readonly cardId: string }
  | { readonly type: 'ListCards'; readonly ownerId: string }
  | { readonly type: 'GetAuthorization'; readonly authorizationId: string }
  /** Newest first; `cursor`: the `nextCursor` of the previous page (`{items, nextCursor}`, null on the last). */
  | { readonly type: 'ListAuthorizations'; readonly cardId: string; readonly limit?: number; readonly cursor?: string };

/** What each command's successful reply carries. */
export interface CardCommandResults {
  readonly IssueCard: CardView;
  readonly RevealCard: RevealedCard;
  readonly FreezeCard: CardView;
  readonly UnfreezeCard: CardView;
  readonly CancelCard: CardView;
  readonly SetSpendingControls: CardView;
  readonly Authorize: AuthorizationView;
  readonly CaptureAuthorization: AuthorizationView;
  readonly ReverseAuthorization: AuthorizationView;
  readonly RefundAuthorization: TransactionView;
}

export type CardReply<T> = Reply<T>;

/** The message key on `cards.commands`: one card's (or authorization's) commands share a partition. */
export function cardKeyOf(message: CardCommandMessage | CardQueryMessage): string {
  switch (message.type) {
    case 'Authorize':
    case 'CaptureAuthorization':
    case 'ReverseAuthorization':
    case 'RefundAuthorization':
    case 'GetAuthorization':
      return `authorization:${message.authorizationId}`;
    case 'ListCards':
      return `owner:${message.ownerId}`;
    default:
      return `card:${message.cardId}`;
  }
}
