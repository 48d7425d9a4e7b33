import fc from 'fast-check';
import { AuthorizationBook } from './authorization-book';

const PROPERTY_SEED = Number(process.env.CARD_PROPERTY_SEED ?? 20261124);

describe('AuthorizationBook', () => {
  it('with and without answer new books and leave the old ones as they were', () => {
    const empty = AuthorizationBook.empty<number>();
    const one = empty.with('a', 1);
    const two = one.with('b', 2);
    const changed = two.with('a', 10);
    const dropped = changed.without(['b', 'missing']);
    expect([empty.size, one.size, two.size, changed.size, dropped.size]).toEqual([0, 1, 2, 2, 1]);
    expect([one.get('a'), two.get('a'), changed.get('a'), dropped.get('a')]).toEqual([1, 1, 10, 10]);
    expect([two.has('b'), dropped.has('b'), empty.has('a')]).toEqual([true, false, false]);
    expect(dropped.without(['nothing'])).toBe(dropped);
    expect(new Map(two)).toEqual(new Map([['a', 1], ['b', 2]]));
  });

  it('behaves as a Map under any sequence of sets and deletes, every earlier version unchanged', () => {
    const key = fc.constantFrom(...Array.from({ length: 80 }, (_, n) => `auth-${n}`));
    const step = fc.oneof(fc.tuple(fc.constant('set' as const), key, fc.integer()), fc.tuple(fc.constant('delete' as const), fc.array(key, { maxLength: 5 }), fc.constant(0)));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const versions: { book: AuthorizationBook<number>; model: Map<string, number> }[] = [{ book: AuthorizationBook.empty(), model: new Map() }];
        for (const [kind, keys, value] of steps) {
          const { book, model } = versions[versions.length - 1];
          const next = new Map(model);
          if (kind === 'set') next.set(keys as string, value);
          else for (const each of keys as string[]) next.delete(each);
          versions.push({ book: kind === 'set' ? book.with(keys as string, value) : book.without(keys as string[]), model: next });
        }
        for (const { book, model } of versions) {
          expect(book.size).toBe(model.size);
          expect(new Map(book)).toEqual(model);
          for (const [each, value] of model) expect(book.get(each)).toBe(value);
        }
      }),
      { seed: PROPERTY_SEED, numRuns: 100 },
    );
  });
});
