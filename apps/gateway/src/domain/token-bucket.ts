// Token buckets for rate limits: pure (time is passed in), bounded in how many it remembers.

export interface BucketLimit {
  /** Tokens a full bucket holds: the burst a quiet client may send at once. */
  readonly burst: number;
  /** Tokens added per minute, continuously. */
  readonly perMinute: number;
}

export type TakeResult = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAtMs: number;
  /** Its limit, as last taken with: when it is full again (as good as a new one) and may be forgotten. */
  burst: number;
  refillPerMs: number;
}

/**
 * Buckets by key, at most `bucketsMax` of them: a new key beyond it evicts the least recently used
 * one once it has refilled (forgetting it changes nothing). While that one still limits, the new
 * key is refused until it has: evicted early, a guesser's per-email bucket was reset by a flood of
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
        const [oldestKey, oldest] = this.buckets.entries().next().value as [string, Bucket];
        const fullInMs = (oldest.burst - oldest.tokens) / oldest.refillPerMs - Math.max(0, nowMs - oldest.updatedAtMs);
        if (fullInMs > 0) return { allowed: false, retryAfterMs: Math.ceil(fullInMs) };
        this.buckets.delete(oldestKey);
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

  /** Puts back the token a request took when another limit refused it after all (never beyond a full bucket). */
  giveBack(key: string, limit: BucketLimit): void {
    const bucket = this.buckets.get(key);
    if (bucket !== undefined) bucket.tokens = Math.min(limit.burst, bucket.tokens + 1);
  }
}
