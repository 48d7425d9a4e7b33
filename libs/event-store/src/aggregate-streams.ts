// One aggregate per stream (`{prefix}{id}`: a user, a card): load by folding the stream, append
// with the expected revision, and run one aggregate's work at a time in this process. Recent
// states are kept in memory and always topped up from the stream before use, so a long stream
// is not folded from scratch per command and another process's appends are still seen; across
// processes the append's expected revision decides.
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
}

export class AggregateStreams<State, Event extends { type: string; data: unknown }> {
  private readonly cache = new Map<string, LoadedAggregate<State>>();
  private readonly locks = new KeyedLocks();

  constructor(
    private readonly store: EventStore,
    private readonly ids: IdGenerator,
    private readonly options: AggregateStreamsOptions<State, Event>,
  ) {}

  streamId(id: string): string {
    return `${this.options.streamPrefix}${id}`;
  }

  async load(id: string): Promise<LoadedAggregate<State>> {
    const cached = this.cache.get(id);
    let { state, revision, position } = cached ?? { state: this.options.initialState(), revision: -1n, position: 0n };
    for (;;) {
      const page = await this.store.readStream(this.streamId(id), { fromRevision: revision + 1n, maxCount: READ_PAGE_MAX });
      for (const recorded of page) {
        state = this.options.evolve(state, this.options.eventOf(recorded.type, recorded.data));
        revision = recorded.revision;
        position = recorded.position;
      }
      // Only an empty page ends the stream: a store may cap a read below what was asked (its readBatchMax).
      if (page.length === 0) break;
    }
    const loaded = { state, revision, position };
    this.remember(id, loaded);
    return loaded;
  }

  /** Appends `events` expecting the stream at `loaded.revision`; throws WrongExpectedVersionError when it moved. */
  async append(id: string, loaded: LoadedAggregate<State>, events: readonly Event[], origin: EventOrigin, nowMs: number): Promise<LoadedAggregate<State>> {
    const state = events.reduce(this.options.evolve, loaded.state); // an invariant broken here throws before anything is written
    const expected = loaded.revision < 0n ? expectedState.noStream : expectedState.revision(loaded.revision);
    try {
      const result = await this.store.append(this.streamId(id), events.map((event) => this.newEvent(event, origin, nowMs)), expected);
      const appended = { state, revision: result.nextExpectedRevision, position: result.position };
      this.remember(id, appended);
      return appended;
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

  private remember(id: string, loaded: LoadedAggregate<State>): void {
    if (this.options.cacheMax === 0 || !this.options.cacheable(loaded.state)) return;
    const cached = this.cache.get(id);
    if (cached !== undefined && cached.revision > loaded.revision) return; // a read that raced an append: keep the newer
    this.cache.delete(id); // re-inserted last: the map's order is least recently used first
    this.cache.set(id, loaded);
    if (this.cache.size > this.options.cacheMax) this.cache.delete(this.cache.keys().next().value!);
  }
}
