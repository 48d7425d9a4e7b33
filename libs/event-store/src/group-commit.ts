// Group commit over `EventStore.appendMany`: appends that arrive in the same turn of the event
// loop go to the store together, in one durable commit (one fsync for all of them). Each caller
// still waits for its own append and gets its own outcome; a refused one gets its own error.
import type { AppendRequest, AppendResult, EventStore } from './event-store.port';
import { APPEND_EVENTS_MAX } from './sqlite/sqlite-event-store';

export interface GroupCommitLimits {
  /** Most appends one commit carries (default 512); the rest go in the next one. */
  readonly maxRequests?: number;
  /** Most events one commit carries (default APPEND_EVENTS_MAX); a larger single append goes alone. */
  readonly maxEvents?: number;
}

interface Queued {
  readonly request: AppendRequest;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit {
  private readonly queue: Queued[] = [];
  private scheduled = false;
  private readonly maxRequests: number;
  private readonly maxEvents: number;

  constructor(
    private readonly store: EventStore,
    limits: GroupCommitLimits = {},
  ) {
    this.maxRequests = limits.maxRequests ?? 512;
    this.maxEvents = limits.maxEvents ?? APPEND_EVENTS_MAX;
  }

  /** As `store.append`, committed with the other appends of this turn of the event loop. */
  append(request: AppendRequest): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
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
    if (this.queue.length > 0) this.schedule();
    try {
      const outcomes = await this.store.appendMany(batch.map((each) => each.request));
      outcomes.forEach((outcome, index) => (outcome.ok ? batch[index].resolve(outcome.result) : batch[index].reject(outcome.error)));
    } catch (error) {
      for (const each of batch) each.reject(error);
    }
  }
}
