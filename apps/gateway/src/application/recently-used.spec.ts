import { RecentlyUsed } from './recently-used';

describe('RecentlyUsed', () => {
  it('keeps at most max entries, forgetting the least recently used first', () => {
    const cache = new RecentlyUsed<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // now b is the oldest
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([1, undefined, 3]);
    expect(cache.size).toBe(2);
  });

  it('replaces a key in place, deletes, and keeps nothing when max is 0', () => {
    const cache = new RecentlyUsed<string, number>(2);
    cache.set('a', 1);
    cache.set('a', 2);
    expect([cache.size, cache.get('a')]).toEqual([1, 2]);
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
    const none = new RecentlyUsed<string, number>(0);
    none.set('a', 1);
    expect(none.size).toBe(0);
  });
});
