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

/**
 * `fingerprintOf(openAccountPayload(fields))`, with the canonical JSON written out by hand (keys
 * in sorted order): it runs for every opened account, in decide, in evolve and on a retry, and
 * the general encoder's sorting made most of the writers' garbage. Fields of an unexpected type
 * (a hand-edited event) take the general path, so the result is always the same.
 */
export function openAccountFingerprint(fields: OpenedAccountFields): string {
  const { accountId, currency, normalSide, flags, kind, ownerId } = fields;
  const credits = flags.creditsMustNotExceedDebits;
  const debits = flags.debitsMustNotExceedCredits;
  if (
    typeof accountId !== 'string' ||
    typeof currency !== 'string' ||
    typeof normalSide !== 'string' ||
    typeof kind !== 'string' ||
    (ownerId !== null && typeof ownerId !== 'string') ||
    typeof credits !== 'boolean' ||
    typeof debits !== 'boolean'
  ) {
    return fingerprintOf(openAccountPayload(fields));
  }
  const owner = ownerId === null ? 'null' : JSON.stringify(ownerId);
  return fnv1a64Hex(
    `{"accountId":${JSON.stringify(accountId)},"currency":${JSON.stringify(currency)},` +
      `"flags":{"creditsMustNotExceedDebits":${credits},"debitsMustNotExceedCredits":${debits}},` +
      `"kind":${JSON.stringify(kind)},"normalSide":${JSON.stringify(normalSide)},"ownerId":${owner},"type":"OpenAccount"}`,
  );
}
