// Every bound the ledger enforces, named with its unit (TigerBeetle style): a command beyond
// one is rejected with `validation_failed`; state beyond one is a bug.
import { AMOUNT_DIGITS_MAX, domainError, type DomainError } from '@ledger/contracts';

/** A journal entry moves money between at least two postings... */
export const POSTINGS_MIN = 2;
/** ...and at most this many, so one event and one check stay small. */
export const POSTINGS_MAX = 64;

/** The largest amount one posting or hold may move: what fits the wire's 30 digits. */
export const AMOUNT_MAX = 10n ** BigInt(AMOUNT_DIGITS_MAX) - 1n;

/** Account, entry, hold, owner ids and idempotency keys (UUIDv7 is 36; `sys:funding:USD:3` is readable). */
export const ID_LENGTH_MAX = 128;

/** `top_up`, `withdrawal`, `transfer`, `fee`, `reversal`, ... */
export const ENTRY_KIND_LENGTH_MAX = 64;

/** References an entry carries (`transferId`, `reversesEntryId`, `cardAuthorizationId`, ...). */
export const REFERENCES_MAX = 16;
export const REFERENCE_LENGTH_MAX = 256;

/** The longest a hold may stay pending (card authorizations for hotels and car rentals run ~30 days). */
export const HOLD_TIMEOUT_MAX_MS = 31 * 24 * 60 * 60 * 1000;

/**
 * How long the shard remembers an idempotency key's first outcome, and a finished hold, after
 * the command's time (`atMs`). Beyond it a retry is a new command.
 */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The most shards `accountShard` spreads accounts over. */
export const SHARDS_MAX = 4096;

/** An id or key the ledger stores: a non-empty string of at most ID_LENGTH_MAX characters. */
export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= ID_LENGTH_MAX;
}

/** An amount that moves money: a bigint in 1..AMOUNT_MAX. */
export function isValidAmount(value: unknown): value is bigint {
  return typeof value === 'bigint' && value > 0n && value <= AMOUNT_MAX;
}

/** The `validation_failed` error for one field, with a machine-readable reason. */
export function validationFailed(field: string, reason: string, extra: Record<string, unknown> = {}): DomainError {
  return domainError('validation_failed', `${field}: ${reason}`, { field, reason, ...extra });
}
