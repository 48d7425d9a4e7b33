// Audits the ledger streams of a store from the outside, as the audit CLI would: whole hash
// chains, gap-free revisions, balanced entries, each idempotency key decided once per shard and day, every out leg
// of a cross-shard transfer settled once, global sums zero, nobody overdrawn. Folds the streams
// with the domain's own `evolve`, which also asserts its invariants.
import type { RecordedEvent } from '@ledger/contracts';
import { transferReversalId } from '../domain/wallet-commands';
import { verifyChain, type EventStore } from '@ledger/event-store';
import {
  foldLedgerShard,
  globalSums,
  IDEMPOTENCY_WINDOW_MS,
  isOverdrawn,
  ledgerEventOf,
  postedBalance,
  type EntryPosted,
  type LedgerShardState,
} from '@ledger/ledger';

const PAGE_MAX = 1_000;

/** Every event of `ledger-0` .. `ledger-{shards-1}`, per shard, in revision order. */
export async function readLedgerStreams(store: EventStore, shards: number): Promise<RecordedEvent[][]> {
  const streams: RecordedEvent[][] = [];
  for (let shard = 0; shard < shards; shard++) {
    const events: RecordedEvent[] = [];
    for (;;) {
      const page = await store.readStream(`ledger-${shard}`, { fromRevision: BigInt(events.length), maxCount: PAGE_MAX });
      events.push(...page);
      if (page.length < PAGE_MAX) break;
    }
    streams.push(events);
  }
  return streams;
}

export interface LedgerAudit {
  /** Each shard's state folded from its stream (undefined where the fold broke an invariant). */
  readonly states: (LedgerShardState | undefined)[];
  /** Idempotency key -> the events that carry it, across every ledger stream. */
  readonly eventsByKey: ReadonlyMap<string, readonly RecordedEvent[]>;
  /** Per `src->dst:CURRENCY`: credited on transit-to at the source minus debited on transit-from at the destination. */
  readonly inFlight: ReadonlyMap<string, bigint>;
  /** Out legs (transfer id -> source shard) whose destination has not decided yet. */
  readonly unsettledOutLegs: ReadonlyMap<string, number>;
  /** Everything that is wrong, in words; empty when the ledger is sound. */
  readonly problems: readonly string[];
}

export function auditLedger(streams: readonly (readonly RecordedEvent[])[]): LedgerAudit {
  const problems: string[] = [];
  const eventsByKey = new Map<string, RecordedEvent[]>();
  const states: (LedgerShardState | undefined)[] = [];
  /** Per shard: entry ids posted there. */
  const entriesByShard: Set<string>[] = [];

  streams.forEach((events, shard) => {
    const streamId = `ledger-${shard}`;
    events.forEach((event, index) => {
      if (event.streamId !== streamId) problems.push(`${streamId}: event ${event.eventId} belongs to ${event.streamId}`);
      if (event.revision !== BigInt(index)) problems.push(`${streamId}: revision ${event.revision} at index ${index}`);
    });
    const chainBreak = verifyChain(events);
    if (chainBreak !== undefined) problems.push(`${streamId}: hash chain broken: ${JSON.stringify(chainBreak)}`);

    const entryIds = new Set<string>();
    entriesByShard.push(entryIds);
    for (const event of events) {
      const key = (event.data as { idempotencyKey?: unknown }).idempotencyKey;
      if (typeof key !== 'string') problems.push(`${streamId}@${event.revision}: ${event.type} without an idempotency key`);
      else eventsByKey.set(key, [...(eventsByKey.get(key) ?? []), event]);
      if (event.metadata.idempotencyKey !== key) problems.push(`${streamId}@${event.revision}: metadata key ${event.metadata.idempotencyKey} != data key ${String(key)}`);
      if (event.type !== 'ledger.EntryPosted.v1') continue;
      const data = event.data as unknown as EntryPosted['data'];
      if (entryIds.has(data.entryId)) problems.push(`${streamId}: entry ${data.entryId} posted twice`);
      entryIds.add(data.entryId);
      const net = new Map<string, bigint>();
      for (const posting of data.postings) {
        net.set(posting.currency, (net.get(posting.currency) ?? 0n) + (posting.side === 'debit' ? 1n : -1n) * BigInt(posting.amount));
      }
      for (const [currency, sum] of net) if (sum !== 0n) problems.push(`${streamId}: entry ${data.entryId} unbalanced in ${currency} by ${sum}`);
    }

    try {
      states.push(foldLedgerShard(events.map(ledgerEventOf)));
    } catch (error) {
      states.push(undefined);
      problems.push(`${streamId}: folding the stream failed: ${String(error)}`);
    }
  });

  // Keys are per shard, and a key a day old is new again: decided twice is twice on one stream within the window.
  for (const [key, events] of eventsByKey) {
    const twice = events.some((event, index) => {
      const previous = events[index - 1];
      return previous?.streamId === event.streamId && atMsOf(event) - atMsOf(previous) < IDEMPOTENCY_WINDOW_MS;
    });
    if (twice) problems.push(`key ${key} decided ${events.length} times: ${events.map((e) => `${e.streamId}@${e.revision} ${e.type}`).join(', ')}`);
  }

  // Global sums per currency over every shard, and nobody overdrawn.
  const totals = new Map<string, { posted: bigint; pending: bigint }>();
  for (const state of states) {
    if (state === undefined) continue;
    for (const [currency, sums] of globalSums(state)) {
      const total = totals.get(currency) ?? { posted: 0n, pending: 0n };
      totals.set(currency, { posted: total.posted + sums.posted, pending: total.pending + sums.pending });
    }
    for (const account of state.accounts.values()) if (isOverdrawn(account)) problems.push(`account ${account.id} overdrawn`);
  }
  for (const [currency, { posted, pending }] of totals) {
    if (posted !== 0n || pending !== 0n) problems.push(`global sums of ${currency} are posted ${posted}, pending ${pending}`);
  }

  // Transit pairs: what left src for dst and has not landed (or come back) yet.
  const inFlight = new Map<string, bigint>();
  states.forEach((state, src) => {
    for (const account of state?.accounts.values() ?? []) {
      const match = /^sys:transit-to-(\d+):([A-Z]{3}):(\d+)$/.exec(account.id);
      if (!match) continue;
      const dst = Number(match[1]);
      const arrived = states[dst]?.accounts.get(`sys:transit-from-${src}:${match[2]}:${dst}`);
      const landed = arrived === undefined ? 0n : postedBalance(arrived);
      inFlight.set(`${src}->${dst}:${match[2]}`, postedBalance(account) - landed);
    }
  });

  // Each out leg: landed once at the destination, or refused there once and reversed once.
  const unsettledOutLegs = new Map<string, number>();
  streams.forEach((events, src) => {
    for (const event of events) {
      if (event.type !== 'ledger.EntryPosted.v1') continue;
      const refs = (event.data as unknown as EntryPosted['data']).references;
      if (refs.leg !== 'out') continue;
      const transferId = refs.transferId;
      const dst = Number(refs.destinationShard);
      // Entry ids are unique per stream (checked above), so each of these is 0 or 1 unless reported.
      const inLegs = entriesByShard[dst]?.has(transferId) ? 1 : 0;
      const refused = eventsByKey.get(`transfer-in:${transferId}`)?.filter((other) => other.type === 'ledger.CommandRejected.v1').length ?? 0;
      const reversals = entriesByShard[src].has(transferReversalId(transferId)) ? 1 : 0;
      const outcome = `${inLegs} in leg, ${refused} refusal, ${reversals} reversal`;
      if (inLegs === 1 && refused === 0 && reversals === 0) continue;
      // Refused again a day later is no second decision: the saga stopped before reversing, and the destination had forgotten the key.
      if (inLegs === 0 && refused >= 1 && reversals === 1) continue;
      if (inLegs === 0 && reversals === 0) {
        unsettledOutLegs.set(transferId, src); // not decided yet, or refused with the reversal on its way
        continue;
      }
      problems.push(`transfer ${transferId} (shard ${src} -> ${dst}): ${outcome}`);
    }
  });

  return { states, eventsByKey, inFlight, unsettledOutLegs, problems };
}

function atMsOf(event: RecordedEvent): number {
  return (event.data as { atMs: number }).atMs;
}
