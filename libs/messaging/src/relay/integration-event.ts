// The integration event a relay publishes: a stored event as plain JSON (bigints as decimal
// strings), the one shape every consumer of `<service>.events` decodes (DESIGN.md §4).
import type { EventMetadata, Json, RecordedEvent } from '@ledger/contracts';
import { CodecError, decode } from '../codec';

/** Headers every integration event carries, so a consumer can deduplicate or route without decoding. */
export const INTEGRATION_EVENT_HEADERS = {
  eventId: 'eventId',
  type: 'type',
} as const;

export interface IntegrationEvent {
  /** The stored event's id: what every consumer deduplicates by. */
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly streamId: string;
  /** 0-based revision in its stream, as a decimal string. */
  readonly revision: string;
  /** Global position in the producing service's store, as a decimal string. */
  readonly position: string;
  readonly recordedAt: string;
  readonly data: Json;
  readonly metadata: EventMetadata;
}

export function toIntegrationEvent(event: RecordedEvent): IntegrationEvent {
  return {
    eventId: event.eventId,
    type: event.type,
    schemaVersion: event.schemaVersion,
    streamId: event.streamId,
    revision: event.revision.toString(),
    position: event.position.toString(),
    recordedAt: event.recordedAt,
    data: event.data,
    metadata: event.metadata,
  };
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Decodes a message value into an IntegrationEvent; throws CodecError when it is not one. */
export function decodeIntegrationEvent(value: Buffer): IntegrationEvent {
  const decoded = decode(value);
  if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded)) {
    throw new CodecError('an integration event must be a JSON object');
  }
  const event = decoded as Record<string, unknown>;
  for (const field of ['eventId', 'type', 'streamId', 'recordedAt'] as const) {
    if (typeof event[field] !== 'string' || event[field] === '') throw new CodecError(`integration event needs a string ${field}`);
  }
  for (const field of ['revision', 'position'] as const) {
    const text = event[field];
    if (typeof text !== 'string' || !DECIMAL.test(text)) throw new CodecError(`integration event needs ${field} as a decimal string`);
  }
  if (!Number.isSafeInteger(event.schemaVersion)) throw new CodecError('integration event needs an integer schemaVersion');
  if (!('data' in event)) throw new CodecError('integration event needs data');
  if (typeof event.metadata !== 'object' || event.metadata === null) throw new CodecError('integration event needs metadata');
  return decoded as IntegrationEvent;
}
