// The cross-shard transfer saga (DESIGN.md §4): follows the ledger streams from a checkpoint;
// an out leg is relayed to the destination shard as TransferIn (deduplicated there by the
// transfer's key), and a definitive refusal there is answered by TransferReverse on the source.
// At least once from the checkpoint; exactly once in effect through the idempotency keys.
import { setTimeout as sleep } from 'node:timers/promises';
import type { DomainError, LedgerCommandEnvelope, Reply } from '@ledger/contracts';
import type { EventStore, Subscription } from '@ledger/event-store';
import type { CheckpointStore } from '@ledger/messaging';
import { IDEMPOTENCY_WINDOW_MS, type EntryPosted } from '@ledger/ledger';
import type { RecordedEvent } from '@ledger/contracts';
import { transferSagaKeys } from '../domain/wallet-commands';

/** The saga's name in the checkpoint store. */
export const TRANSFER_SAGA_CHECKPOINT = 'wallet-ledger.transfer-saga';

export interface TransferSagaDeps {
  readonly store: EventStore;
  readonly checkpoint: CheckpointStore;
  /** Sends a ledger command through the transport (never a direct call). */
  readonly send: (message: LedgerCommandEnvelope) => Promise<Reply<unknown>>;
  /** Shards whose out legs this instance relays (its own). */
  readonly ownsShard: (shard: number) => boolean;
  /** The one clock: tells an out leg older than the shards remember its keys. */
  readonly nowMs: () => number;
  /** Whether the transfer's in leg or reversal is posted (asked only of stale out legs); throws when it cannot tell yet. */
  readonly isSettled: (transfer: TransferLegs) => Promise<boolean>;
  readonly log?: (message: string) => void;
}

export interface TransferLegs {
  readonly transferId: string;
  readonly fromWalletId: string;
  readonly toWalletId: string;
}

/**
 * Out legs at least this old are checked against what is posted before they are relayed: the
 * shards forget the keys of their in legs and reversals after IDEMPOTENCY_WINDOW_MS, so a replay
 * (a restart from an older checkpoint) would credit or reverse twice. Half the window: room for clocks.
 */
export const STALE_OUT_LEG_MS = IDEMPOTENCY_WINDOW_MS / 2;

/** Retryable failures back off from this, doubling, up to RETRY_BACKOFF_MAX_MS; never skipped. */
const RETRY_BACKOFF_MS = 20;
const RETRY_BACKOFF_MAX_MS = 2_000;
/** The checkpoint is saved at most this many events apart (replaying from an older one is harmless within the idempotency window). */
const CHECKPOINT_EVERY_EVENTS = 256;
/** Out legs being settled at once; in-legs are idempotent per transfer, so their order does not matter. */
export const SAGA_SETTLES_IN_FLIGHT_MAX = 256;

interface InFlight {
  readonly position: bigint;
  done: boolean;
  settled: Promise<void>;
}

export class TransferSaga {
  private subscription: Subscription | undefined;
  private stopped = false;
  /** Every out leg at or below this position is settled. */
  private relayedThrough = 0n;
  private savedThrough = 0n;
  /** Events after `relayedThrough`, in position order, with their out legs' settling. */
  private readonly inFlight: InFlight[] = [];

  constructor(private readonly deps: TransferSagaDeps) {}

  async start(): Promise<void> {
    const afterPosition = await this.deps.checkpoint.load(TRANSFER_SAGA_CHECKPOINT);
    this.relayedThrough = afterPosition;
    this.savedThrough = afterPosition;
    this.follow(afterPosition, 0);
  }

  /** Subscribes after `afterPosition`; a subscription that fails (a read error) is followed by a new one, not left stopped. */
  private follow(afterPosition: bigint, failures: number): void {
    const subscription = this.deps.store.subscribe((event) => this.handle(event), { afterPosition, streamPrefixes: ['ledger-'] });
    this.subscription = subscription;
    subscription.closed.catch(async (error: unknown) => {
      if (this.stopped) return;
      this.deps.log?.(`transfer saga: its subscription failed (${String(error)}); following the store again`);
      // What was handed out settles first, so the next subscription starts right after the settled prefix.
      await Promise.allSettled(this.inFlight.map((entry) => entry.settled));
      this.advance();
      await sleep(Math.min(RETRY_BACKOFF_MS * 2 ** Math.min(failures, 16), RETRY_BACKOFF_MAX_MS));
      if (!this.stopped) this.follow(this.relayedThrough, failures + 1);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.subscription?.stop();
    await Promise.allSettled(this.inFlight.map((entry) => entry.settled));
    this.advance();
    if (this.relayedThrough > this.savedThrough) await this.saveCheckpoint();
  }

  /** The store position up to which every out leg has been settled. */
  position(): bigint {
    return this.relayedThrough;
  }

  private async handle(event: RecordedEvent): Promise<void> {
    let settling: Promise<void> | undefined;
    if (event.type === 'ledger.EntryPosted.v1') {
      const data = event.data as unknown as EntryPosted['data'];
      const sourceShard = Number(event.streamId.slice('ledger-'.length));
      if (data.references.leg === 'out' && this.deps.ownsShard(sourceShard)) settling = this.settle(data, sourceShard);
    }
    if (settling === undefined && this.inFlight.length === 0) {
      this.relayedThrough = event.position;
    } else {
      const tracked: InFlight = { position: event.position, done: settling === undefined, settled: Promise.resolve() };
      if (settling !== undefined) {
        tracked.settled = settling.then(() => {
          tracked.done = true;
          this.advance();
        });
        tracked.settled.catch(() => undefined);
      }
      this.inFlight.push(tracked);
      // A full window waits for its oldest, so the subscription (and memory) stay bounded.
      if (this.inFlight.length >= SAGA_SETTLES_IN_FLIGHT_MAX) await this.inFlight[0].settled;
      this.advance();
    }
    if (this.relayedThrough - this.savedThrough >= BigInt(CHECKPOINT_EVERY_EVENTS)) {
      // Tried again at the next event: a throw here stopped the subscription, and with it every transfer's relay, for good.
      await this.saveCheckpoint().catch((error: unknown) => this.deps.log?.(`transfer saga: checkpoint not saved (${String(error)}); retrying`));
    }
  }

  /** Moves `relayedThrough` over the settled prefix of the window. */
  private advance(): void {
    while (this.inFlight.length > 0 && this.inFlight[0].done) this.relayedThrough = this.inFlight.shift()!.position;
  }

  private async saveCheckpoint(): Promise<void> {
    await this.deps.checkpoint.save(TRANSFER_SAGA_CHECKPOINT, this.relayedThrough);
    this.savedThrough = this.relayedThrough;
  }

  private async settle(data: EntryPosted['data'], sourceShard: number): Promise<void> {
    const refs = data.references;
    const debit = data.postings.find((posting) => posting.side === 'debit');
    if (!debit || !refs.transferId || !refs.fromWalletId || !refs.toWalletId) {
      this.deps.log?.(`transfer saga: out leg ${data.entryId} lacks references; skipped`);
      return;
    }
    const common = {
      transferId: refs.transferId,
      fromWalletId: refs.fromWalletId,
      toWalletId: refs.toWalletId,
      amount: debit.amount,
      currency: debit.currency,
    };
    if (this.deps.nowMs() - data.atMs >= STALE_OUT_LEG_MS && (await this.untilKnown(() => this.deps.isSettled(common)))) {
      this.deps.log?.(`transfer saga: out leg ${refs.transferId} is settled already; not relayed again`);
      return;
    }
    const credited = await this.untilDefinitive({
      type: 'TransferIn',
      ...common,
      sourceShard,
      ...(refs.memo ? { memo: refs.memo } : {}),
      meta: { idempotencyKey: transferSagaKeys.in(refs.transferId), actor: 'transfer-saga', correlationId: refs.transferId },
    });
    if (credited.ok) return;
    const reversed = await this.untilDefinitive({
      type: 'TransferReverse',
      ...common,
      destinationShard: Number(refs.destinationShard),
      reason: credited.error.code,
      meta: { idempotencyKey: transferSagaKeys.reverse(refs.transferId), actor: 'transfer-saga', correlationId: refs.transferId },
    });
    if (!reversed.ok) {
      // Cannot happen while the transit account holds the money; loud, because money is stuck in transit.
      this.deps.log?.(`transfer saga: reversal of ${refs.transferId} refused (${reversed.error.code}); money stays in transit`);
    }
  }

  /** Sends until the answer is not a retryable one (transport timeouts and `unavailable` are). */
  private untilDefinitive(message: LedgerCommandEnvelope): Promise<{ ok: true } | { ok: false; error: DomainError }> {
    return this.untilKnown(async () => {
      try {
        const reply = await this.deps.send(message);
        if (reply.ok) return { ok: true };
        if (reply.error.code !== 'unavailable') return { ok: false, error: reply.error };
      } catch (error) {
        this.deps.log?.(`transfer saga: ${message.type} ${message.meta.idempotencyKey} failed (${String(error)}); retrying`);
      }
      return undefined;
    });
  }

  /** Asks until there is an answer (undefined or a throw is none), backing off; never skipped. */
  private async untilKnown<T>(ask: () => Promise<T | undefined>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new SagaStopped();
      try {
        const answer = await ask();
        if (answer !== undefined) return answer;
      } catch (error) {
        this.deps.log?.(`transfer saga: ${String(error)}; retrying`);
      }
      await sleep(Math.min(RETRY_BACKOFF_MS * 2 ** Math.min(attempt, 16), RETRY_BACKOFF_MAX_MS));
    }
  }
}

/** A settle cut short by stop(): its out leg is settled after the next start, from the checkpoint. */
class SagaStopped extends Error {
  constructor() {
    super('transfer saga stopped');
    this.name = 'SagaStopped';
  }
}
