// One piece of work at a time per key, in this process: later work of a key waits for the earlier.
// Entries go once their key is idle, so the map holds only keys with work queued or running.
export class KeyedLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `work` after every earlier work of the same key has finished (whether it threw or not). */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    });
    return run;
  }

  /** Keys with work queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
