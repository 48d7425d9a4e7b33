// The one writer of a ledger shard (DESIGN.md §4): keeps the shard's state in memory, decides
// queued commands in order against it, and appends each batch's events in ONE append with the
// expected revision (group commit). Replies leave only after that append is durable.
import {
  commandMetaOf,
  domainError,
  toIsoTime,
  type Clock,
  type DomainError,
  type IdGenerator,
  type Json,
  type LedgerCommandEnvelope,
  type NewEvent,
  type Reply,
} from '@ledger/contracts';
import { APPEND_EVENTS_MAX, expectedState, WrongExpectedVersionError, type EventStore } from '@ledger/event-store';
import {
  decide,
  evolve,
  fromSnapshotParts,
  initialState,
  ledgerEventOf,
  openSystemAccount,
  outcomeOf,
  POSTINGS_MAX,
  rejectionEvent,
  shardOf,
  snapshotParts,
  postedEntryOf,
  type CommandOutcome,
  type EntryPosted,
  type LedgerAcceptedEvent,
  type LedgerCommand,
  type LedgerContext,
  type LedgerEvent,
  type LedgerShardState,
} from '@ledger/ledger';

import { holdExpiryKey, planCommand, replyFor } from '../domain/wallet-commands';
import { HoldExpiryQueue } from './hold-expiry-queue';
import type { SnapshotStore, StoredSnapshot } from './snapshot-store';

/** Most events one command adds to a batch: its own, and a system account opened for each of its postings. */
const EVENTS_PER_COMMAND_MAX = POSTINGS_MAX + 1;

export interface ShardWriterLimits {
  readonly batchMax: number;
  readonly batchWaitMs: number;
  readonly queueMax: number;
  readonly snapshotEvery: number;
  readonly defaultHoldTimeoutMs: number;
  readonly holdSweepIntervalMs: number;
}

export interface ShardWriterDeps {
  readonly store: EventStore;
  readonly snapshots: SnapshotStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly shard: number;
  readonly shards: number;
  readonly limits: ShardWriterLimits;
  readonly log?: (message: string) => void;
}

export function ledgerStreamId(shard: number): string {
  return `ledger-${shard}`;
}

type Work =
  | {
      readonly kind: 'command';
      readonly message: LedgerCommandEnvelope;
      /** A PostEntry's entry found in the store under its entry id (see LedgerContext.postedEntry). */
      readonly postedEntry?: EntryPosted;
      readonly resolve: (reply: Reply<unknown>) => void;
    }
  | { readonly kind: 'expire'; readonly holdId: string; readonly resolve: (reply: Reply<unknown>) => void };

const READ_PAGE_MAX = 1_000;
/** A writer whose reload failed tries again after this long, doubling up to RESUME_BACKOFF_MAX_MS. */
const RESUME_BACKOFF_MS = 100;
const RESUME_BACKOFF_MAX_MS = 10_000;
/**
 * Rows per snapshot part: a million-account snapshot is written a bounded piece at a time, and a
 * part's JSON (~100 KB) stays below V8's large-object size, so it dies young instead of going
 * straight to old space (10,000-row parts made ~1 MB strings: ~370 MB of old-space garbage while
 * opening 1M accounts).
 */
const SNAPSHOT_PART_ROWS = 1_000;

export class ShardWriter {
  private state: LedgerShardState = initialState();
  /** Revision of the last event of the stream; -1n when the stream does not exist yet. */
  private revision = -1n;
  private eventsSinceSnapshot = 0;
  private readonly queue: Work[] = [];
  /** The pending flush of the queue (a timer or an immediate) while one is scheduled. */
  private scheduled: (() => void) | undefined;
  private draining: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly expiring = new Set<string>();
  /** The last sweep queued a whole batch (more may be due): it sweeps on once that batch is answered, if it expired some hold. */
  private sweepFilled = false;
  private expiredSinceSweep = false;
  /** Pending holds by expiry, only those: what the sweep looks at (the state also keeps a day of finished holds). */
  private readonly expiries = new HoldExpiryQueue();
  private running = false;
  private stopping = false;
  /** A reload tried again after one failed (see `resumeLater`). */
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly streamId: string;

  constructor(private readonly deps: ShardWriterDeps) {
    this.streamId = ledgerStreamId(deps.shard);
  }

  get shard(): number {
    return this.deps.shard;
  }

  /** The shard's state; read-only for callers (tests, metrics). */
  get currentState(): LedgerShardState {
    return this.state;
  }

  get lastRevision(): bigint {
    return this.revision;
  }

  async start(): Promise<void> {
    await this.load();
    this.running = true;
    this.sweepTimer = setInterval(() => this.sweepExpiredHolds(), this.deps.limits.holdSweepIntervalMs);
    this.sweepTimer.unref();
  }

  /** Stops taking work, finishes what is queued. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.running = false;
    clearTimeout(this.resumeTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    // A batch still waiting for its turn is flushed now: the store may close as soon as this resolves.
    while (this.scheduled || this.draining) {
      this.scheduled?.();
      await this.draining;
    }
  }

  submit(message: LedgerCommandEnvelope, postedEntry?: EntryPosted): Promise<Reply<unknown>> {
    return new Promise((resolve) => this.enqueue({ kind: 'command', message, postedEntry, resolve }));
  }

  /** Queues an expiry for every pending hold past its time (at most one batch's worth per sweep). */
  sweepExpiredHolds(): number {
    if (!this.running) return 0;
    const nowMs = this.deps.clock.nowMs();
    let queued = 0;
    while (queued < this.deps.limits.batchMax) {
      const due = this.expiries.takeDue(nowMs);
      if (due === undefined) break;
      const hold = this.state.holds.get(due.holdId);
      // Settled early, or placed again under the same id since: that placement has its own entry.
      if (hold === undefined || hold.status !== 'pending' || hold.expiresAtMs !== due.expiresAtMs || this.expiring.has(hold.id)) continue;
      this.expiring.add(hold.id);
      queued++;
      this.enqueue({ kind: 'expire', holdId: hold.id, resolve: () => this.expiryAnswered(hold.id) });
    }
    this.sweepFilled = queued === this.deps.limits.batchMax;
    this.expiredSinceSweep = false;
    return queued;
  }

  /** An expiry refused or not taken (the clock stepped back, a full queue, a failed append) leaves the hold due for a later sweep. */
  private expiryAnswered(holdId: string): void {
    this.expiring.delete(holdId);
    const hold = this.state.holds.get(holdId);
    if (hold?.status === 'pending') this.expiries.add(hold.id, hold.expiresAtMs);
    else this.expiredSinceSweep = true;
    // A batch a sweep interval left holds due reserved for hours (BATCH_MAX 1, a sweep an hour); a round that expired none waits for the interval.
    if (this.expiring.size === 0 && this.sweepFilled && this.expiredSinceSweep) setImmediate(() => this.sweepExpiredHolds());
  }

  private enqueue(work: Work): void {
    if (!this.running) {
      work.resolve({ ok: false, error: unavailable(`shard ${this.deps.shard} writer is not running`) });
      return;
    }
    if (this.queue.length >= this.deps.limits.queueMax) {
      work.resolve({ ok: false, error: unavailable(`shard ${this.deps.shard} writer queue is full`) });
      return;
    }
    this.queue.push(work);
    this.schedule();
  }

  /** Schedules a flush of the queue unless one is scheduled or running (that one takes the queue). */
  private schedule(): void {
    if (this.scheduled || this.draining || this.queue.length === 0) return;
    const flush = () => {
      this.scheduled = undefined;
      clearTimeout(timer);
      clearImmediate(immediate);
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
        // Work queued after drain's last look at the queue, while `draining` still kept it from scheduling.
        this.schedule();
      });
    };
    const wait = this.deps.limits.batchWaitMs;
    const timer = wait > 0 ? setTimeout(flush, wait) : undefined;
    const immediate = wait > 0 ? undefined : setImmediate(flush);
    this.scheduled = flush;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.deps.limits.batchMax);
      await this.commit(batch);
    }
  }

  /** Decides the batch in order against the state, appends its events at once, then replies. */
  private async commit(batch: Work[]): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    const events: NewEvent[] = [];
    const replies: { work: Work; reply: () => Reply<unknown> }[] = [];
    try {
      for (let index = 0; index < batch.length; index++) {
        // A batch is one append, which the store caps at APPEND_EVENTS_MAX events: the rest goes first in the next batch.
        if (events.length + EVENTS_PER_COMMAND_MAX > APPEND_EVENTS_MAX) {
          this.queue.unshift(...batch.splice(index));
          break;
        }
        replies.push({ work: batch[index], reply: this.decideOne(batch[index], nowMs, events) });
      }
    } catch (error) {
      // A bug (an invariant broke while evolving): the state may be half-changed, so reload.
      this.log(`shard ${this.deps.shard}: batch failed before append: ${String(error)}`);
      await this.reloadAfterFailure();
      for (const work of batch) work.resolve({ ok: false, error: unavailable('the ledger could not decide this batch; retry') });
      return;
    }
    if (events.length > 0) {
      try {
        const expected = this.revision < 0n ? expectedState.noStream : expectedState.revision(this.revision);
        const result = await this.deps.store.append(this.streamId, events, expected);
        this.revision = result.nextExpectedRevision;
        this.eventsSinceSnapshot += events.length;
      } catch (error) {
        // Fenced (another writer appended) or the store failed: nothing of the batch is durable.
        const fenced = error instanceof WrongExpectedVersionError;
        this.log(`shard ${this.deps.shard}: append failed (${fenced ? 'fenced by another writer' : String(error)}); reloading`);
        await this.reloadAfterFailure();
        for (const work of batch) work.resolve({ ok: false, error: unavailable('the shard changed hands or the store failed; retry') });
        return;
      }
    }
    for (const { work, reply } of replies) work.resolve(reply());
    await this.maybeSnapshot();
  }

  /** Decides one piece of work, evolving the state and collecting its events; returns its reply. */
  private decideOne(work: Work, nowMs: number, events: NewEvent[]): () => Reply<unknown> {
    const context: LedgerContext = work.kind === 'command' && work.postedEntry !== undefined ? { nowMs, postedEntry: work.postedEntry } : { nowMs };
    let command: LedgerCommand;
    if (work.kind === 'expire') {
      command = { type: 'ExpireHold', idempotencyKey: holdExpiryKey(work.holdId), holdId: work.holdId };
    } else {
      const first = outcomeOf(this.state, work.message.meta.idempotencyKey, nowMs);
      const plan = planCommand(work.message, this.state, {
        shards: this.deps.shards,
        shard: this.deps.shard,
        nowMs: first?.atMs ?? nowMs,
        defaultHoldTimeoutMs: this.deps.limits.defaultHoldTimeoutMs,
      });
      if ('code' in plan) return () => ({ ok: false, error: plan });
      for (const accountId of plan.systemAccounts) {
        if (this.state.accounts.has(accountId)) continue;
        // Only an account of this shard naming shards that exist: a saga leg's shard number is the caller's.
        const open = shardOf(accountId, this.deps.shards) === this.deps.shard ? openSystemAccount(accountId) : undefined;
        if (open === undefined) return () => ({ ok: false, error: domainError('not_found', 'no such account', { accountId }) });
        const opened = decide(open, this.state, context);
        if (!opened.ok) return () => ({ ok: false, error: opened.error });
        this.apply(opened.events, work, nowMs, events);
      }
      command = plan.command;
    }
    const decision = decide(command, this.state, context);
    if (!decision.ok) {
      // Only a client's rejection is its key's answer: a sweep's refused expiry (the clock stepped back
      // since the sweep) recorded under `expire:{id}` would refuse every later sweep for a day.
      const rejected = work.kind === 'command' ? rejectionEvent(this.state, command, decision.error, context) : undefined;
      if (rejected) this.apply([rejected], work, nowMs, events);
      return () => ({ ok: false, error: decision.error });
    }
    this.apply(decision.events, work, nowMs, events);
    const key = command.idempotencyKey;
    // A new command's first outcome is the one event it produced (not rebuilt from the state); a retry's is looked up.
    const produced: CommandOutcome | undefined = decision.events.length === 1 ? { ok: true, event: decision.events[0] as LedgerAcceptedEvent } : undefined;
    // The same entry under another key is answered as the entry posted under its id.
    const posted = produced === undefined && command.type === 'PostEntry' ? postedEntryOf(this.state, command, context) : undefined;
    return () => {
      const outcome = produced ?? outcomeOf(this.state, key)?.outcome ?? (posted && { ok: true, event: posted });
      if (outcome === undefined) return { ok: false, error: unavailable('the outcome of this command is no longer remembered') };
      if (!outcome.ok) return { ok: false, error: outcome.error };
      return { ok: true, value: work.kind === 'command' ? replyFor(work.message, outcome.event, this.state) : null };
    };
  }

  private apply(decided: readonly LedgerEvent[], work: Work, nowMs: number, events: NewEvent[]): void {
    // Through the one check of every service's meta: correlation id and actor strings, cut to META_FIELD_LENGTH_MAX (they went in whole, of any type).
    const checked = work.kind === 'command' ? commandMetaOf(work.message, 'ledger') : undefined;
    const meta = checked === undefined || 'code' in checked ? undefined : checked;
    for (const event of decided) {
      evolve(this.state, event);
      this.queueExpiryOf(event);
      const eventId = this.deps.ids.next();
      events.push({
        eventId,
        type: event.type,
        schemaVersion: 1,
        data: event.data as unknown as Json,
        metadata: {
          correlationId: meta?.correlationId ?? eventId,
          causationId: meta?.correlationId ?? eventId,
          actor: meta?.actor ?? `ledger-shard-${this.deps.shard}`,
          idempotencyKey: event.data.idempotencyKey,
          occurredAt: toIsoTime(nowMs),
        },
      });
    }
  }

  /** Keeps the expiry queue to the pending holds: a placed hold joins it, a settled one leaves it (a partial release leaves it pending). */
  private queueExpiryOf(event: LedgerEvent): void {
    switch (event.type) {
      case 'ledger.HoldPlaced.v1':
        this.expiries.add(event.data.holdId, event.data.expiresAtMs);
        return;
      case 'ledger.HoldCaptured.v1':
      case 'ledger.HoldReleased.v1':
      case 'ledger.HoldExpired.v1':
        if (this.state.holds.get(event.data.holdId)?.status !== 'pending') this.expiries.remove(event.data.holdId);
        return;
    }
  }

  private async load(): Promise<void> {
    let state = initialState();
    let revision = -1n;
    const stored = await this.deps.snapshots.load(this.deps.shard).catch(() => undefined);
    const streamRevision = (await this.deps.store.streamRevision(this.streamId)) ?? -1n;
    const unusable = stored !== undefined && !(await this.takenOfThisStream(stored, streamRevision));
    if (unusable) {
      // Beyond the stream (the store restored from an older backup), or its revision not where the stream's event is the one it was taken after: the state is not the fold there.
      this.log(`shard ${this.deps.shard}: ignoring snapshot at revision ${stored.revision}, not taken of this stream at that revision (the stream's last is ${streamRevision}); folding the whole stream`);
    } else if (stored !== undefined) {
      try {
        state = fromSnapshotParts(stored.parts);
        revision = stored.revision;
      } catch (error) {
        // fromSnapshotParts threw before either was assigned: state and revision are still the empty stream's.
        this.log(`shard ${this.deps.shard}: ignoring snapshot (${String(error)}), folding the whole stream`);
      }
    }
    for (;;) {
      const page = await this.deps.store.readStream(this.streamId, { fromRevision: revision + 1n, maxCount: READ_PAGE_MAX });
      for (const recorded of page) {
        evolve(state, ledgerEventOf(recorded));
        revision = recorded.revision;
      }
      if (page.length < READ_PAGE_MAX) break;
    }
    this.state = state;
    this.revision = revision;
    this.eventsSinceSnapshot = 0;
    this.expiries.clear();
    for (const hold of state.holds.values()) if (hold.status === 'pending') this.expiries.add(hold.id, hold.expiresAtMs);
    // Replaced at once: once the stream grows past it, that snapshot of the lost history would pass for this one's.
    if (unusable) await this.saveSnapshot();
  }

  /** Whether the stream still holds, at the snapshot's revision, the event the snapshot was taken after (its chain hash). */
  private async takenOfThisStream(stored: StoredSnapshot, streamRevision: bigint): Promise<boolean> {
    if (stored.revision < 0n || stored.revision > streamRevision) return stored.revision === -1n && streamRevision === -1n;
    const [event] = await this.deps.store.readStream(this.streamId, { fromRevision: stored.revision, maxCount: 1 });
    return stored.lastEventHash !== null && event?.revision === stored.revision && event.metadata.hash === stored.lastEventHash;
  }

  private async reloadAfterFailure(): Promise<void> {
    try {
      await this.load();
    } catch (error) {
      this.running = false;
      this.log(`shard ${this.deps.shard}: reload failed, writer stopped: ${String(error)}`);
      // The state may still hold the batch the store refused: answer the queue instead of deciding it against that.
      for (const work of this.queue.splice(0)) work.resolve({ ok: false, error: unavailable(`shard ${this.deps.shard} writer stopped; retry`) });
      this.resumeLater(RESUME_BACKOFF_MS);
    }
  }

  /** Tries the reload again after `delayMs` (doubling up to RESUME_BACKOFF_MAX_MS) and takes commands again once it works: a store failure is often brief. */
  private resumeLater(delayMs: number): void {
    if (this.stopping) return;
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      this.load().then(
        () => {
          if (this.stopping) return;
          this.running = true;
          this.log(`shard ${this.deps.shard}: reloaded, writer resumed`);
        },
        () => this.resumeLater(Math.min(2 * delayMs, RESUME_BACKOFF_MAX_MS)),
      );
    }, delayMs);
    this.resumeTimer.unref();
  }

  private async maybeSnapshot(): Promise<void> {
    const every = this.deps.limits.snapshotEvery;
    if (every === 0 || this.eventsSinceSnapshot < every) return;
    this.eventsSinceSnapshot = 0;
    await this.saveSnapshot();
  }

  private async saveSnapshot(): Promise<void> {
    try {
      // Read before the state is: only this drain (or the load) changes it, and neither goes on until the save is done.
      const revision = this.revision;
      const [last] = revision < 0n ? [] : await this.deps.store.readStream(this.streamId, { fromRevision: revision, maxCount: 1 });
      await this.deps.snapshots.save(this.deps.shard, revision, last?.metadata.hash ?? null, snapshotParts(this.state, SNAPSHOT_PART_ROWS));
    } catch (error) {
      this.log(`shard ${this.deps.shard}: snapshot failed (the stream still has everything): ${String(error)}`);
    }
  }

  private log(message: string): void {
    this.deps.log?.(message);
  }
}

function unavailable(message: string): DomainError {
  return domainError('unavailable', message, { retryable: true });
}
