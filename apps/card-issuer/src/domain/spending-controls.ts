// Spending controls (API.md): per-authorization, daily and monthly limits in the card's currency,
// blocked merchant categories, allowed merchant countries. Validated once when set; stored and
// sent as the wire view (amount strings), checked as bigints.
import { parseAmount, type SpendingControlsView } from '@ledger/contracts';
import { ALLOWED_COUNTRIES_MAX, BLOCKED_MCCS_MAX, MS_PER_DAY, type FieldProblem } from './limits';

export const MCC_PATTERN = /^[0-9]{4}$/;
export const COUNTRY_PATTERN = /^[A-Z]{2}$/;

const LIMIT_FIELDS = ['perAuthorization', 'daily', 'monthly'] as const;
const KNOWN_FIELDS: ReadonlySet<string> = new Set([...LIMIT_FIELDS, 'blockedMccs', 'allowedCountries']);

/**
 * Checks and normalises controls: lists sorted without duplicates; an empty `allowedCountries`
 * is dropped (absent means every country, and an empty allow-list blocking everything is never
 * what a client meant). Unknown fields are refused so a typo never silently disables a control.
 */
export function parseSpendingControls(input: unknown, field = 'spendingControls'): { ok: true; value: SpendingControlsView } | { ok: false; problems: FieldProblem[] } {
  if (input === undefined || input === null) return { ok: true, value: {} };
  if (typeof input !== 'object' || Array.isArray(input)) return { ok: false, problems: [{ field, reason: 'not_an_object' }] };
  const raw = input as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const key of Object.keys(raw)) if (!KNOWN_FIELDS.has(key)) problems.push({ field: `${field}.${key.slice(0, 64)}`, reason: 'unknown_field' });
  const value: { -readonly [K in keyof SpendingControlsView]: SpendingControlsView[K] } = {};
  for (const name of LIMIT_FIELDS) {
    if (raw[name] === undefined || raw[name] === null) continue;
    const parsed = parseAmount(raw[name]);
    if (!parsed.ok) problems.push({ field: `${field}.${name}`, reason: parsed.error });
    else value[name] = parsed.amount.toString();
  }
  const mccs = codeList(raw.blockedMccs, `${field}.blockedMccs`, MCC_PATTERN, BLOCKED_MCCS_MAX, 'not_a_4_digit_mcc', problems);
  if (mccs !== undefined && mccs.length > 0) value.blockedMccs = mccs;
  const countries = codeList(raw.allowedCountries, `${field}.allowedCountries`, COUNTRY_PATTERN, ALLOWED_COUNTRIES_MAX, 'not_an_upper_case_alpha_2_country', problems);
  if (countries !== undefined && countries.length > 0) value.allowedCountries = countries;
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}

function codeList(raw: unknown, field: string, pattern: RegExp, max: number, badReason: string, problems: FieldProblem[]): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    problems.push({ field, reason: 'not_a_list' });
    return undefined;
  }
  if (raw.length > max) {
    problems.push({ field, reason: `more_than_${max}` });
    return undefined;
  }
  const bad = raw.findIndex((code) => typeof code !== 'string' || !pattern.test(code));
  if (bad >= 0) {
    problems.push({ field: `${field}[${bad}]`, reason: badReason });
    return undefined;
  }
  return [...new Set(raw as string[])].sort();
}

/** Which control a merchant breaks, if any: code 57. */
export function merchantProblem(controls: SpendingControlsView, merchant: { mcc: string; country: string }): 'blocked_mcc' | 'country_not_allowed' | undefined {
  if (controls.blockedMccs?.includes(merchant.mcc)) return 'blocked_mcc';
  if (controls.allowedCountries !== undefined && !controls.allowedCountries.includes(merchant.country)) return 'country_not_allowed';
  return undefined;
}

/** The UTC calendar day (`2026-01-31`) and month (`2026-01`) an authorization's time falls in. */
export function spendWindowsOf(atMs: number): { day: string; month: string } {
  const iso = new Date(atMs).toISOString();
  return { day: iso.slice(0, 10), month: iso.slice(0, 7) };
}

/** Day windows older than this are dropped from a card's state: no authorization can be counted in them any more. */
export const SPEND_DAYS_KEPT_MS = 2 * MS_PER_DAY;
