// A card's authorizations as a persistent map: `with` and `without` answer a new book and leave
// the old one as it was (evolve is pure, and cached states are read by others), copying one
// bucket of BUCKETS instead of every authorization the card holds, as a copied Map would.

/** Buckets a book is split into: a change copies this many references plus one bucket. */
const BUCKETS = 32;

export class AuthorizationBook<V> implements ReadonlyMap<string, V> {
  static empty<V>(): AuthorizationBook<V> {
    return new AuthorizationBook<V>(Array.from({ length: BUCKETS }, () => new Map<string, V>()), 0);
  }

  private constructor(
    private readonly buckets: readonly ReadonlyMap<string, V>[],
    readonly size: number,
  ) {}

  get(key: string): V | undefined {
    return this.buckets[bucketOf(key)].get(key);
  }

  has(key: string): boolean {
    return this.buckets[bucketOf(key)].has(key);
  }

  /** This book with `key` set to `value`. */
  with(key: string, value: V): AuthorizationBook<V> {
    const index = bucketOf(key);
    const bucket = new Map(this.buckets[index]);
    const added = !bucket.has(key);
    bucket.set(key, value);
    return this.replaced(index, bucket, added ? this.size + 1 : this.size);
  }

  /** This book without `keys` (itself when it holds none of them). */
  without(keys: readonly string[]): AuthorizationBook<V> {
    let buckets: ReadonlyMap<string, V>[] | undefined;
    let size = this.size;
    for (const key of keys) {
      const index = bucketOf(key);
      const current = (buckets ?? this.buckets)[index];
      if (!current.has(key)) continue;
      buckets ??= [...this.buckets];
      const bucket = current === this.buckets[index] ? new Map(current) : (current as Map<string, V>);
      bucket.delete(key);
      buckets[index] = bucket;
      size--;
    }
    return buckets === undefined ? this : new AuthorizationBook(buckets, size);
  }

  *entries(): MapIterator<[string, V]> {
    for (const bucket of this.buckets) yield* bucket.entries();
  }

  *keys(): MapIterator<string> {
    for (const bucket of this.buckets) yield* bucket.keys();
  }

  *values(): MapIterator<V> {
    for (const bucket of this.buckets) yield* bucket.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  private replaced(index: number, bucket: ReadonlyMap<string, V>, size: number): AuthorizationBook<V> {
    const buckets = [...this.buckets];
    buckets[index] = bucket;
    return new AuthorizationBook(buckets, size);
  }
}

/** FNV-1a of the key, folded to a bucket: the same key always lands in the same bucket. */
function bucketOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % BUCKETS;
}
