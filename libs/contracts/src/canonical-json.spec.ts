import fc from 'fast-check';
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

  it('equals a plain reference encoder (sorted keys, undefined fields dropped) for any JSON value', () => {
    // The straightforward encoder the one-pass version replaced; JSON.stringify alone cannot be
    // the reference, as objects put integer-like keys first whatever order they were built in.
    const reference = (value: unknown): string => {
      if (Array.isArray(value)) return `[${value.map((item) => reference(item === undefined ? null : item)).join(',')}]`;
      if (value === null || typeof value !== 'object') return JSON.stringify(value);
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${reference(record[key])}`).join(',')}}`;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500, seed: 7 },
    );
    expect(canonicalJson({ '': 1, a: [undefined, {}], b: [], c: {}, d: undefined })).toBe('{"":1,"a":[null,{}],"b":[],"c":{}}');
    expect(canonicalJson({ d: undefined, e: 1 })).toBe('{"e":1}');
  });

  it('refuses bigint and non-finite numbers instead of guessing', () => {
    expect(() => canonicalJson({ amount: 10n })).toThrow(/digit string/);
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
  });

  it('refuses what JSON.stringify would write otherwise (a Date, a boxed primitive, a Map, a toJSON), takes plain records', () => {
    class WithToJson {
      toJSON(): string {
        return 'other';
      }
    }
    for (const value of [new Date(0), new String('x'), new Number(1), new Map([['a', 1]]), { nested: [{ at: new Date(0) }] }, { a: new WithToJson() }]) {
      expect(() => canonicalJson(value)).toThrow(/cannot encode/);
    }
    expect(canonicalJson(Object.assign(Object.create(null) as object, { b: 1, a: 2 }))).toBe('{"a":2,"b":1}');
    expect(canonicalJson(new (class { x = 1; })())).toBe('{"x":1}');
  });
});
