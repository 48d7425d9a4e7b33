// The shard writer's pending holds by expiry, soonest first (a binary min-heap), so that its sweep
// looks only at holds that are due instead of at every hold the shard remembers (finished ones
// stay in the state for a day). One entry per hold, found through an index: a hold settled early
// leaves the queue at once (`remove`), so the queue never holds more than the shard's pending holds
// (left to their expiry, up to 31 days, settled holds outnumbered what the state keeps many times).

export interface HoldExpiry {
  readonly holdId: string;
  readonly expiresAtMs: number;
}

export class HoldExpiryQueue {
  private heap: HoldExpiry[] = [];
  /** Hold id -> where its entry sits in `heap`. */
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.heap.length;
  }

  /** Queues the hold's expiry; a hold queued already is moved to its new time. */
  add(holdId: string, expiresAtMs: number): void {
    const at = this.index.get(holdId);
    if (at !== undefined) {
      this.heap[at] = { holdId, expiresAtMs };
      this.siftDown(this.siftUp(at));
      return;
    }
    this.heap.push({ holdId, expiresAtMs });
    this.index.set(holdId, this.heap.length - 1);
    this.siftUp(this.heap.length - 1);
  }

  /** Takes the hold out (settled before its expiry); nothing when it is not queued. */
  remove(holdId: string): void {
    const at = this.index.get(holdId);
    if (at !== undefined) this.removeAt(at);
  }

  /** Removes and returns the entry due soonest if it is due at `nowMs` (expiresAtMs <= nowMs); otherwise undefined. */
  takeDue(nowMs: number): HoldExpiry | undefined {
    const due = this.heap[0];
    if (due === undefined || due.expiresAtMs > nowMs) return undefined;
    this.removeAt(0);
    return due;
  }

  clear(): void {
    this.heap = [];
    this.index.clear();
  }

  private removeAt(at: number): void {
    const heap = this.heap;
    this.index.delete(heap[at].holdId);
    const last = heap.pop()!;
    if (at === heap.length) return;
    heap[at] = last;
    this.index.set(last.holdId, at);
    this.siftDown(this.siftUp(at));
  }

  /** Moves the entry at `index` up to its place; returns where it ends. */
  private siftUp(index: number): number {
    const heap = this.heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent].expiresAtMs <= heap[index].expiresAtMs) break;
      this.swap(parent, index);
      index = parent;
    }
    return index;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && heap[left].expiresAtMs < heap[smallest].expiresAtMs) smallest = left;
      if (right < heap.length && heap[right].expiresAtMs < heap[smallest].expiresAtMs) smallest = right;
      if (smallest === index) return;
      this.swap(smallest, index);
      index = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    [heap[a], heap[b]] = [heap[b], heap[a]];
    this.index.set(heap[a].holdId, a);
    this.index.set(heap[b].holdId, b);
  }
}
