// How the embedded store keeps an event in a row, and the row back as a RecordedEvent: one
// mapping for the store's own reads and for read-only readers of its file (the audit CLI).
import { parseJsonText, type EventMetadata, type Json, type RecordedEvent } from '@ledger/contracts';

/** The `events` columns, in the order the store inserts them. */
export const EVENT_COLUMNS = 'position, stream_id, revision, event_id, type, schema_version, data, metadata, recorded_at';

/** An `events` row as read with safe integers. */
export interface EventRow {
  position: bigint;
  stream_id: string;
  revision: bigint;
  event_id: string;
  type: string;
  schema_version: bigint;
  data: string;
  metadata: string;
  recorded_at: string;
}

/** The event a row holds; throws JsonTextError (a SyntaxError quoting none of the row) when its data or metadata is not JSON. */
export function recordedEventOf(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    type: row.type,
    schemaVersion: Number(row.schema_version),
    data: parseJsonText(row.data) as Json,
    metadata: parseJsonText(row.metadata) as EventMetadata,
    streamId: row.stream_id,
    revision: row.revision,
    position: row.position,
    recordedAt: row.recorded_at,
  };
}
