// Every stream's hash chain, stream by stream in revision order (libs/event-store's own
// `verifyChain`, one event at a time so memory stays flat): revisions gap-free from 0, positions
// rising with revisions, each event sealed onto the one before it, and the head the store records
// (SQLite's `streams` table) equal to the last event.
import { GENESIS_HASH } from '@ledger/contracts';
import { verifyChain } from '@ledger/event-store';
import type { Findings, Progress } from './findings';
import { allStreamHeads, allStreamIds, pagesOfStream, type StoreReader } from './store-reader.port';

export async function checkChains(reader: StoreReader, findings: Findings, progress: Progress): Promise<number> {
  let checked = 0;
  for await (const streamId of allStreamIds(reader)) {
    let expectedRevision = 0n;
    let previousHash = GENESIS_HASH;
    let previousPosition = 0n;
    for await (const page of pagesOfStream(reader, streamId)) {
      for (const event of page) {
        const place = { streamId, revision: event.revision, position: event.position };
        if (event.revision !== expectedRevision) {
          const missing = event.revision > expectedRevision ? `revisions ${expectedRevision}..${event.revision - 1n} are missing` : `revision ${event.revision} repeats`;
          findings.violation({ ...place, check: 'chain', message: `${missing} before this event` });
        }
        if (event.position <= previousPosition) {
          findings.violation({ ...place, check: 'chain', message: `position ${event.position} is not after the previous revision's (${previousPosition}): events reordered` });
        }
        const broken = verifyChain([event], previousHash);
        if (broken !== undefined) {
          const message =
            broken.problem === 'prev_hash_mismatch'
              ? `prevHash ${short(event.metadata?.prevHash)} does not match the previous event's hash ${short(previousHash)} (an event before it was dropped, inserted or reordered)`
              : `hash ${short(event.metadata?.hash)} does not match the event's content (type, schemaVersion or data edited)`;
          findings.violation({ ...place, check: 'chain', message: `event ${event.eventId}: ${message}` });
        }
        // Go on from what is stored, so one edited event is reported once, not at every later event.
        previousHash = typeof event.metadata?.hash === 'string' ? event.metadata.hash : previousHash;
        expectedRevision = event.revision + 1n;
        previousPosition = event.position;
        checked++;
      }
      progress.tick(() => `chains: ${checked} events checked (stream ${streamId})`);
    }
    const head = await reader.streamHead(streamId);
    const lastRevision = expectedRevision - 1n;
    if (head === undefined) findings.violation({ streamId, check: 'stream-head', message: 'the store records no head for this stream (events inserted behind its back)' });
    else if (head.lastRevision !== lastRevision || head.lastHash !== previousHash) {
      findings.violation({
        streamId,
        revision: lastRevision,
        check: 'stream-head',
        message: `recorded head is revision ${head.lastRevision} hash ${short(head.lastHash)}, the last event is revision ${lastRevision} hash ${short(previousHash)}`,
      });
    }
  }
  for await (const head of allStreamHeads(reader)) {
    const [first] = await reader.readStream(head.streamId, 0n, 1);
    if (first === undefined) findings.violation({ streamId: head.streamId, revision: head.lastRevision, check: 'stream-head', message: 'recorded head of a stream with no events (its events were deleted)' });
  }
  return checked;
}

function short(hash: unknown): string {
  return typeof hash === 'string' ? hash.slice(0, 12) : String(hash);
}
