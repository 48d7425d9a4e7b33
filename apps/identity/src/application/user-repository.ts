// Loads and appends user streams (`user-{id}`) and reads email reservations
// (`user-email-{sha256}`). Keeps recent user states in memory, always topped up from the stream
// before use, so a long-lived user (a rotation per refresh) is not folded from scratch per
// request and another instance's appends are still seen. Commands of one user run one at a time
// in this process; across processes the append's expected revision decides.
import { createHash } from 'node:crypto';
import { toIsoTime, type IdGenerator, type Json, type NewEvent } from '@ledger/contracts';
import { expectedState, type EventStore } from '@ledger/event-store';
import { emailKey } from '../domain/credentials-policy';
import { evolveReservation, initialReservation, type EmailReservationEvent, type EmailReservationState } from '../domain/email-reservation';
import { evolve, initialState, USER_EVENT_TYPES, type UserEvent, type UserState } from '../domain/user';

export const USER_STREAM_PREFIX = 'user-';
export const EMAIL_RESERVATION_STREAM_PREFIX = 'user-email-';
const READ_PAGE_MAX = 1_000;

export function userStreamId(userId: string): string {
  return `${USER_STREAM_PREFIX}${userId}`;
}

/** `user-email-{sha256(lowercased email)}`: the email itself is not in the stream id. */
export function emailReservationStreamId(email: string): string {
  return `${EMAIL_RESERVATION_STREAM_PREFIX}${createHash('sha256').update(emailKey(email)).digest('hex')}`;
}

export function isEmailReservationStream(streamId: string): boolean {
  return streamId.startsWith(EMAIL_RESERVATION_STREAM_PREFIX);
}

/** Who asked: carried into every event's metadata. */
export interface EventOrigin {
  readonly idempotencyKey: string;
  readonly actor: string;
  readonly correlationId?: string;
}

export interface LoadedUser {
  readonly state: UserState;
  /** Revision of the stream's last event; -1n when the stream does not exist. */
  readonly revision: bigint;
}

export class UserRepository {
  private readonly cache = new Map<string, LoadedUser>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: EventStore,
    private readonly ids: IdGenerator,
    private readonly cacheMax: number,
  ) {}

  async load(userId: string): Promise<LoadedUser> {
    const cached = this.cache.get(userId);
    let { state, revision } = cached ?? { state: initialState(), revision: -1n };
    for (;;) {
      const page = await this.store.readStream(userStreamId(userId), { fromRevision: revision + 1n, maxCount: READ_PAGE_MAX });
      for (const recorded of page) {
        state = evolve(state, userEventOf(recorded.type, recorded.data));
        revision = recorded.revision;
      }
      if (page.length < READ_PAGE_MAX) break;
    }
    const loaded = { state, revision };
    this.remember(userId, loaded);
    return loaded;
  }

  /** Appends `events` expecting the stream at `loaded.revision`; throws WrongExpectedVersionError when it moved. */
  async append(userId: string, loaded: LoadedUser, events: readonly UserEvent[], origin: EventOrigin, nowMs: number): Promise<LoadedUser & { position: bigint }> {
    const state = events.reduce(evolve, loaded.state); // an invariant broken here throws before anything is written
    const expected = loaded.revision < 0n ? expectedState.noStream : expectedState.revision(loaded.revision);
    try {
      const result = await this.store.append(userStreamId(userId), events.map((event) => this.newEvent(event, origin, nowMs)), expected);
      const appended = { state, revision: result.nextExpectedRevision };
      this.remember(userId, appended);
      return { ...appended, position: result.position };
    } catch (error) {
      this.cache.delete(userId);
      throw error;
    }
  }

  /** The user an email is reserved for, if any (strongly consistent: read from the store). */
  async reservation(email: string): Promise<{ state: EmailReservationState; exists: boolean }> {
    const [first] = await this.store.readStream(emailReservationStreamId(email), { maxCount: 1 });
    if (first === undefined) return { state: initialReservation(), exists: false };
    return { state: evolveReservation(initialReservation(), reservationEventOf(first.type, first.data)), exists: true };
  }

  /** Appends the reservation with "no stream" expected: of two racing registrations one wins. */
  async reserve(email: string, events: readonly EmailReservationEvent[], origin: EventOrigin, nowMs: number): Promise<void> {
    await this.store.append(emailReservationStreamId(email), events.map((event) => this.newEvent(event, origin, nowMs)), expectedState.noStream);
  }

  /** Runs `work` after every earlier work of the same user in this process has finished. */
  withLock<T>(userId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(userId) ?? Promise.resolve();
    const run = previous.then(work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(userId, settled);
    void settled.then(() => {
      if (this.locks.get(userId) === settled) this.locks.delete(userId);
    });
    return run;
  }

  private remember(userId: string, loaded: LoadedUser): void {
    // Unknown users are not cached: made-up ids (forged refresh tokens) must not push real users out.
    if (this.cacheMax === 0 || loaded.state.status !== 'registered') return;
    const cached = this.cache.get(userId);
    if (cached !== undefined && cached.revision > loaded.revision) return; // a read that raced an append: keep the newer
    this.cache.delete(userId); // re-inserted last: the map's order is least recently used first
    this.cache.set(userId, loaded);
    if (this.cache.size > this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
  }

  private newEvent(event: UserEvent | EmailReservationEvent, origin: EventOrigin, nowMs: number): NewEvent {
    const eventId = this.ids.next();
    return {
      eventId,
      type: event.type,
      schemaVersion: 1,
      data: event.data as unknown as Json,
      metadata: {
        correlationId: origin.correlationId ?? eventId,
        causationId: origin.correlationId ?? eventId,
        actor: origin.actor,
        idempotencyKey: origin.idempotencyKey,
        occurredAt: toIsoTime(nowMs),
      },
    };
  }
}

/** A stored event as the aggregate's event; an unknown type is a bug or a newer writer. */
export function userEventOf(type: string, data: Json): UserEvent {
  if (!(USER_EVENT_TYPES as readonly string[]).includes(type)) throw new Error(`unknown user event type ${type}`);
  return { type, data } as unknown as UserEvent;
}

function reservationEventOf(type: string, data: Json): EmailReservationEvent {
  if (type !== 'identity.EmailReserved.v1') throw new Error(`unknown email reservation event type ${type}`);
  return { type, data } as unknown as EmailReservationEvent;
}
