import { AMOUNT_DIGITS_MAX, CURRENCIES, currencyExponent, displayMoney, formatAmount, isCurrency, parseAmount } from './money';

describe('money', () => {
  it('knows the ISO 4217 exponents of the supported currencies', () => {
    expect(currencyExponent('USD')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
    expect(CURRENCIES).toEqual(expect.arrayContaining(['USD', 'EUR', 'GBP', 'CNY', 'JPY', 'KWD']));
    expect(isCurrency('usd')).toBe(false);
    expect(isCurrency('toString')).toBe(false);
  });

  it.each(['1', '1050', '9'.repeat(AMOUNT_DIGITS_MAX)])('parses %s exactly as a bigint', (text) => {
    expect(parseAmount(text)).toEqual({ ok: true, amount: BigInt(text) });
  });

  it.each([
    ['0', 'not_positive'],
    ['-5', 'not_a_digit_string'],
    ['+5', 'not_a_digit_string'],
    ['10.50', 'not_a_digit_string'],
    ['1e3', 'not_a_digit_string'],
    [' 12', 'not_a_digit_string'],
    ['', 'not_a_digit_string'],
    ['١٢', 'not_a_digit_string'],
    ['9'.repeat(AMOUNT_DIGITS_MAX + 1), 'too_many_digits'],
  ])('rejects %j (%s)', (text, error) => {
    expect(parseAmount(text)).toEqual({ ok: false, error });
  });

  it('rejects numbers: amounts are strings on the wire', () => {
    expect(parseAmount(1050)).toEqual({ ok: false, error: 'not_a_digit_string' });
  });

  it('accepts zero only when asked (balances)', () => {
    expect(parseAmount('0', { allowZero: true })).toEqual({ ok: true, amount: 0n });
  });

  it('round-trips beyond the float range without loss', () => {
    const text = '123456789012345678901234567890';
    const parsed = parseAmount(text);
    expect(parsed.ok && formatAmount(parsed.amount)).toBe(text);
  });

  it('displays major units by exponent', () => {
    expect(displayMoney({ amount: 1050n, currency: 'USD' })).toBe('10.50 USD');
    expect(displayMoney({ amount: 5n, currency: 'USD' })).toBe('0.05 USD');
    expect(displayMoney({ amount: 1050n, currency: 'JPY' })).toBe('1050 JPY');
    expect(displayMoney({ amount: -1234n, currency: 'KWD' })).toBe('-1.234 KWD');
  });
});
