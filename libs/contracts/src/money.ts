// Money: bigint minor units in code, a string of digits on the wire. There is no float path.

/** ISO 4217 minor-unit exponents of the currencies the system supports. */
export const CURRENCY_EXPONENTS = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  CNY: 2,
  JPY: 0,
  KWD: 3,
} as const;

export type Currency = keyof typeof CURRENCY_EXPONENTS;

export const CURRENCIES = Object.keys(CURRENCY_EXPONENTS) as Currency[];

/** The longest amount string accepted anywhere (API.md: at most 30 digits). */
export const AMOUNT_DIGITS_MAX = 30;

export interface Money {
  readonly amount: bigint;
  readonly currency: Currency;
}

/** Money as it crosses JSON: `{"amount": "1050", "currency": "USD"}`. */
export interface MoneyJson {
  readonly amount: string;
  readonly currency: string;
}

export function isCurrency(value: unknown): value is Currency {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CURRENCY_EXPONENTS, value);
}

export function currencyExponent(currency: Currency): number {
  return CURRENCY_EXPONENTS[currency];
}

const DIGITS = /^[0-9]+$/;

export type AmountParseError = 'not_a_digit_string' | 'too_many_digits' | 'not_positive';

/**
 * Parses a wire amount: digits only (no sign, no decimal point, no exponent), at most
 * AMOUNT_DIGITS_MAX digits. `allowZero` is for balances; amounts that move money are positive.
 */
export function parseAmount(
  text: unknown,
  options: { allowZero?: boolean } = {},
): { ok: true; amount: bigint } | { ok: false; error: AmountParseError } {
  if (typeof text !== 'string' || !DIGITS.test(text)) return { ok: false, error: 'not_a_digit_string' };
  if (text.length > AMOUNT_DIGITS_MAX) return { ok: false, error: 'too_many_digits' };
  const amount = BigInt(text);
  if (amount === 0n && !options.allowZero) return { ok: false, error: 'not_positive' };
  return { ok: true, amount };
}

/** Parses an amount that the caller already validated; throws (a bug) if it is not one. */
export function amountOf(text: string): bigint {
  const parsed = parseAmount(text, { allowZero: true });
  if (!parsed.ok) throw new TypeError(`invalid amount string (${parsed.error})`);
  return parsed.amount;
}

/** The wire form of an amount; negative values keep their sign (balances may be shown signed). */
export function formatAmount(amount: bigint): string {
  return amount.toString(10);
}

export function money(amount: bigint, currency: Currency): Money {
  return { amount, currency };
}

export function moneyToJson(value: Money): MoneyJson {
  return { amount: formatAmount(value.amount), currency: value.currency };
}

/** Human-readable major units for logs and demos only ("10.50 USD"); never parsed back. */
export function displayMoney(value: Money): string {
  const exponent = currencyExponent(value.currency);
  const negative = value.amount < 0n;
  const digits = (negative ? -value.amount : value.amount).toString().padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return `${negative ? '-' : ''}${major} ${value.currency}`;
}
