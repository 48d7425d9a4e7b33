// The event envelope of DESIGN.md §4: every adapter stores exactly this.
import type { Json } from './canonical-json';

export interface EventMetadata {
  readonly correlationId: string;
  readonly causationId: string;
  readonly actor: string;
  readonly idempotencyKey?: string;
  /** The command's time (ISO 8601 UTC). The store's own commit time is `recordedAt`. */
  readonly occurredAt: string;
  readonly prevHash: string;
  readonly hash: string;
}

/** What a writer hands the store: the store chains the hashes, so they are not given here. */
export interface NewEvent {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: Json;
  readonly metadata: Omit<EventMetadata, 'prevHash' | 'hash'>;
}

export interface EventEnvelope {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: Json;
  readonly metadata: EventMetadata;
}

/** An envelope as read back: where it sits in its stream and in the store. */
export interface RecordedEvent extends EventEnvelope {
  readonly streamId: string;
  /** 0-based position in its stream. */
  readonly revision: bigint;
  /** 1-based, gap-free position in the whole store. */
  readonly position: bigint;
  /** The store's commit time (ISO 8601 UTC). */
  readonly recordedAt: string;
}

/** The hash every stream starts from. */
export const GENESIS_HASH = '0'.repeat(64);
