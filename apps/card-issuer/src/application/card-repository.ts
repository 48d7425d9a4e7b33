// Loads and appends card streams (`card-{id}`), PAN reservations (`card-pan-{fingerprint}`,
// appended with "no stream", so the store itself makes a PAN unique) and the declines of PANs
// that matched no card (`card-auth-{id}`: such an authorization has no card stream to live in).
// Which card an authorization belongs to is remembered here when it is decided; after a restart
// the service asks the projection. Card streams go
// through AggregateStreams: cached states topped up from the stream, one card's work at a time
// in this process, the expected revision across processes. Every append of the card-issuer goes
// through one GroupCommit: the appends of concurrent authorizations (other cards) share one fsync.
import type { IdGenerator, Json } from '@ledger/contracts';
import { AggregateStreams, expectedState, GroupCommit, WrongExpectedVersionError, type EventOrigin, type EventStore, type LoadedAggregate } from '@ledger/event-store';
import { CARD_EVENT_TYPES, concernsAuthorization, evolve, initialState, isCard, type Authorization, type AuthorizationDeclined, type CardEvent, type CardState } from '../domain/card';

export const CARD_STREAM_PREFIX = 'card-';
export const PAN_RESERVATION_STREAM_PREFIX = 'card-pan-';
export const AUTHORIZATION_ROUTE_STREAM_PREFIX = 'card-auth-';
/** Events read per page when one authorization is folded from its card's whole stream. */
const HISTORY_PAGE_MAX = 1_000;
/** Authorization -> card routes remembered in memory (each is one stream read otherwise). */
export const ROUTE_CACHE_MAX = 100_000;
/** PAN fingerprint -> card remembered in memory (a reservation never changes, so it never goes stale). */
export const PAN_OWNER_CACHE_MAX = 100_000;

export function panReservationStreamId(fingerprint: string): string {
  return `${PAN_RESERVATION_STREAM_PREFIX}${fingerprint}`;
}

export function authorizationRouteStreamId(authorizationId: string): string {
  return `${AUTHORIZATION_ROUTE_STREAM_PREFIX}${authorizationId}`;
}

/** Which kind of stream of the card-issuer this is. */
export function cardStreamKind(streamId: string): 'pan' | 'route' | 'card' | undefined {
  if (streamId.startsWith(PAN_RESERVATION_STREAM_PREFIX)) return 'pan';
  if (streamId.startsWith(AUTHORIZATION_ROUTE_STREAM_PREFIX)) return 'route';
  if (streamId.startsWith(CARD_STREAM_PREFIX)) return 'card';
  return undefined;
}

export interface PanReserved {
  readonly type: 'cards.PanReserved.v1';
  readonly data: { readonly cardId: string; readonly atMs: number };
}

export type { EventOrigin } from '@ledger/event-store';

export type LoadedCard = LoadedAggregate<CardState>;

/** Where an authorization lives: on a card, or (an unknown PAN) only as its decline. */
export type AuthorizationRoute = { readonly cardId: string } | { readonly cardId: null; readonly declined: AuthorizationDeclined };

export class CardRepository {
  private readonly cards: AggregateStreams<CardState, CardEvent>;
  private readonly routes = new Map<string, AuthorizationRoute>();
  private readonly panOwners = new Map<string, string>();
  private readonly store: EventStore;

  constructor(store: EventStore, ids: IdGenerator, cacheMax: number) {
    this.store = groupCommitted(store, GroupCommit.of(store));
    this.cards = new AggregateStreams(this.store, ids, {
      streamPrefix: CARD_STREAM_PREFIX,
      initialState,
      evolve,
      eventOf: cardEventOf,
      cacheMax,
      cacheable: (state) => state.status !== 'none',
    });
  }

  load(cardId: string): Promise<LoadedCard> {
    return this.cards.load(cardId);
  }

  /** Appends `events` expecting the stream at `loaded.revision`; throws WrongExpectedVersionError when it moved. */
  append(cardId: string, loaded: LoadedCard, events: readonly CardEvent[], origin: EventOrigin, nowMs: number): Promise<LoadedCard & { position: bigint }> {
    return this.cards.append(cardId, loaded, events, origin, nowMs);
  }

  /**
   * One authorization as its own events make it, read from the card's whole stream: of one that left the
   * card's state (beyond CAPTURED_AUTHORIZATIONS_KEPT_MAX newer captures). Only its events are folded, page by page.
   */
  async authorizationFromHistory(cardId: string, authorizationId: string): Promise<Authorization | undefined> {
    let state: CardState = initialState();
    for (let revision = 0n; ; ) {
      const page = await this.store.readStream(this.cards.streamId(cardId), { fromRevision: revision, maxCount: HISTORY_PAGE_MAX });
      for (const recorded of page) {
        const event = cardEventOf(recorded.type, recorded.data);
        if (concernsAuthorization(event, authorizationId)) state = evolve(state, event);
        revision = recorded.revision + 1n;
      }
      if (page.length < HISTORY_PAGE_MAX) break;
    }
    return isCard(state) ? state.authorizations.get(authorizationId) : undefined;
  }

  /** Runs `work` after every earlier work of the same card in this process has finished. */
  withLock<T>(cardId: string, work: () => Promise<T>): Promise<T> {
    return this.cards.withLock(cardId, work);
  }

  /** The card a PAN fingerprint is reserved for, if any (read from the store once; a reservation is written once and never changes). */
  async panOwner(fingerprint: string): Promise<string | undefined> {
    const known = this.panOwners.get(fingerprint);
    if (known !== undefined) return known;
    const [first] = await this.store.readStream(panReservationStreamId(fingerprint), { maxCount: 1 });
    if (first === undefined) return undefined; // not remembered: a card may be issued with it later
    const cardId = (first.data as PanReserved['data']).cardId;
    remember(this.panOwners, fingerprint, cardId, PAN_OWNER_CACHE_MAX);
    return cardId;
  }

  /** Reserves a PAN for a card; false when another card holds it (appended with "no stream": of two racing, one wins). */
  async reservePan(fingerprint: string, cardId: string, origin: EventOrigin, nowMs: number): Promise<boolean> {
    const event: PanReserved = { type: 'cards.PanReserved.v1', data: { cardId, atMs: nowMs } };
    try {
      await this.store.append(panReservationStreamId(fingerprint), [this.cards.newEvent(event, origin, nowMs)], expectedState.noStream);
      return true;
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) return false;
      throw error;
    }
  }

  /** Where an authorization id leads, as far as this process remembers or the store says of an unmatched PAN; undefined otherwise. */
  async route(authorizationId: string): Promise<AuthorizationRoute | undefined> {
    const cached = this.routes.get(authorizationId);
    if (cached !== undefined) return cached;
    const [first] = await this.store.readStream(authorizationRouteStreamId(authorizationId), { maxCount: 1 });
    if (first === undefined) return undefined;
    const route: AuthorizationRoute = { cardId: null, declined: { type: 'cards.AuthorizationDeclined.v1', data: first.data as unknown as AuthorizationDeclined['data'] } };
    this.noteRoute(authorizationId, route);
    return route;
  }

  /** Records the decline of a PAN that matched no card ("no stream": the first one stands, and is returned). */
  async recordUnmatched(authorizationId: string, decline: AuthorizationDeclined, origin: EventOrigin, nowMs: number): Promise<AuthorizationRoute> {
    try {
      await this.store.append(authorizationRouteStreamId(authorizationId), [this.cards.newEvent(decline, origin, nowMs)], expectedState.noStream);
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
      const existing = await this.route(authorizationId);
      if (existing === undefined) throw error;
      return existing;
    }
    const route: AuthorizationRoute = { cardId: null, declined: decline };
    this.noteRoute(authorizationId, route);
    return route;
  }

  /** Remembers which card an authorization belongs to (bounded: the projection answers for the rest). */
  noteRoute(authorizationId: string, route: AuthorizationRoute): void {
    remember(this.routes, authorizationId, route, ROUTE_CACHE_MAX);
  }
}

/** Sets `key` in a cache of at most `max` entries, dropping the oldest beyond it. */
export function remember<V>(cache: Map<string, V>, key: string, value: V, max: number): void {
  cache.set(key, value);
  if (cache.size > max) cache.delete(cache.keys().next().value!);
}

/** The store whose `append` waits for the other appends of this turn and commits with them (one durable commit). */
function groupCommitted(store: EventStore, commits: GroupCommit): EventStore {
  return {
    append: (streamId, events, expected) => commits.append({ streamId, events, expected }),
    appendMany: (requests) => store.appendMany(requests),
    readStream: (streamId, options) => store.readStream(streamId, options),
    streamRevision: (streamId) => store.streamRevision(streamId),
    readAll: (options) => store.readAll(options),
    headPosition: () => store.headPosition(),
    subscribe: (handler, options) => store.subscribe(handler, options),
    close: () => store.close(),
  };
}

/** A stored event as the aggregate's event; an unknown type is a bug or a newer writer. */
export function cardEventOf(type: string, data: Json): CardEvent {
  if (!(CARD_EVENT_TYPES as readonly string[]).includes(type)) throw new Error(`unknown card event type ${type}`);
  return { type, data } as unknown as CardEvent;
}
