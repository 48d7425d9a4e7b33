import { canonicalJson } from './canonical-json';

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 'x' }, u: undefined })).toBe(
      '{"a":{"c":"x","d":[2,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('is the same for the same value built in another order', () => {
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it('refuses bigint and non-finite numbers instead of guessing', () => {
    expect(() => canonicalJson({ amount: 10n })).toThrow(/digit string/);
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
  });
});
