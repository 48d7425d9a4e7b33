// The card and authorization views of card-messages.ts, built from the aggregate's state.
import { toIsoTime, type AuthorizationStatus, type AuthorizationView, type CardView } from '@ledger/contracts';
import type { Authorization, AuthorizationPhase, Card } from './card';

export function cardView(card: Card): CardView {
  return {
    id: card.cardId,
    walletId: card.walletId,
    ownerId: card.ownerId,
    currency: card.currency,
    last4: card.last4,
    brand: card.brand,
    expMonth: card.expMonth,
    expYear: card.expYear,
    status: card.status,
    label: card.label,
    spendingControls: card.spendingControls,
    createdAt: toIsoTime(card.createdAtMs),
  };
}

/** A hold still being asked for shows as pending, not yet approved. */
export function statusOfPhase(phase: AuthorizationPhase): AuthorizationStatus {
  return phase === 'requested' ? 'pending' : phase;
}

/** Whether the ledger placed the hold: every phase past the request but a decline. */
export function isApprovedPhase(phase: AuthorizationPhase): boolean {
  return phase !== 'requested' && phase !== 'declined';
}

export function authorizationView(cardId: string | null, authorization: Authorization): AuthorizationView {
  const approved = isApprovedPhase(authorization.phase);
  return {
    id: authorization.id,
    cardId,
    approved,
    responseCode: authorization.responseCode ?? '05',
    reason: authorization.reason,
    amount: authorization.amount.toString(),
    currency: authorization.currency,
    heldAmount: authorization.heldAmount.toString(),
    capturedAmount: authorization.capturedAmount.toString(),
    refundedAmount: authorization.refundedAmount.toString(),
    status: statusOfPhase(authorization.phase),
    merchant: authorization.merchant,
    holdId: approved ? authorization.id : null,
    walletId: cardId === null ? null : authorization.walletId,
    createdAt: toIsoTime(authorization.createdAtMs),
  };
}
