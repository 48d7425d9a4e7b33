// New events for store tests: valid envelopes with fresh UUIDv7 ids and a payload you choose.
import { uuidv7, type Json, type NewEvent } from '@ledger/contracts';

export function newEvent(data: Json = {}, overrides: Partial<NewEvent> = {}): NewEvent {
  const eventId = overrides.eventId ?? uuidv7.next();
  return {
    eventId,
    type: 'test.Happened.v1',
    schemaVersion: 1,
    data,
    metadata: { correlationId: eventId, causationId: eventId, actor: 'test', occurredAt: '2026-01-01T00:00:00.000Z' },
    ...overrides,
  };
}

/** `count` events whose data is `{ n: index }` merged with `data(index)`. */
export function newEvents(count: number, data: (index: number) => { [key: string]: Json } = () => ({})): NewEvent[] {
  return Array.from({ length: count }, (_, index) => newEvent({ n: index, ...data(index) }));
}

/** A stream id no other test uses: `${prefix}-${uuid}`. */
export function uniqueStreamId(prefix = 'test'): string {
  return `${prefix}-${uuidv7.next()}`;
}
