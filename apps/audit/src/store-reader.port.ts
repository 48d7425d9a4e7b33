// The audit's read port onto an event store: pages only, so memory never grows with the number
// of events. The embedded SQLite reader implements it (./sqlite-store-reader.ts); a KurrentDB
// reader (distributed mode) can implement the same five reads later.
import type { RecordedEvent } from '@ledger/contracts';

/** What the store itself records as a stream's head (SQLite: the `streams` table). */
export interface StreamHead {
  readonly streamId: string;
  readonly lastRevision: bigint;
  readonly lastHash: string;
}

export interface StoreReader {
  /** Global position of the last event (0n when empty). */
  headPosition(): Promise<bigint>;
  /** Up to `maxCount` events with position > `afterPosition`, in position order. */
  readAll(afterPosition: bigint, maxCount: number): Promise<RecordedEvent[]>;
  /** Up to `maxCount` events of one stream from `fromRevision`, in revision order. */
  readStream(streamId: string, fromRevision: bigint, maxCount: number): Promise<RecordedEvent[]>;
  /** Up to `maxCount` ids of streams that hold events, sorted, after `afterStreamId` (undefined for the first: '' is an id too, if only a forged one's). */
  streamIds(afterStreamId: string | undefined, maxCount: number): Promise<string[]>;
  /** The head the store records for one stream, or undefined when it records none. */
  streamHead(streamId: string): Promise<StreamHead | undefined>;
  /** Up to `maxCount` recorded stream heads, sorted by stream id, after `afterStreamId` (undefined for the first). */
  streamHeads(afterStreamId: string | undefined, maxCount: number): Promise<StreamHead[]>;
  close(): Promise<void>;
}

/** Events per page the audit reads: big enough to amortise a read, small enough to bound memory. */
export const READ_PAGE_EVENTS = 2_000;
/** Stream ids or heads per page. */
export const READ_PAGE_STREAMS = 1_000;

/** Every event in position order (after `afterPosition`, up to `throughPosition` when given), page by page (each page is one read). */
export async function* pagesByPosition(reader: StoreReader, pageEvents = READ_PAGE_EVENTS, afterPosition = 0n, throughPosition?: bigint): AsyncGenerator<RecordedEvent[]> {
  let after = afterPosition;
  for (;;) {
    const read = await reader.readAll(after, pageEvents);
    const page = throughPosition === undefined ? read : read.filter((event) => event.position <= throughPosition);
    if (page.length === 0) return;
    yield page;
    if (page.length < read.length) return;
    after = page[page.length - 1].position;
  }
}

/** Every event of one stream, page by page. */
export async function* pagesOfStream(reader: StoreReader, streamId: string): AsyncGenerator<RecordedEvent[]> {
  let from = 0n;
  for (;;) {
    const page = await reader.readStream(streamId, from, READ_PAGE_EVENTS);
    if (page.length === 0) return;
    yield page;
    if (page.length < READ_PAGE_EVENTS) return;
    from = page[page.length - 1].revision + 1n;
  }
}

/** Every id of a stream that holds events, sorted. */
export function allStreamIds(reader: StoreReader): AsyncGenerator<string> {
  return allByStreamId((after, max) => reader.streamIds(after, max), (streamId) => streamId);
}

/** Every recorded stream head, sorted by stream id. */
export function allStreamHeads(reader: StoreReader): AsyncGenerator<StreamHead> {
  return allByStreamId((after, max) => reader.streamHeads(after, max), (head) => head.streamId);
}

/** Pages of a read keyed by stream id, each after the last id of the one before. */
async function* allByStreamId<T>(read: (afterStreamId: string | undefined, maxCount: number) => Promise<T[]>, streamIdOf: (item: T) => string): AsyncGenerator<T> {
  let after: string | undefined;
  for (;;) {
    const page = await read(after, READ_PAGE_STREAMS);
    yield* page;
    if (page.length < READ_PAGE_STREAMS) return;
    after = streamIdOf(page[page.length - 1]);
  }
}
