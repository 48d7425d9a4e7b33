// Loads and appends user streams (`user-{id}`, through AggregateStreams: cached states topped up
// from the stream, one user's commands at a time in this process) and reads email reservations
// (`user-email-{sha256}`).
import { createHash } from 'node:crypto';
import type { IdGenerator, Json } from '@ledger/contracts';
import { AggregateStreams, expectedState, type AggregateSnapshots, type EventOrigin, type EventStore, type LoadedAggregate } from '@ledger/event-store';
import { emailKey } from '../domain/credentials-policy';
import { evolveReservation, initialReservation, type EmailReservationEvent, type EmailReservationState } from '../domain/email-reservation';
import { evolve, initialState, USER_EVENT_TYPES, type UserEvent, type UserState } from '../domain/user';

export const USER_STREAM_PREFIX = 'user-';
export const EMAIL_RESERVATION_STREAM_PREFIX = 'user-email-';

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

export type { EventOrigin } from '@ledger/event-store';

export type LoadedUser = LoadedAggregate<UserState>;

export interface LoadedReservation {
  readonly state: EmailReservationState;
  /** The revision of the latest reservation; undefined when the email was never reserved. */
  readonly revision: bigint | undefined;
}

export class UserRepository {
  private readonly users: AggregateStreams<UserState, UserEvent>;

  constructor(
    private readonly store: EventStore,
    ids: IdGenerator,
    cacheMax: number,
    /** Saved states cold loads start from (see SqliteUserSnapshots); without them a cold load folds the whole stream. */
    snapshots?: AggregateSnapshots<UserState>,
  ) {
    this.users = new AggregateStreams(store, ids, {
      streamPrefix: USER_STREAM_PREFIX,
      initialState,
      evolve,
      eventOf: userEventOf,
      cacheMax,
      cacheable: (state) => state.status === 'registered',
      snapshots,
    });
  }

  load(userId: string): Promise<LoadedUser> {
    return this.users.load(userId);
  }

  /** Appends `events` expecting the stream at `loaded.revision`; throws WrongExpectedVersionError when it moved. */
  append(userId: string, loaded: LoadedUser, events: readonly UserEvent[], origin: EventOrigin, nowMs: number): Promise<LoadedUser & { position: bigint }> {
    return this.users.append(userId, loaded, events, origin, nowMs);
  }

  /** The user an email is reserved for, if any (strongly consistent: read from the store); only the latest reservation counts. */
  async reservation(email: string): Promise<LoadedReservation> {
    const streamId = emailReservationStreamId(email);
    const revision = await this.store.streamRevision(streamId);
    const [latest] = revision === undefined ? [] : await this.store.readStream(streamId, { fromRevision: revision, maxCount: 1 });
    if (revision === undefined || latest === undefined) return { state: initialReservation(), revision: undefined };
    return { state: evolveReservation(initialReservation(), reservationEventOf(latest.type, latest.data)), revision };
  }

  /** Appends the reservation expecting the stream as read: of two racing registrations one wins. */
  async reserve(email: string, loaded: LoadedReservation, events: readonly EmailReservationEvent[], origin: EventOrigin, nowMs: number): Promise<void> {
    const expected = loaded.revision === undefined ? expectedState.noStream : expectedState.revision(loaded.revision);
    await this.store.append(emailReservationStreamId(email), events.map((event) => this.users.newEvent(event, origin, nowMs)), expected);
  }

  /** Runs `work` after every earlier work of the same user in this process has finished. */
  withLock<T>(userId: string, work: () => Promise<T>): Promise<T> {
    return this.users.withLock(userId, work);
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
