// A bounded map that forgets the least recently used entry first (a Map keeps insertion order,
// so a hit moves its entry to the end): for the gateway's caches of facts that never change.
export class RecentlyUsed<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    while (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (oldest.done) return;
      this.entries.delete(oldest.value);
    }
    if (this.max > 0) this.entries.set(key, value);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
