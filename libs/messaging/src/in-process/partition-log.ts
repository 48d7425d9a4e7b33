// One partition of a topic: an append-only log of messages with offsets, trimmed from the front
// once every active consumer group has committed past a message.

export interface StoredMessage {
  readonly offset: number;
  readonly key: string;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** Compact the backing array once this many trimmed slots sit in front of it. */
const COMPACT_AFTER_SLOTS = 1024;

export class PartitionLog {
  private entries: StoredMessage[] = [];
  /** Index in `entries` of the first retained message. */
  private head = 0;
  private firstOffset = 0;

  /** Offset of the oldest retained message (== end when empty). */
  get start(): number {
    return this.firstOffset;
  }

  /** Offset the next appended message gets. */
  get end(): number {
    return this.firstOffset + this.depth;
  }

  /** Retained messages: those some active group has not committed yet. */
  get depth(): number {
    return this.entries.length - this.head;
  }

  append(message: Omit<StoredMessage, 'offset'>): StoredMessage {
    const stored: StoredMessage = { ...message, offset: this.end };
    this.entries.push(stored);
    return stored;
  }

  at(offset: number): StoredMessage | undefined {
    if (offset < this.start || offset >= this.end) return undefined;
    return this.entries[this.head + (offset - this.firstOffset)];
  }

  /** Drops every message with an offset below `offset`. */
  trimBefore(offset: number): void {
    const drop = Math.min(offset, this.end) - this.firstOffset;
    if (drop <= 0) return;
    this.head += drop;
    this.firstOffset += drop;
    if (this.head >= COMPACT_AFTER_SLOTS && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
