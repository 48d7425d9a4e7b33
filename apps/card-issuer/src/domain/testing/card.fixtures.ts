// Events and commands the card decider's specs are built from.
import type { Merchant, SpendingControlsView } from '@ledger/contracts';
import type { CardEvent, CardIssued } from '../card';
import type { RequestAuthorization } from '../card.commands';

export const CARD_ID = '0190a0a0-0000-7000-8000-0000000000c1';
export const OWNER_ID = 'user-1';
export const WALLET_ID = 'wallet-1';
/** 2026-01-15T12:00:00Z. */
export const NOW_MS = Date.UTC(2026, 0, 15, 12);
export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;
export const CONTEXT = { nowMs: NOW_MS };
export const MERCHANT: Merchant = { name: 'Corner Shop', mcc: '5411', country: 'FR' };

export function issued(spendingControls: SpendingControlsView = {}, overrides: Partial<CardIssued['data']> = {}): CardIssued {
  return {
    type: 'cards.CardIssued.v1',
    data: {
      cardId: CARD_ID,
      ownerId: OWNER_ID,
      walletId: WALLET_ID,
      currency: 'USD',
      label: null,
      brand: 'visa',
      last4: '4242',
      expMonth: 1,
      expYear: 2029,
      panFingerprint: 'f'.repeat(64),
      sealedPan: 'v1.dev-1.sealed',
      kekId: 'dev-1',
      spendingControls,
      atMs: NOW_MS - DAY_MS * 30,
      ...overrides,
    },
  };
}

export function request(authorizationId: string, overrides: Partial<RequestAuthorization> = {}): RequestAuthorization {
  return {
    type: 'RequestAuthorization',
    authorizationId,
    amount: 1000n,
    currency: 'USD',
    merchant: MERCHANT,
    expMonth: 1,
    expYear: 2029,
    cvvValid: true,
    holdTimeoutMs: null,
    ...overrides,
  };
}

/** The Requested and Approved events of an authorization of `amount` at `atMs`. */
export function approved(authorizationId: string, amount: string, atMs = NOW_MS): CardEvent[] {
  return [
    {
      type: 'cards.AuthorizationRequested.v1',
      data: { authorizationId, amount, currency: 'USD', merchant: MERCHANT, atMs, walletId: WALLET_ID, holdTimeoutMs: null },
    },
    { type: 'cards.AuthorizationApproved.v1', data: { authorizationId, atMs } },
  ];
}

export function captured(authorizationId: string, capturedAmount: string, releasedAmount: string, atMs = NOW_MS, idempotencyKey = `capture-${authorizationId}`): CardEvent {
  return { type: 'cards.AuthorizationCaptured.v1', data: { authorizationId, capturedAmount, releasedAmount, idempotencyKey, atMs } };
}

export function reversed(authorizationId: string, releasedAmount: string, sequence = 1, atMs = NOW_MS, idempotencyKey = `reverse-${authorizationId}-${sequence}`): CardEvent {
  return { type: 'cards.AuthorizationReversed.v1', data: { authorizationId, releasedAmount, sequence, idempotencyKey, ledgerKey: `ledger-${idempotencyKey}`, atMs } };
}
