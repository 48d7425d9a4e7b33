// What a registration's email, password and display name must be (API.md "Identity"). Pure:
// the list of common passwords is handed in, so the rules are tested without files.
import { hasLoneSurrogate, passwordForm, passwordLength } from '@ledger/contracts';
import {
  DISPLAY_NAME_LENGTH_MAX,
  EMAIL_LENGTH_MAX,
  EMAIL_LOCAL_PART_LENGTH_MAX,
  PASSWORD_LENGTH_MAX,
  PASSWORD_LENGTH_MIN,
  type FieldProblem,
} from './limits';

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TOP_LEVEL_LABEL = /^([A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/;
// C0 and C1 control characters, the Unicode line and paragraph separators, and the bidi
// embeddings, overrides and isolates (a name shown reversed: "Trojan Source" spoofing). Joiners
// (U+200D in emoji sequences) are not among them.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * The form uniqueness and look-ups use: emails are case-insensitive here (API.md: `email_taken`
 * ignores case) and ASCII (emailProblem), so only A-Z fold; toLowerCase would also fold look-alikes
 * (the Kelvin sign U+212A to 'k') into a registered address.
 */
export function emailKey(email: string): string {
  return email.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

/** A sane, ASCII `local@domain.tld` of at most 254 characters; undefined when it is one. */
export function emailProblem(email: unknown): FieldProblem | undefined {
  if (typeof email !== 'string' || email.length === 0) return { field: 'email', reason: 'required' };
  if (email.length > EMAIL_LENGTH_MAX) return { field: 'email', reason: 'too_long' };
  const at = email.lastIndexOf('@');
  if (at <= 0) return { field: 'email', reason: 'invalid_format' };
  const local = email.slice(0, at);
  const labels = email.slice(at + 1).split('.');
  const valid =
    local.length <= EMAIL_LOCAL_PART_LENGTH_MAX &&
    LOCAL_PART.test(local) &&
    labels.length >= 2 &&
    labels.every((label) => DOMAIN_LABEL.test(label)) &&
    TOP_LEVEL_LABEL.test(labels[labels.length - 1]);
  return valid ? undefined : { field: 'email', reason: 'invalid_format' };
}

export { passwordForm };

/** 10 to 128 characters (code points of its NFC form) and not a common password (see commonPasswordKey). */
export function passwordProblem(password: unknown, commonPasswords: ReadonlySet<string>): FieldProblem | undefined {
  if (typeof password !== 'string' || password.length === 0) return { field: 'password', reason: 'required' };
  if (hasLoneSurrogate(password)) return { field: 'password', reason: 'invalid_characters' };
  const form = passwordForm(password);
  const length = passwordLength(password);
  if (length < PASSWORD_LENGTH_MIN) return { field: 'password', reason: 'too_short' };
  if (length > PASSWORD_LENGTH_MAX) return { field: 'password', reason: 'too_long' };
  if (commonPasswords.has(commonPasswordKey(form))) return { field: 'password', reason: 'too_common' };
  return undefined;
}

/** A listed word however dressed: compatibility forms (full-width letters) folded, spaces around dropped, lowercased. */
function commonPasswordKey(password: string): string {
  return password.normalize('NFKC').trim().toLowerCase();
}

/** Optional; when given, 1 to 100 characters without control characters (nor lone surrogates, which are no characters). */
export function displayNameProblem(displayName: unknown): FieldProblem | undefined {
  if (displayName === undefined || displayName === null) return undefined;
  if (typeof displayName !== 'string' || displayName.length === 0) return { field: 'displayName', reason: 'invalid' };
  if (codePoints(displayName) > DISPLAY_NAME_LENGTH_MAX) return { field: 'displayName', reason: 'too_long' };
  if (CONTROL_CHARACTER.test(displayName)) return { field: 'displayName', reason: 'control_characters' };
  if (hasLoneSurrogate(displayName)) return { field: 'displayName', reason: 'invalid_characters' };
  return undefined;
}

/** Every problem of a registration at once, so a form can show them all. */
export function registrationProblems(
  input: { email: unknown; password: unknown; displayName?: unknown },
  commonPasswords: ReadonlySet<string>,
): FieldProblem[] {
  return [emailProblem(input.email), passwordProblem(input.password, commonPasswords), displayNameProblem(input.displayName)].filter(
    (problem): problem is FieldProblem => problem !== undefined,
  );
}

function codePoints(text: string): number {
  return Array.from(text).length;
}
