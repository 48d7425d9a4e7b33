import { filterReferences, looksLikeCardNumber, printable, withCardNumbersWithheld, WITHHELD } from './card-number-filter';

describe('card-number filter', () => {
  it('withholds runs of 12 or more digits, plain or split by spaces or dashes', () => {
    for (const value of ['4111111111111111', 'pan 4111 1111 1111 1111 x', '4111-1111-1111-1111', '123456789012', '5500000000000000004', '4111.1111.1111.1111', '4111/1111/1111/1111', '4111_1111_1111_1111', '4111\t1111\u00a01111 1111', '４１１１１１１１１１１１１１１１']) {
      expect(looksLikeCardNumber(value)).toBe(true);
    }
  });

  it('sees through separators of more than one character, other dashes, invisible characters and digits of other scripts', () => {
    const forms = [
      '4111 - 1111 - 1111 - 1111',
      '4111  1111  1111  1111',
      '4111--1111--1111--1111',
      '4111\u20131111\u20131111\u20131111', // en dash
      '4111\u20141111\u20141111\u20141111', // em dash
      '4111\u20111111\u20111111\u20111111', // non-breaking hyphen
      '4111\u22121111\u22121111\u22121111', // minus sign
      '4111\u200b1111\u200b1111\u200b1111', // zero-width space: prints as 4111111111111111
      '4111\u00ad1111\u00ad1111\u00ad1111', // soft hyphen
      '4111,1111,1111,1111',
      '4111 / 1111 / 1111 / 1111',
      '(4111) 1111 1111 1111',
      'paid with 4111*1111*1111*1111 ok',
      '\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661', // Arabic-Indic digits
      '\u096a\u0967\u0967\u0967 \u0967\u0967\u0967\u0967 \u0967\u0967\u0967\u0967 \u0967\u0967\u0967\u0967', // Devanagari digits
    ];
    for (const value of forms) expect({ value, withheld: looksLikeCardNumber(value) }).toEqual({ value, withheld: true });
  });

  it('lets through short numbers, UUIDs and ordinary references', () => {
    for (const value of ['12345678901', 'bank-transfer-77', '019b8d65-39a0-7000-9989-860abd3f0b20', '2026-01-05 09:03:00', '2026-01-05T09:03:00.000Z', 'order 1234 5678', '1234 - 5678 - 901', 'invoice 2026/01, order 123456']) {
      expect(looksLikeCardNumber(value)).toBe(false);
    }
  });

  it('lets through a UUID inside a value, whatever digit runs its groups hold (a reversal entry id, a card stream id)', () => {
    // 3999-7000-9989-860123456789: a run of 24 digits, as about 3 in 100 random UUIDs have one of 12 or more.
    const id = '019b8d65-3999-7000-9989-860123456789';
    for (const value of [id, `${id}:reversal`, `card-${id}`, `transfer ${id} back`]) expect({ value, withheld: looksLikeCardNumber(value) }).toEqual({ value, withheld: false });
    expect(looksLikeCardNumber(`card-auth-4111 1111 1111 1111 after ${id}`)).toBe(true);
  });

  it('replaces only the suspicious values and counts them', () => {
    expect(filterReferences({ memo: 'card 4111111111111111', transferId: '019b8d65-39a0-7000-9989-860abd3f0b20' })).toEqual({
      references: { memo: WITHHELD, transferId: '019b8d65-39a0-7000-9989-860abd3f0b20' },
      withheld: 1,
    });
  });

  it('withholds the card-number-like runs inside a message, leaving UUIDs, amounts and the rest as they are', () => {
    const wallet = '019b8d65-3999-7000-9989-860123456789';
    expect(withCardNumbersWithheld(`hold 4111 1111 1111 1111: capture does not add up on ${wallet} (1500)`)).toBe(`hold ${WITHHELD}: capture does not add up on ${wallet} (1500)`);
    expect(withCardNumbersWithheld('entry e-1 unbalanced in USD')).toBe('entry e-1 unbalanced in USD');
  });

  it('prints a value that is not text (data not of its type) as JSON, through the same test', () => {
    expect([printable(7), printable(undefined), printable(4111111111111111), printable({ pan: '4111 1111 1111 1111' })]).toEqual(['7', 'undefined', WITHHELD, WITHHELD]);
  });
});
