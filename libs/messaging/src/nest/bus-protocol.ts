// How Nest's request/reply and events travel over a MessageBus: the headers, the reply topic,
// the reply envelope, and how a caller picks the message key. Shared by BusServer and BusClientProxy.
import type { MessageHeaders } from '../message-bus.port';

export const BUS_HEADERS = {
  /** Ties a reply to its request; the reply is keyed by it too. */
  correlationId: 'correlationId',
  /** The topic the server publishes the reply to; its absence makes a message an event. */
  replyTo: 'replyTo',
  /** When the requester stops waiting: epoch milliseconds of its wall clock, in decimal. */
  deadline: 'deadline',
} as const;

/**
 * How far the clocks of two processes may disagree (NTP keeps hosts within milliseconds): a server
 * refuses a request only once its deadline is this far behind the server's own clock.
 */
export const DEADLINE_CLOCK_SKEW_MS = 1_000;

/** The error a server answers when it did not run a request for a reason that passes: a retry with the same key is safe. */
export function unavailableReply(message: string) {
  return { status: 'error', code: 'unavailable', retryable: true, message } as const;
}

/** The deadline a request carries; undefined without one (or with one that is no time). */
export function deadlineOf(headers: MessageHeaders): number | undefined {
  const text = headers[BUS_HEADERS.deadline];
  if (text === undefined || !/^[0-9]{1,16}$/.test(text)) return undefined;
  const deadlineMs = Number(text);
  return Number.isSafeInteger(deadlineMs) ? deadlineMs : undefined;
}

/** The reply topic of requests on `topic`, shared by every client; each client filters by correlation id. */
export function replyTopicFor(topic: string): string {
  return `${topic}.reply`;
}

/** The value of a reply message: Nest's WritePacket, as JSON. `isDisposed` marks the last reply. */
export interface ReplyEnvelope {
  readonly response?: unknown;
  readonly err?: unknown;
  readonly isDisposed?: boolean;
}

export type BusStatus = 'connected' | 'disconnected';

/**
 * A payload with the message key (and optionally headers or an explicit partition) chosen by the
 * caller: `client.send(topic, keyed(String(shard), command, { partition: shard }))`.
 * Without it, a request is keyed by its correlation id and an event by a fresh id. A `deadline`
 * header (the caller's own caller's, see BusContext.getDeadline) shortens the request's timeout to it.
 */
export class KeyedPayload<T = unknown> {
  constructor(
    readonly key: string,
    readonly value: T,
    readonly headers: MessageHeaders = {},
    readonly partition?: number,
    /**
     * Epoch ms the requester waits for the reply when that is later than the deadline header (a
     * coalesced batch: the server must not start it past its soonest command's deadline, and the
     * others still wait for the answer it then gives). Never beyond the client's request timeout.
     */
    readonly waitUntilMs?: number,
  ) {}
}

export function keyed<T>(key: string, value: T, options: { headers?: MessageHeaders; partition?: number; waitUntilMs?: number } = {}): KeyedPayload<T> {
  return new KeyedPayload(key, value, options.headers ?? {}, options.partition, options.waitUntilMs);
}
