// Every bound the identity domain enforces, named with its unit: input beyond one is
// `validation_failed`; state beyond one is trimmed deterministically in `evolve`.

/** RFC 5321's path limit, as API.md states it. */
export const EMAIL_LENGTH_MAX = 254;
export const EMAIL_LOCAL_PART_LENGTH_MAX = 64;

/** API.md: 10 to 128 characters (code points of the NFC form), as the gateway counts them too. */
export { PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN } from '@ledger/contracts';
/** Most UTF-16 units one character's NFD or NFC takes (U+16126: 6), so the bound of any form of a password. */
export const NORMALIZED_UNITS_PER_CHARACTER_MAX = 6;

export const DISPLAY_NAME_LENGTH_MAX = 100;

/** How long an email stays reserved for a registration that never completed (its retries complete it meanwhile). */
export const RESERVATION_HELD_MS = 24 * 60 * 60 * 1000;

/** Idempotency keys, user and session ids. */
export const ID_LENGTH_MAX = 128;

/** A login's client address as the gateway saw it (an IPv6 address with zone fits). */
export const IP_LENGTH_MAX = 64;

/** A TOTP code: 6 digits (RFC 6238 with the authenticator apps' defaults). */
export const TOTP_CODE_PATTERN = /^[0-9]{6}$/;

/**
 * Rotated refresh-token hashes a session remembers for reuse detection. An older token than
 * that is still refused (`unauthenticated`), it just no longer revokes the session.
 */
export const PREVIOUS_TOKEN_HASHES_KEPT = 64;

/** Recent attempt keys (logins, step-ups, refreshes) whose first outcome a retry gets back. */
export const ATTEMPT_KEYS_KEPT = 32;

/** Keys of the starts of a TOTP enrolment not yet confirmed: a stale retry of one answers the pending secret. */
export const TOTP_ENROLMENT_KEYS_KEPT = 32;

/** Revoked sessions a user's state keeps (for idempotent logouts) until they expire; older ones go first. */
export const REVOKED_SESSIONS_KEPT = 32;

export { invalidFields as validationFailed, type FieldProblem } from '@ledger/contracts';

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= ID_LENGTH_MAX;
}
