// Fingerprints of command payloads (what tells a retry from a reused idempotency key). Its own
// module so `evolve` can check an opened account's fingerprint without importing `decide`.
import { canonicalJson, type Currency } from '@ledger/contracts';
import type { AccountFlags, AccountKind, Side } from './account';
import { fnv1a64Hex } from './fnv1a';

/** What an AccountOpened event says about the account (besides its command's stamp). */
export interface OpenedAccountFields {
  readonly accountId: string;
  readonly currency: Currency;
  readonly normalSide: Side;
  readonly flags: AccountFlags;
  readonly kind: AccountKind;
  readonly ownerId: string | null;
}

/** FNV-1a 64 of the payload's canonical JSON, 16 hex digits. Stored in events: a stored-format rule. */
export function fingerprintOf(payload: unknown): string {
  return fnv1a64Hex(canonicalJson(payload));
}

/** The payload of an OpenAccount command, from the fields its AccountOpened event (and the account) keep. */
export function openAccountPayload(fields: OpenedAccountFields): unknown {
  return {
    type: 'OpenAccount',
    accountId: fields.accountId,
    currency: fields.currency,
    normalSide: fields.normalSide,
    flags: { debitsMustNotExceedCredits: fields.flags.debitsMustNotExceedCredits, creditsMustNotExceedDebits: fields.flags.creditsMustNotExceedDebits },
    kind: fields.kind,
    ownerId: fields.ownerId,
  };
}
