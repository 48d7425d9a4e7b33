import { CodecError, decode, encode } from './codec';

describe('codec', () => {
  it('round-trips JSON values through bytes', () => {
    const value = { amount: '1050', currency: 'USD', tags: ['a', 'b'], nested: { ok: true, none: null } };
    const bytes = encode(value);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(decode(bytes)).toEqual(value);
  });

  it('turns a Date into its ISO string, as JSON does', () => {
    const at = new Date('2025-01-02T03:04:05.678Z');
    expect(decode(encode({ at }))).toEqual({ at: '2025-01-02T03:04:05.678Z' });
  });

  it('refuses bigint, naming the field and saying amounts travel as strings', () => {
    expect(() => encode({ posting: { amount: 10n } })).toThrow(CodecError);
    expect(() => encode({ posting: { amount: 10n } })).toThrow('cannot encode bigint at "amount": amounts travel as decimal strings');
    expect(() => encode(10n)).toThrow(/amounts travel as decimal strings/);
  });

  it('refuses non-finite numbers and values that are not JSON at all', () => {
    expect(() => encode({ rate: Number.NaN })).toThrow(/NaN at "rate"/);
    expect(() => encode({ rate: Number.POSITIVE_INFINITY })).toThrow(CodecError);
    expect(() => encode(undefined)).toThrow(/cannot encode undefined/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encode(cyclic)).toThrow(CodecError);
  });

  it('finds a lossy value at any depth, in arrays, and behind a toJSON or past the walk depth', () => {
    expect(() => encode({ postings: [{ amount: '1' }, { amount: 2n }] })).toThrow('cannot encode bigint at "amount"');
    expect(() => encode([1, Number.NaN])).toThrow(/NaN at "1"/);
    expect(() => encode({ at: { toJSON: () => Number.NEGATIVE_INFINITY } })).toThrow(/-Infinity at "at"/);
    let deep: unknown = { rate: Number.NaN };
    for (let level = 0; level < 100; level++) deep = { next: deep };
    expect(() => encode(deep)).toThrow(/NaN at "rate"/);
    let fine: unknown = { rate: 1.5, none: null, list: [] };
    for (let level = 0; level < 100; level++) fine = { next: fine };
    expect(decode(encode(fine))).toEqual(fine);
  });

  it('refuses bytes that are not one JSON value', () => {
    expect(() => decode(Buffer.from('{"half":'))).toThrow(CodecError);
    expect(() => decode(Buffer.alloc(0))).toThrow(/cannot decode payload as JSON/);
  });
});
