import { filterReferences, looksLikeCardNumber, WITHHELD } from './card-number-filter';

describe('card-number filter', () => {
  it('withholds runs of 12 or more digits, plain or split by spaces or dashes', () => {
    for (const value of ['4111111111111111', 'pan 4111 1111 1111 1111 x', '4111-1111-1111-1111', '123456789012', '5500000000000000004', '4111.1111.1111.1111', '4111/1111/1111/1111', '4111_1111_1111_1111', '4111\t1111\u00a01111 1111', '４１１１１１１１１１１１１１１１']) {
      expect(looksLikeCardNumber(value)).toBe(true);
    }
  });

  it('lets through short numbers, UUIDs and ordinary references', () => {
    for (const value of ['12345678901', 'bank-transfer-77', '019b8d65-39a0-7000-9989-860abd3f0b20', '2026-01-05 09:03:00', 'order 1234 5678']) {
      expect(looksLikeCardNumber(value)).toBe(false);
    }
  });

  it('replaces only the suspicious values and counts them', () => {
    expect(filterReferences({ memo: 'card 4111111111111111', transferId: '019b8d65-39a0-7000-9989-860abd3f0b20' })).toEqual({
      references: { memo: WITHHELD, transferId: '019b8d65-39a0-7000-9989-860abd3f0b20' },
      withheld: 1,
    });
  });
});
