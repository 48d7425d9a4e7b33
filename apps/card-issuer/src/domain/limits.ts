// Every bound the card domain enforces, named with its unit: input beyond one is
// `validation_failed`; state beyond one is trimmed deterministically in `evolve`.

export const MS_PER_DAY = 24 * 60 * 60 * 1000;

/** Authorization and refund ids: short enough that the ledger keys derived from them fit the ledger's key limit. */
export const AUTHORIZATION_ID_LENGTH_MAX = 64;
export const LABEL_LENGTH_MAX = 64;
export const MERCHANT_NAME_LENGTH_MAX = 100;
/** Cards one owner may have, canceled ones too (all are listed): a listing of that many at their largest fits one bus message. */
export const CARDS_PER_OWNER_MAX = 200;
/** A lifecycle or controls change's idempotency key is known to the card this long (the gateway's window is at most a day). */
export const CHANGE_KEY_KEPT_MS = MS_PER_DAY;
/** Change keys a card remembers at most (the newest): a retry past this many later changes counts as a new change. */
export const CHANGE_KEYS_KEPT_MAX = 20;
/** Refunds one authorization may have. */
export const REFUNDS_PER_AUTHORIZATION_MAX = 100;
/** Partial reversals one authorization may have. */
export const REVERSALS_PER_AUTHORIZATION_MAX = 100;
/** Wrong security details (CVV, or expiry not the card's) within CVV_FAILURES_WINDOW_MS after which the card declines every authorization unchecked. */
export const CVV_FAILURES_MAX = 5;
/** How long a wrong CVV or expiry counts towards CVV_FAILURES_MAX (a sliding window: about that many guesses a day at most). */
export const CVV_FAILURES_WINDOW_MS = MS_PER_DAY;
/** A finished authorization that can no longer change (declined, reversed, expired) leaves the card's state this long after it finished. */
export const FINISHED_AUTHORIZATION_KEPT_MS = MS_PER_DAY;
/** A captured authorization can be refunded this long after its capture; then it leaves the card's state. */
export const REFUND_WINDOW_MS = 180 * MS_PER_DAY;
/** Captured authorizations a card's state keeps (the newest captures); an older one is refunded from its own events, read from the card's stream. */
export const CAPTURED_AUTHORIZATIONS_KEPT_MAX = 1_000;

export { ALLOWED_COUNTRIES_MAX, BLOCKED_MCCS_MAX, invalidFields as validationFailed, type FieldProblem } from '@ledger/contracts';
/** Card, owner and wallet ids and idempotency keys: the ledger's bound, since wallet ids and keys go on to it. */
export { isValidId } from '@ledger/ledger';

export function isAuthorizationId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= AUTHORIZATION_ID_LENGTH_MAX;
}
