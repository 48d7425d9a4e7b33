import { brandOf, composePan, endOfExpiryMs, expiryOf, isLuhnValid, luhnCheckDigit } from './pan';

describe('PAN arithmetic', () => {
  it('computes Luhn check digits of known card numbers', () => {
    expect(luhnCheckDigit('7992739871')).toBe(3);
    expect(isLuhnValid('79927398713')).toBe(true);
    expect(isLuhnValid('4242424242424242')).toBe(true);
    expect(isLuhnValid('5555555555554444')).toBe(true);
    expect(isLuhnValid('378282246310005')).toBe(true);
    expect(isLuhnValid('4242424242424241')).toBe(false);
    expect(isLuhnValid('42424242424242a2')).toBe(false);
  });

  it('composes 16 digits from the BIN, the random digits and the check digit', () => {
    const pan = composePan('400000', '123456789');
    expect(pan).toHaveLength(16);
    expect(pan.startsWith('400000123456789')).toBe(true);
    expect(isLuhnValid(pan)).toBe(true);
    expect(composePan('22210000', '1234567')).toHaveLength(16);
    expect(() => composePan('40000', '1234567890')).toThrow(RangeError);
    expect(() => composePan('400000', '12345678')).toThrow(RangeError);
  });

  it('names the brand from the BIN', () => {
    expect(brandOf('400000')).toBe('visa');
    expect(brandOf('510000')).toBe('mastercard');
    expect(brandOf('550000')).toBe('mastercard');
    expect(brandOf('560000')).toBe('unknown');
    expect(brandOf('222100')).toBe('mastercard');
    expect(brandOf('272099')).toBe('mastercard');
    expect(brandOf('272100')).toBe('unknown');
    expect(brandOf('222099')).toBe('unknown');
    expect(brandOf('340000')).toBe('amex');
    expect(brandOf('370000')).toBe('amex');
    expect(brandOf('600000')).toBe('unknown');
  });

  it('puts the expiry CARD_VALIDITY_MONTHS ahead, valid through the end of that month (UTC)', () => {
    expect(expiryOf(Date.UTC(2026, 0, 15), 36)).toEqual({ expMonth: 1, expYear: 2029 });
    expect(expiryOf(Date.UTC(2026, 10, 30, 23, 59), 2)).toEqual({ expMonth: 1, expYear: 2027 });
    expect(expiryOf(Date.UTC(2026, 11, 31), 12)).toEqual({ expMonth: 12, expYear: 2027 });
    expect(endOfExpiryMs(2, 2028)).toBe(Date.UTC(2028, 2, 1) - 1);
    expect(new Date(endOfExpiryMs(12, 2027)).toISOString()).toBe('2027-12-31T23:59:59.999Z');
  });
});
