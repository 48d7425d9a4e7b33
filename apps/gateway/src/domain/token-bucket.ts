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
}

/**
 * Buckets by key, at most `bucketsMax` of them: a new key beyond it evicts the least recently
 * used one (which then starts full again; a client that quiet has refilled anyway, mostly).
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
      bucket = { tokens: limit.burst, updatedAtMs: nowMs };
      if (this.buckets.size >= this.bucketsMax) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    } else {
      bucket = known;
      this.buckets.delete(key); // re-inserted below: Map order is recency order
      const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs); // a clock that steps back refills nothing
      bucket.tokens = Math.min(limit.burst, bucket.tokens + elapsedMs * refillPerMs);
      bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs);
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
