// Token buckets for rate limits: pure (time is passed in), bounded in how many it remembers.

export interface BucketLimit {
  /** Tokens a full bucket holds: the burst a quiet client may send at once. */
  readonly burst: number;
  /** Tokens added per minute, continuously. */
  readonly perMinute: number;
}

export type TakeResult = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** Buckets a new key looks at for a refilled one to forget when the set is full (a bounded cost per refused request). */
const EVICTION_LOOKS_MAX = 8;

interface Bucket {
  tokens: number;
  updatedAtMs: number;
  /** Its limit, as last taken with: when it is full again (as good as a new one) and may be forgotten. */
  burst: number;
  refillPerMs: number;
}

/**
 * Buckets by key, at most `bucketsMax` of them: a new key beyond it evicts the least recently used
 * one that has refilled (forgetting it changes nothing). While those it looks at still limit, the new
 * key is refused until one has: evicted early, a guesser's per-email bucket was reset by a flood of
 * made-up emails, and started full again.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly bucketsMax: number) {
    if (!Number.isSafeInteger(bucketsMax) || bucketsMax < 1) throw new RangeError('bucketsMax must be a positive integer');
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token from `key`'s bucket if it has one. */
  take(key: string, limit: BucketLimit, nowMs: number): TakeResult {
    const refillPerMs = limit.perMinute / 60_000;
    const known = this.buckets.get(key);
    let bucket: Bucket;
    if (known === undefined) {
      if (this.buckets.size >= this.bucketsMax) {
        const refilledInMs = this.forgetOneRefilled(nowMs);
        if (refilledInMs > 0) return { allowed: false, retryAfterMs: refilledInMs };
      }
      bucket = { tokens: limit.burst, updatedAtMs: nowMs, burst: limit.burst, refillPerMs };
    } else {
      bucket = known;
      this.buckets.delete(key); // re-inserted below: Map order is recency order
      const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs); // a clock that steps back refills nothing
      bucket.tokens = Math.min(limit.burst, bucket.tokens + elapsedMs * refillPerMs);
      bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs);
      bucket.burst = limit.burst;
      bucket.refillPerMs = refillPerMs;
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / refillPerMs) };
  }

  /**
   * Forgets the least recently used bucket that has refilled, looking at up to EVICTION_LOOKS_MAX of the oldest; one still
   * limiting goes to the back, so a drained one at the front does not hold the place of the refilled ones behind it. 0 once one
   * is forgotten, else the ms until the soonest looked at refills.
   */
  private forgetOneRefilled(nowMs: number): number {
    let soonestMs = Infinity;
    for (let looks = 0; looks < EVICTION_LOOKS_MAX; looks++) {
      const [key, bucket] = this.buckets.entries().next().value as [string, Bucket];
      this.buckets.delete(key);
      const refilledInMs = (bucket.burst - bucket.tokens) / bucket.refillPerMs - Math.max(0, nowMs - bucket.updatedAtMs);
      if (refilledInMs <= 0) return 0;
      this.buckets.set(key, bucket);
      soonestMs = Math.min(soonestMs, Math.ceil(refilledInMs));
    }
    return soonestMs;
  }

  /** Puts back the token a request took when another limit refused it after all (never beyond a full bucket). */
  giveBack(key: string, limit: BucketLimit): void {
    const bucket = this.buckets.get(key);
    if (bucket !== undefined) bucket.tokens = Math.min(limit.burst, bucket.tokens + 1);
  }
}
