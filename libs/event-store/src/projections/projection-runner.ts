// Runs one projection (DESIGN.md §4 Projections): reads its streams from the event store from
// its checkpoint and applies them to its own SQLite database, each page of events in one
// transaction together with the checkpoint, so the rows and the checkpoint never disagree.
//
// How it reads: the runner pulls pages with `readAll({afterPosition, maxCount, streamPrefixes})`
// and commits each page in one transaction; `subscribe` is only a wake-up signal (its handler
// ignores the event), plus an idle poll in case a wake-up never comes. Pulling pages gives
// batches without guessing when a push subscription "has no more for now", and it tells the
// runner how far it has looked even when the newest events belong to other streams (`processedThrough`).
import type Database from 'better-sqlite3';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RecordedEvent } from '@ledger/contracts';
import { checkedInt } from '../checked-int';
import { EventStoreClosedError, type EventStore, type Subscription } from '../event-store.port';
import { isTransientSqliteError, readRetryBackoffMs, retryPause } from '../read-retry';

/** Most events applied in one SQLite transaction (one page read from the store). */
export const PROJECTION_BATCH_MAX = 500;
/** How long an idle runner waits for a wake-up before it looks at the store's head anyway. */
export const PROJECTION_IDLE_POLL_MS = 1_000;
/** How long `waitUntil` waits unless told otherwise, and the most it may be told. */
export const PROJECTION_WAIT_TIMEOUT_MS_DEFAULT = 5_000;
export const PROJECTION_WAIT_TIMEOUT_MS_MAX = 60_000;
/** Most `waitUntil` calls pending at once; beyond it a call answers false at once (not reached). */
export const PROJECTION_WAITERS_MAX = 10_000;
export const PROJECTION_NAME_LENGTH_MAX = 128;

/** A read model built from events. Everything it does to `db` happens inside the runner's transactions. */
export interface Projection {
  /** Its row in `checkpoints`; several projections may share one database. */
  readonly name: string;
  /** The streams it reads (non-empty). */
  readonly streamPrefixes: readonly string[];
  /** Creates its tables if they are missing; runs on every start, in a transaction. */
  setup(db: Database.Database): void;
  /**
   * Applies one event, synchronously (it runs inside the batch's transaction). Throwing stops the
   * runner and rolls the whole batch back, checkpoint included (a lock, I/O error or full disk
   * of SQLite's is only rolled back and tried again).
   */
  apply(db: Database.Database, event: RecordedEvent): void;
  /**
   * Optional: applies a whole page (position order, none at or below the checkpoint) inside the
   * batch's transaction, leaving exactly the rows `apply` on each event would; lets a projection
   * read and write each row it touches once per page instead of once per event.
   */
  applyBatch?(db: Database.Database, events: readonly RecordedEvent[]): void;
  /**
   * Optional: told that a batch it applied was rolled back (its `apply` threw, or the checkpoint
   * or the commit failed), so whatever it keeps in memory about `db`'s rows must be dropped.
   */
  rolledBack?(db: Database.Database): void;
}

export interface ProjectionRunnerOptions {
  readonly store: EventStore;
  /** The projection's own database (see `openProjectionDb`); the caller opens and closes it. */
  readonly db: Database.Database;
  readonly projection: Projection;
  /** Events per transaction; default PROJECTION_BATCH_MAX. */
  readonly batchMax?: number;
  readonly idlePollMs?: number;
}

const CHECKPOINTS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

type RunnerState = 'new' | 'running' | 'stopped' | 'failed';

interface Waiter {
  readonly position: bigint;
  readonly resolve: (reached: boolean) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

export class ProjectionRunner {
  /** Resolves when stopped by `stop()`; rejects with the error that stopped the runner (a failing `apply`, a closed store). */
  readonly closed: Promise<void>;
  private readonly store: EventStore;
  private readonly db: Database.Database;
  private readonly projection: Projection;
  private readonly batchMax: number;
  private readonly idlePollMs: number;
  private state: RunnerState = 'new';
  private failure: unknown;
  /** Last position applied and committed (the stored checkpoint). */
  private checkpoint = 0n;
  /** Every event of the projection's streams at or below this is applied (>= checkpoint). */
  private scanned = 0n;
  private loop: Promise<void> | undefined;
  private wakeSubscription: Subscription | undefined;
  private wakePending = false;
  private wakeWaiter: (() => void) | undefined;
  private readonly waiters = new Set<Waiter>();
  /** Aborted by stop() or a failure: cuts a retry's pause short. */
  private readonly stopped = new AbortController();
  private settleClosed!: { resolve: () => void; reject: (error: unknown) => void };
  private applier!: ProjectionApplier;

  constructor(options: ProjectionRunnerOptions) {
    const { projection } = options;
    if (typeof projection.name !== 'string' || projection.name.length === 0 || projection.name.length > PROJECTION_NAME_LENGTH_MAX) {
      throw new RangeError(`projection name must be 1 to ${PROJECTION_NAME_LENGTH_MAX} characters`);
    }
    if (!Array.isArray(projection.streamPrefixes) || projection.streamPrefixes.length === 0) {
      throw new RangeError(`projection ${projection.name}: streamPrefixes must not be empty`);
    }
    this.store = options.store;
    this.db = options.db;
    this.projection = projection;
    this.batchMax = checkedInt('batchMax', options.batchMax ?? PROJECTION_BATCH_MAX, 1, 100_000);
    this.idlePollMs = checkedInt('idlePollMs', options.idlePollMs ?? PROJECTION_IDLE_POLL_MS, 1, 600_000);
    this.closed = new Promise<void>((resolve, reject) => {
      this.settleClosed = { resolve, reject };
    });
    // The owner is told through `closed` and `waitUntil`; an unobserved failure must not take the process down.
    this.closed.catch(() => undefined);
  }

  /** Creates the tables, loads the checkpoint and starts applying in the background. Once only. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`projection ${this.projection.name}: start() on a ${this.state} runner`);
    this.state = 'running';
    try {
      this.applier = projectionApplier(this.db, this.projection);
      this.checkpoint = this.applier.checkpoint();
      this.scanned = this.checkpoint;
      // Only events after the head as of now need a wake-up: the loop reads everything up to it first.
      const head = await this.store.headPosition();
      if (!this.isRunning()) return;
      // A store only grows, so this file was built from another one: going on would skip every event up to the checkpoint.
      if (this.checkpoint > head) {
        throw new Error(`projection ${this.projection.name}: checkpoint ${this.checkpoint} is beyond the event store's head ${head}: its database was built from another store; rebuild it`);
      }
      this.wakeSubscription = this.store.subscribe(() => this.wake(), {
        afterPosition: head,
        streamPrefixes: this.projection.streamPrefixes,
      });
      this.wakeSubscription.closed.catch((error: unknown) => this.fail(error));
    } catch (error) {
      this.fail(error);
      throw error;
    }
    this.loop = this.run();
  }

  /** Stops after the batch in flight (a batch is never half applied); idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'new' || this.state === 'running') {
      this.state = 'stopped';
      this.stopped.abort();
      this.wake();
      if (this.loop === undefined) this.settleClosed.resolve();
    }
    await this.loop;
    await this.wakeSubscription?.stop();
    this.settleWaiters();
  }

  /** The stored checkpoint: position of the last event applied. */
  position(): bigint {
    return this.checkpoint;
  }

  /** Every event of the projection's streams up to this position is applied (other streams' events are past too). */
  processedThrough(): bigint {
    return this.scanned;
  }

  /** True when running and everything up to `headPosition` is applied: what readiness asks. */
  caughtUp(headPosition: bigint): boolean {
    return this.state === 'running' && this.scanned >= headPosition;
  }

  /**
   * Resolves true once everything up to `position` is applied (read-your-writes: pass the
   * append's position), false when `timeoutMs` passes first or the runner stops; rejects with
   * the runner's failure.
   */
  waitUntil(position: bigint, timeoutMs: number = PROJECTION_WAIT_TIMEOUT_MS_DEFAULT): Promise<boolean> {
    checkedInt('timeoutMs', timeoutMs, 0, PROJECTION_WAIT_TIMEOUT_MS_MAX);
    if (this.state === 'failed') return Promise.reject(this.failure);
    if (this.scanned >= position) return Promise.resolve(true);
    if (this.state === 'stopped' || this.waiters.size >= PROJECTION_WAITERS_MAX) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        position,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      // The position may be past events of other streams, which never wake the runner: look now
      // rather than at the next idle poll.
      this.wake();
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    try {
      const streamPrefixes = this.projection.streamPrefixes;
      while (this.isRunning()) {
        let applying = false;
        try {
          const head = await this.store.headPosition();
          if (!this.isRunning()) break;
          if (head <= this.scanned) {
            await this.nextWake();
            continue;
          }
          const page = await this.store.readAll({ afterPosition: this.scanned, maxCount: this.batchMax, streamPrefixes });
          if (!this.isRunning()) break;
          if (page.length === 0) {
            // Nothing of ours up to the head read before the page. A non-empty page may have been
            // cut short by the store's own page limit, so only an empty one moves us to the head.
            this.scanned = head;
          } else {
            applying = true;
            this.checkpoint = this.applier.applyBatch(page);
            this.scanned = page[page.length - 1].position;
          }
          failures = 0;
          this.settleWaiters();
          // At the head: anything of ours appended since wakes us (the subscription delivers every
          // event after the head it started from), so there is no need to ask for the head again.
          if (this.scanned >= head) await this.nextWake();
          else await yieldToEventLoop(); // a long catch-up must not starve I/O and timers
        } catch (error) {
          // A read of the store, or a lock, I/O error or full disk at the page's commit, passes: try
          // again after a pause (not caught up meanwhile). The projection's own error would recur.
          if (error instanceof EventStoreClosedError || (applying && !isTransientSqliteError(error))) throw error;
          failures++;
          await retryPause(readRetryBackoffMs(failures), this.stopped.signal);
        }
      }
      this.settleClosed.resolve();
    } catch (error) {
      this.fail(error);
    }
  }

  private isRunning(): boolean {
    return this.state === 'running';
  }

  private fail(error: unknown): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.failure = error;
    this.stopped.abort();
    this.wake();
    this.settleClosed.reject(error);
    void this.wakeSubscription?.stop();
    this.settleWaiters();
  }

  private settleWaiters(): void {
    for (const waiter of this.waiters) {
      const reached = this.scanned >= waiter.position;
      if (!reached && this.state === 'running') continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      if (reached) waiter.resolve(true);
      else if (this.state === 'failed') waiter.reject(this.failure);
      else waiter.resolve(false);
    }
  }

  private nextWake(): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.idlePollMs);
      this.wakeWaiter = done;
    });
  }

  private wake(): void {
    if (this.wakeWaiter !== undefined) this.wakeWaiter();
    else this.wakePending = true;
  }
}

/** Applies pages of events to a projection's database: what the runner does, and what a rebuild (the audit CLI) reuses. */
export interface ProjectionApplier {
  /** The stored checkpoint: position of the last event applied (0n when none). */
  checkpoint(): bigint;
  /**
   * Applies `events` (in position order, of the projection's streams) in one immediate
   * transaction with the checkpoint; events at or below the checkpoint are skipped. Returns the
   * new checkpoint. A throwing `apply` rolls the whole page back.
   */
  applyBatch(events: readonly RecordedEvent[]): bigint;
  /**
   * What `applyBatch` does, but inside the caller's open transaction and without a savepoint of
   * its own (a rebuild's bulk load: a savepoint copies every page it touches aside). When it
   * throws, rows may be half written: the caller must roll its transaction back, then call `rolledBack`.
   */
  applyInTransaction(events: readonly RecordedEvent[]): bigint;
  /** Tells the projection that what it applied since the caller's last commit was rolled back. */
  rolledBack(): void;
}

/** Creates the checkpoints table and the projection's own tables (in one transaction), then applies pages. */
export function projectionApplier(db: Database.Database, projection: Projection): ProjectionApplier {
  db.transaction(() => {
    db.exec(CHECKPOINTS_SCHEMA);
    projection.setup(db);
  }).immediate();
  const selectCheckpoint = db.prepare<[string], { position: bigint }>('SELECT position FROM checkpoints WHERE name = ?').safeIntegers(true);
  const upsertCheckpoint = db.prepare<[string, bigint]>(
    'INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position',
  );
  const name = projection.name;
  const checkpoint = (): bigint => selectCheckpoint.get(name)?.position ?? 0n;
  const apply = (events: readonly RecordedEvent[]): bigint => {
    // Read inside the (immediate) transaction, so a second runner on the same file cannot apply twice.
    const stored = checkpoint();
    let last = stored;
    const fresh = events.filter((event) => {
      if (event.position <= last) return false; // at or below the checkpoint: applied before
      last = event.position;
      return true;
    });
    if (fresh.length === 0) return stored;
    if (projection.applyBatch !== undefined) projection.applyBatch(db, fresh);
    else for (const event of fresh) projection.apply(db, event);
    upsertCheckpoint.run(name, last);
    return last;
  };
  const batch = db.transaction(apply);
  const rolledBack = (): void => projection.rolledBack?.(db);
  const applyBatch = (events: readonly RecordedEvent[]): bigint => {
    try {
      return batch.immediate(events);
    } catch (error) {
      rolledBack();
      throw error;
    }
  };
  const applyInTransaction = (events: readonly RecordedEvent[]): bigint => {
    if (!db.inTransaction) throw new Error(`projection ${name}: applyInTransaction outside a transaction`);
    return apply(events);
  };
  return { checkpoint, applyBatch, applyInTransaction, rolledBack };
}
