// The shard writer's pending holds by expiry, soonest first (a binary min-heap), so that its sweep
// looks only at holds that are due instead of at every hold the shard remembers (finished ones
// stay in the state for a day). Entries are not removed when a hold settles early: the sweep checks
// each entry it takes against the state (a hold captured, released, or placed again since).

export interface HoldExpiry {
  readonly holdId: string;
  readonly expiresAtMs: number;
}

export class HoldExpiryQueue {
  private heap: HoldExpiry[] = [];

  get size(): number {
    return this.heap.length;
  }

  add(holdId: string, expiresAtMs: number): void {
    const heap = this.heap;
    heap.push({ holdId, expiresAtMs });
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent].expiresAtMs <= heap[index].expiresAtMs) break;
      [heap[parent], heap[index]] = [heap[index], heap[parent]];
      index = parent;
    }
  }

  /** Removes and returns the entry due soonest if it is due at `nowMs` (expiresAtMs <= nowMs); otherwise undefined. */
  takeDue(nowMs: number): HoldExpiry | undefined {
    const heap = this.heap;
    if (heap.length === 0 || heap[0].expiresAtMs > nowMs) return undefined;
    const due = heap[0];
    const last = heap.pop()!;
    if (heap.length === 0) return due;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && heap[left].expiresAtMs < heap[smallest].expiresAtMs) smallest = left;
      if (right < heap.length && heap[right].expiresAtMs < heap[smallest].expiresAtMs) smallest = right;
      if (smallest === index) return due;
      [heap[smallest], heap[index]] = [heap[index], heap[smallest]];
      index = smallest;
    }
  }

  clear(): void {
    this.heap = [];
  }
}
