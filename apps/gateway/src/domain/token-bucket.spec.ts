import { TokenBuckets } from './token-bucket';

describe('token buckets', () => {
  const limit = { burst: 3, perMinute: 60 }; // one token a second

  it('lets a burst through, then refuses with the time until the next token', () => {
    const buckets = new TokenBuckets(10);
    expect([1, 2, 3].map(() => buckets.take('a', limit, 0).allowed)).toEqual([true, true, true]);
    expect(buckets.take('a', limit, 0)).toEqual({ allowed: false, retryAfterMs: 1_000 });
    expect(buckets.take('a', limit, 400)).toEqual({ allowed: false, retryAfterMs: 600 });
    expect(buckets.take('a', limit, 1_000)).toEqual({ allowed: true });
  });

  it('refills continuously up to the burst, never beyond', () => {
    const buckets = new TokenBuckets(10);
    for (let i = 0; i < 3; i++) buckets.take('a', limit, 0);
    const later = 3_600_000;
    expect([1, 2, 3, 4].map(() => buckets.take('a', limit, later).allowed)).toEqual([true, true, true, false]);
  });

  it('keeps keys apart', () => {
    const buckets = new TokenBuckets(10);
    for (let i = 0; i < 3; i++) buckets.take('a', limit, 0);
    expect(buckets.take('a', limit, 0).allowed).toBe(false);
    expect(buckets.take('b', limit, 0).allowed).toBe(true);
  });

  it('remembers at most bucketsMax keys, forgetting the least recently used once it has refilled', () => {
    const buckets = new TokenBuckets(2);
    for (let i = 0; i < 3; i++) buckets.take('a', limit, 0);
    buckets.take('b', limit, 0);
    buckets.take('a', limit, 0); // a is now the most recent
    buckets.take('c', limit, 1_000); // evicts b, full again
    expect(buckets.size).toBe(2);
    expect([1, 2].map(() => buckets.take('a', limit, 1_000).allowed)).toEqual([true, false]); // still remembered: one token refilled
  });

  it('never forgets a bucket that still limits: a flood of new keys is refused until the oldest has refilled', () => {
    const buckets = new TokenBuckets(3);
    for (let i = 0; i < 3; i++) buckets.take('victim@example.com', limit, 0);
    expect(buckets.take('victim@example.com', limit, 0).allowed).toBe(false);
    // Made-up emails fill the table; the next one would have evicted the drained bucket, which then started full.
    expect(buckets.take('x1', limit, 0).allowed).toBe(true);
    expect(buckets.take('x2', limit, 0).allowed).toBe(true);
    expect(buckets.take('x3', limit, 500)).toEqual({ allowed: false, retryAfterMs: 500 }); // x1 and x2 refill first, at 1 s
    expect(buckets.take('victim@example.com', limit, 500).allowed).toBe(false);
    // Once one has refilled, forgetting it loses nothing: the new key takes its place.
    expect(buckets.take('x3', limit, 1_000).allowed).toBe(true);
    expect(buckets.size).toBe(3);
    expect([1, 2].map(() => buckets.take('victim@example.com', limit, 1_000).allowed)).toEqual([true, false]); // one token refilled, not three
  });

  it('forgets a refilled bucket behind a drained one at the front, and keeps the drained one', () => {
    const buckets = new TokenBuckets(3);
    for (let i = 0; i < 3; i++) buckets.take('drained', limit, 0);
    buckets.take('b', limit, 0);
    buckets.take('c', limit, 0);
    // At 2 s b and c are full again, the drained one is not (3 s): the new key takes b's place.
    expect(buckets.take('d', limit, 2_000).allowed).toBe(true);
    expect(buckets.size).toBe(3);
    expect([1, 2, 3].map(() => buckets.take('drained', limit, 2_000).allowed)).toEqual([true, true, false]);
  });

  it('refills nothing when the clock steps back', () => {
    const buckets = new TokenBuckets(10);
    for (let i = 0; i < 3; i++) buckets.take('a', limit, 10_000);
    expect(buckets.take('a', limit, 0).allowed).toBe(false);
  });
});
