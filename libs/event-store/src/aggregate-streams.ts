// One aggregate per stream (`{prefix}{id}`: a user, a card): load by folding the stream, append
// with the expected revision, and run one aggregate's work at a time in this process. Recent
// states are kept in memory and always topped up from the stream before use, so a long stream
// is not folded from scratch per command and another process's appends are still seen; across
// processes the append's expected revision decides. With `snapshots`, a state not in memory starts
// from its last saved snapshot (checked against the stream's event there), so a long-lived
// aggregate's cold load folds only the events after it.
import { KeyedLocks, toIsoTime, type IdGenerator, type Json, type NewEvent } from '@ledger/contracts';
import { expectedState, type EventStore } from './event-store.port';

const READ_PAGE_MAX = 1_000;

/** Who asked: carried into every event's metadata. */
export interface EventOrigin {
  readonly idempotencyKey: string;
  readonly actor: string;
  readonly correlationId?: string;
}

export interface LoadedAggregate<State> {
  readonly state: State;
  /** Revision of the stream's last event; -1n when the stream does not exist. */
  readonly revision: bigint;
  /** Global position of the stream's last event (0n when none): a projection applied through it knows the whole stream. */
  readonly position: bigint;
}

/** A state as of one event of its stream: `eventId` is that event's, checked before the state is used. */
export interface AggregateSnapshot<State> {
  readonly revision: bigint;
  readonly eventId: string;
  readonly state: State;
}

/** Where states are saved to start cold loads from: a cache, never the source of truth (lose it, and the stream is folded). */
export interface AggregateSnapshots<State> {
  /** Undefined when none is saved, or the saved one is unreadable (of another format). */
  load(streamId: string): Promise<AggregateSnapshot<State> | undefined>;
  save(streamId: string, snapshot: AggregateSnapshot<State>): Promise<void>;
  /** Events past the last snapshot after which a new one is saved: what a cold load folds at most, besides what was appended unseen. */
  readonly everyEvents: number;
}

export interface AggregateStreamsOptions<State, Event extends { type: string; data: unknown }> {
  readonly streamPrefix: string;
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
  /** A stored event as the aggregate's event; throws on a type it does not know. */
  readonly eventOf: (type: string, data: Json) => Event;
  /** States kept in memory (least recently used go first); 0 keeps none. */
  readonly cacheMax: number;
  /** Only states worth keeping are cached (not unknown ids: made-up ids must not push real ones out). */
  readonly cacheable: (state: State) => boolean;
  readonly snapshots?: AggregateSnapshots<State>;
}

/** A state in memory, with the revision of its stream's newest snapshot known here (-1n: none). */
interface Cached<State> extends LoadedAggregate<State> {
  readonly snapshotRevision: bigint;
}

export class AggregateStreams<State, Event extends { type: string; data: unknown }> {
  private readonly cache = new Map<string, Cached<State>>();
  private readonly locks = new KeyedLocks();
  /** The newest snapshot's revision as of each state handed out by load and append (the next append saves past it). */
  private readonly snapshotRevisions = new WeakMap<LoadedAggregate<State>, bigint>();

  constructor(
    private readonly store: EventStore,
    private readonly ids: IdGenerator,
    private readonly options: AggregateStreamsOptions<State, Event>,
  ) {}

  streamId(id: string): string {
    return `${this.options.streamPrefix}${id}`;
  }

  async load(id: string): Promise<LoadedAggregate<State>> {
    const start = this.cache.get(id) ?? (await this.fromSnapshot(id)) ?? { state: this.options.initialState(), revision: -1n, position: 0n, snapshotRevision: -1n };
    let { state, revision, position } = start;
    let lastEventId: string | undefined;
    for (;;) {
      const page = await this.store.readStream(this.streamId(id), { fromRevision: revision + 1n, maxCount: READ_PAGE_MAX });
      for (const recorded of page) {
        state = this.options.evolve(state, this.options.eventOf(recorded.type, recorded.data));
        revision = recorded.revision;
        position = recorded.position;
        lastEventId = recorded.eventId;
      }
      // Only an empty page ends the stream: a store may cap a read below what was asked (its readBatchMax).
      if (page.length === 0) break;
    }
    const snapshotRevision = lastEventId === undefined ? start.snapshotRevision : await this.saveSnapshot(id, { state, revision, position }, lastEventId, start.snapshotRevision);
    const loaded = { state, revision, position };
    this.snapshotRevisions.set(loaded, snapshotRevision);
    this.remember(id, { ...loaded, snapshotRevision });
    return loaded;
  }

  /** Appends `events` expecting the stream at `loaded.revision`; throws WrongExpectedVersionError when it moved. */
  async append(id: string, loaded: LoadedAggregate<State>, events: readonly Event[], origin: EventOrigin, nowMs: number): Promise<LoadedAggregate<State>> {
    const state = events.reduce(this.options.evolve, loaded.state); // an invariant broken here throws before anything is written
    const expected = loaded.revision < 0n ? expectedState.noStream : expectedState.revision(loaded.revision);
    try {
      const recorded = events.map((event) => this.newEvent(event, origin, nowMs));
      const result = await this.store.append(this.streamId(id), recorded, expected);
      const appended = { state, revision: result.nextExpectedRevision, position: result.position };
      const snapshotRevision = await this.saveSnapshot(id, appended, recorded[recorded.length - 1].eventId, this.snapshotRevisions.get(loaded) ?? -1n);
      this.remember(id, { ...appended, snapshotRevision });
      const answered = { ...appended };
      this.snapshotRevisions.set(answered, snapshotRevision);
      return answered;
    } catch (error) {
      this.cache.delete(id);
      throw error;
    }
  }

  /** Runs `work` after every earlier work of the same aggregate in this process has finished. */
  withLock<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(id, work);
  }

  /** The envelope of one event of this service (also for its other streams: reservations, routes). */
  newEvent(event: { type: string; data: unknown }, origin: EventOrigin, nowMs: number): NewEvent {
    const eventId = this.ids.next();
    return {
      eventId,
      type: event.type,
      schemaVersion: 1,
      data: event.data as Json,
      metadata: {
        correlationId: origin.correlationId ?? eventId,
        causationId: origin.correlationId ?? eventId,
        actor: origin.actor,
        idempotencyKey: origin.idempotencyKey,
        occurredAt: toIsoTime(nowMs),
      },
    };
  }

  /** The saved state to start from, if it is of this very stream: the event it was taken at is still there. */
  private async fromSnapshot(id: string): Promise<Cached<State> | undefined> {
    const snapshot = await this.options.snapshots?.load(this.streamId(id));
    if (snapshot === undefined) return undefined;
    const [event] = await this.store.readStream(this.streamId(id), { fromRevision: snapshot.revision, maxCount: 1 });
    if (event?.revision !== snapshot.revision || event.eventId !== snapshot.eventId) return undefined; // another store's, or a rewritten one
    return { state: snapshot.state, revision: snapshot.revision, position: event.position, snapshotRevision: snapshot.revision };
  }

  /** Saves `loaded` when everyEvents passed since the last snapshot; the revision of the newest one. */
  private async saveSnapshot(id: string, loaded: LoadedAggregate<State>, eventId: string, snapshotRevision: bigint): Promise<bigint> {
    const snapshots = this.options.snapshots;
    if (snapshots === undefined || loaded.revision - snapshotRevision < BigInt(snapshots.everyEvents) || !this.options.cacheable(loaded.state)) return snapshotRevision;
    try {
      await snapshots.save(this.streamId(id), { revision: loaded.revision, eventId, state: loaded.state });
      return loaded.revision;
    } catch {
      return snapshotRevision; // a cache: not saved, the next load folds a little more
    }
  }

  private remember(id: string, loaded: Cached<State>): void {
    if (this.options.cacheMax === 0 || !this.options.cacheable(loaded.state)) return;
    const cached = this.cache.get(id);
    if (cached !== undefined && cached.revision > loaded.revision) return; // a read that raced an append: keep the newer
    this.cache.delete(id); // re-inserted last: the map's order is least recently used first
    this.cache.set(id, loaded);
    if (this.cache.size > this.options.cacheMax) this.cache.delete(this.cache.keys().next().value!);
  }
}
