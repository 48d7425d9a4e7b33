// Group commit over `EventStore.appendMany`: appends that arrive in the same turn of the event
// loop, or while the previous commit is in flight, go to the store together, in one durable commit
// (one fsync for all of them). Each caller still waits for its own append and gets its own outcome;
// a refused one gets its own error.
import type { AppendRequest, AppendResult, EventStore } from './event-store.port';
import { checkedInt } from './checked-int';
import { APPEND_EVENTS_MAX, APPEND_REQUESTS_MAX } from './sqlite/sqlite-event-store';
import { errorName } from './sqlite/sqlite-writer-thread';

/** Most appends one group commit carries unless configured; the rest go in the next one. */
export const GROUP_COMMIT_REQUESTS_MAX_DEFAULT = 512;

export interface GroupCommitLimits {
  /** Most appends one commit carries (default GROUP_COMMIT_REQUESTS_MAX_DEFAULT); the rest go in the next one. */
  readonly maxRequests?: number;
  /** Most events one commit carries (default APPEND_EVENTS_MAX); a larger single append goes alone. */
  readonly maxEvents?: number;
}

interface Queued {
  readonly request: AppendRequest;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

/** The one shared group commit of each store (see `GroupCommit.of`). */
const sharedByStore = new WeakMap<EventStore, GroupCommit>();

export class GroupCommit {
  /** The store's group commit shared by every service of this process: all their appends of a turn in one commit. */
  static of(store: EventStore): GroupCommit {
    let shared = sharedByStore.get(store);
    if (shared === undefined) {
      shared = new GroupCommit(store);
      sharedByStore.set(store, shared);
    }
    return shared;
  }

  private readonly queue: Queued[] = [];
  private scheduled = false;
  /** One appendMany at a time: appends arriving meanwhile wait and share the next commit. */
  private inFlight = false;
  private readonly maxRequests: number;
  private readonly maxEvents: number;

  constructor(
    private readonly store: EventStore,
    limits: GroupCommitLimits = {},
  ) {
    this.maxRequests = checkedInt('maxRequests', limits.maxRequests ?? GROUP_COMMIT_REQUESTS_MAX_DEFAULT, 1, APPEND_REQUESTS_MAX);
    this.maxEvents = checkedInt('maxEvents', limits.maxEvents ?? APPEND_EVENTS_MAX, 1, APPEND_EVENTS_MAX);
  }

  /** As `store.append`, committed with the other appends of this turn (or of the commit in flight). */
  append(request: AppendRequest): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    let events = 0;
    let count = 0;
    while (count < this.queue.length && count < this.maxRequests) {
      const size = this.queue[count].request.events.length;
      if (count > 0 && events + size > this.maxEvents) break;
      events += size;
      count++;
    }
    const batch = this.queue.splice(0, count);
    this.inFlight = true;
    try {
      await this.commit(batch);
    } finally {
      this.inFlight = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  private async commit(batch: readonly Queued[]): Promise<void> {
    try {
      const outcomes = await this.store.appendMany(batch.map((each) => each.request));
      outcomes.forEach((outcome, index) => (outcome.ok ? batch[index].resolve(outcome.result) : batch[index].reject(outcome.error)));
    } catch (error) {
      if (batch.length === 1 || !isRefusedRequest(error)) {
        for (const each of batch) each.reject(error);
        return;
      }
      // One caller's bad request refused the whole call, which wrote nothing: each goes alone, in
      // order, so only that caller gets the error.
      for (const each of batch) await this.commit([each]);
    }
  }
}

/** A TypeError or RangeError: what a store throws for a request it refuses as given (a bad id, data it cannot encode), never for the store's state. */
function isRefusedRequest(error: unknown): boolean {
  const name = errorName(error);
  return name === 'TypeError' || name === 'RangeError';
}
