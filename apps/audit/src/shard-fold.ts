// Folds one ledger shard's stream with libs/ledger's `evolve`, up to a point: what `balance` and
// `statement` read (one shard's state in memory, the stream read page by page).
import type { RecordedEvent } from '@ledger/contracts';
import { evolve, initialState, LEDGER_META_STREAM, ledgerEventOf, shardOf, type LedgerEvent, type LedgerShardState } from '@ledger/ledger';
import { withCardNumbersWithheld } from './card-number-filter';
import { journalPostings, type JournalPosting } from './journal';
import { pagesOfStream, type StoreReader } from './store-reader.port';

/** The shard that owns `accountId`, or undefined when the store has no ledger (or the id names no shard). */
export async function shardOfAccount(reader: StoreReader, accountId: string): Promise<number | undefined> {
  const [meta] = await reader.readStream(LEDGER_META_STREAM, 0n, 1);
  const shards = (meta?.data as { shards?: unknown } | undefined)?.shards;
  if (typeof shards !== 'number') return undefined;
  return shardOf(accountId, shards);
}

export interface FoldVisitor {
  /** True stops the fold before `event` is applied. */
  stopBefore(event: RecordedEvent): boolean;
  /** Called after each event is applied. */
  applied?(event: RecordedEvent, ledgerEvent: LedgerEvent, state: LedgerShardState): void;
}

/** A ledger event balance, statement or export cannot use (evolve refuses it, or its data is not of its type's shape): reported naming it. */
export class UnusableLedgerEventError extends Error {
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: bigint;

  constructor(event: RecordedEvent, what: string, reason: string) {
    // libs/ledger's invariant messages name holds and entries by id, caller text.
    super(`${what} (${withCardNumbersWithheld(reason)}); run verify`);
    this.name = 'UnusableLedgerEventError';
    this.streamId = event.streamId;
    this.revision = event.revision;
    this.position = event.position;
  }
}

/** The only schemaVersion of the ledger's (and the card-issuer's) events this audit can read: their writers append 1. */
export const SCHEMA_VERSION_READ = 1;

/** Why the audit cannot read `event` as its type says, or undefined: a newer schemaVersion may mean anything. */
export function unreadableSchema(event: RecordedEvent): string | undefined {
  return event.schemaVersion === SCHEMA_VERSION_READ ? undefined : `schemaVersion ${event.schemaVersion} of ${event.type}: this audit reads schemaVersion ${SCHEMA_VERSION_READ} only`;
}

/** A stored ledger event as the domain's, or UnusableLedgerEventError when it is of a schemaVersion the audit cannot read. */
export function storedLedgerEvent(event: RecordedEvent): LedgerEvent {
  const unreadable = unreadableSchema(event);
  if (unreadable !== undefined) throw new UnusableLedgerEventError(event, 'this event cannot be read', unreadable);
  return ledgerEventOf(event);
}

/** A stored event's journal postings, or UnusableLedgerEventError naming it when its data is not of its type's shape. */
export function storedJournalPostings(event: RecordedEvent): JournalPosting[] {
  const ledgerEvent = storedLedgerEvent(event);
  try {
    return journalPostings(ledgerEvent);
  } catch (error) {
    throw new UnusableLedgerEventError(event, 'this event is not a journal entry of its type', (error as Error).message);
  }
}

/** The shard's state up to where `visitor` stops, and the last event applied. */
export async function foldShard(reader: StoreReader, shard: number, visitor: FoldVisitor): Promise<{ state: LedgerShardState; last: RecordedEvent | undefined }> {
  const state = initialState();
  let last: RecordedEvent | undefined;
  for await (const page of pagesOfStream(reader, `ledger-${shard}`)) {
    for (const event of page) {
      if (visitor.stopBefore(event)) return { state, last };
      const ledgerEvent = storedLedgerEvent(event);
      try {
        evolve(state, ledgerEvent);
      } catch (error) {
        throw new UnusableLedgerEventError(event, 'the shard cannot be folded past this event', (error as Error).message);
      }
      last = event;
      visitor.applied?.(event, ledgerEvent, state);
    }
  }
  return { state, last };
}
