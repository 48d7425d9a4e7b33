// Pure card-number arithmetic: the Luhn check digit, the brand of a BIN, and the expiry date.
// Random digits come from the application (CSPRNG); nothing here reads time or randomness.

export type CardBrand = 'visa' | 'mastercard' | 'amex' | 'unknown';

export const PAN_LENGTH = 16;
export const BIN_PATTERN = /^[0-9]{6,8}$/;

/** The Luhn check digit for `payload` (all digits but the last). */
export function luhnCheckDigit(payload: string): number {
  if (!/^[0-9]+$/.test(payload)) throw new RangeError('luhnCheckDigit needs digits');
  let sum = 0;
  // From the right, every second digit of the payload (starting with its last) is doubled.
  for (let i = payload.length - 1, double = true; i >= 0; i--, double = !double) {
    let digit = payload.charCodeAt(i) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

export function isLuhnValid(pan: string): boolean {
  return /^[0-9]{2,19}$/.test(pan) && luhnCheckDigit(pan.slice(0, -1)) === Number(pan[pan.length - 1]);
}

/** `bin` + `randomDigits` + the check digit: exactly PAN_LENGTH digits. */
export function composePan(bin: string, randomDigits: string): string {
  if (!BIN_PATTERN.test(bin)) throw new RangeError('a BIN is 6 to 8 digits');
  if (!/^[0-9]*$/.test(randomDigits) || bin.length + randomDigits.length !== PAN_LENGTH - 1) {
    throw new RangeError(`a PAN needs ${PAN_LENGTH - 1 - bin.length} random digits after a ${bin.length}-digit BIN`);
  }
  const payload = bin + randomDigits;
  return payload + String(luhnCheckDigit(payload));
}

/** The brand by the card schemes' IIN ranges: 4 Visa, 51-55 and 2221-2720 Mastercard, 34/37 Amex. */
export function brandOf(bin: string): CardBrand {
  if (bin.startsWith('4')) return 'visa';
  const two = Number(bin.slice(0, 2));
  if (two >= 51 && two <= 55) return 'mastercard';
  const four = Number(bin.slice(0, 4));
  if (bin.length >= 4 && four >= 2221 && four <= 2720) return 'mastercard';
  if (two === 34 || two === 37) return 'amex';
  return 'unknown';
}

/** The expiry month `validityMonths` after the month of `nowMs` (UTC). */
export function expiryOf(nowMs: number, validityMonths: number): { expMonth: number; expYear: number } {
  const now = new Date(nowMs);
  const monthIndex = now.getUTCFullYear() * 12 + now.getUTCMonth() + validityMonths;
  return { expMonth: (monthIndex % 12) + 1, expYear: Math.floor(monthIndex / 12) };
}

/** The last millisecond a card is valid: the end of its expiry month (UTC). */
export function endOfExpiryMs(expMonth: number, expYear: number): number {
  return Date.UTC(expYear, expMonth, 1) - 1; // month index expMonth is the month after (0-based)
}

/** The last four digits, the only part of a PAN a view keeps. */
export function last4Of(pan: string): string {
  return pan.slice(-4);
}
