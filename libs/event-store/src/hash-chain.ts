// The hash chain of DESIGN.md §4, computed here and only here, for every adapter and the audit.
import { createHash } from 'node:crypto';
import { canonicalJson, GENESIS_HASH, type EventEnvelope, type NewEvent } from '@ledger/contracts';

/** hash = sha256(prevHash + canonical JSON of {type, schemaVersion, data}), hex. */
export function chainHash(prevHash: string, event: Pick<EventEnvelope, 'type' | 'schemaVersion' | 'data'>): string {
  return createHash('sha256')
    .update(prevHash)
    .update(canonicalJson({ type: event.type, schemaVersion: event.schemaVersion, data: event.data }))
    .digest('hex');
}

/** Seals new events onto a stream whose last hash is `prevHash` (GENESIS_HASH for a new stream). */
export function sealEvents(prevHash: string, events: readonly NewEvent[]): EventEnvelope[] {
  const sealed: EventEnvelope[] = [];
  let previous = prevHash;
  for (const event of events) {
    const hash = chainHash(previous, event);
    sealed.push({ ...event, metadata: { ...event.metadata, prevHash: previous, hash } });
    previous = hash;
  }
  return sealed;
}

export interface ChainBreak {
  readonly index: number;
  readonly eventId: string;
  readonly problem: 'prev_hash_mismatch' | 'hash_mismatch';
}

/** Checks a stream's events in revision order; returns the first break, or undefined. */
export function verifyChain(events: readonly EventEnvelope[], startHash: string = GENESIS_HASH): ChainBreak | undefined {
  let previous = startHash;
  for (let index = 0; index < events.length; index++) {
    const event = events[index];
    if (event.metadata.prevHash !== previous) return { index, eventId: event.eventId, problem: 'prev_hash_mismatch' };
    if (chainHash(previous, event) !== event.metadata.hash) return { index, eventId: event.eventId, problem: 'hash_mismatch' };
    previous = event.metadata.hash;
  }
  return undefined;
}
