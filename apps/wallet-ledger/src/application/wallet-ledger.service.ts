// The wallet-ledger's application service: routes each command of `ledger.commands` to the
// writer of its shard. No business rule lives here; the writers decide.
import {
  ConfigError,
  domainError,
  KeyedLocks,
  type DomainError,
  type Clock,
  type IdGenerator,
  type LedgerCommandEnvelope,
  type Reply,
} from '@ledger/contracts';
import { expectedState, WrongExpectedVersionError, type EventStore } from '@ledger/event-store';
import { ID_LENGTH_MAX, isSystemAccountId, LEDGER_META_STREAM, POSTINGS_MAX, shardOfCommand, type EntryPosted } from '@ledger/ledger';
import type { WalletLedgerConfig } from '../wallet-ledger.config';
import { transferSagaKeys, WRITER_KEY_PREFIXES } from '../domain/wallet-commands';
import { ledgerStreamId, ShardWriter } from './shard-writer';
import type { SnapshotStore } from './snapshot-store';

export interface WalletLedgerServiceDeps {
  readonly config: WalletLedgerConfig;
  readonly store: EventStore;
  readonly snapshots: SnapshotStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Shards this instance writes; every shard in embedded mode. */
  readonly ownedShards?: readonly number[];
  readonly log?: (message: string) => void;
  /** Why an owner may not open this wallet (WalletLedgerQueries.openWalletRefusal); asked one owner at a time. */
  readonly openWalletRefusal?: (ownerId: string, walletId: string) => Promise<DomainError | undefined>;
  /** The entry the store holds under an internal entry's id on a shard's stream (WalletLedgerQueries.postedEntry), found by its wallets' lines. */
  readonly postedEntry?: (streamId: string, entryId: string, accountIds: readonly string[], kind: unknown) => Promise<EntryPosted | undefined>;
}

const META_LENGTH_MAX = 256;

/** Key prefixes of commands the service sends itself, with the one command type that may use each (none for the writer's). */
const RESERVED_KEY_PREFIXES: readonly (readonly [string, LedgerCommandEnvelope['type'] | undefined])[] = [
  [WRITER_KEY_PREFIXES.open, undefined],
  [WRITER_KEY_PREFIXES.expire, undefined],
  [transferSagaKeys.in(''), 'TransferIn'],
  [transferSagaKeys.reverse(''), 'TransferReverse'],
];

export class WalletLedgerService {
  private readonly writers = new Map<number, ShardWriter>();
  /** One owner's OpenWallet commands at a time: each counts the wallets opened before it. */
  private readonly owners = new KeyedLocks();

  constructor(private readonly deps: WalletLedgerServiceDeps) {}

  get shards(): number {
    return this.deps.config.LEDGER_SHARDS;
  }

  writer(shard: number): ShardWriter | undefined {
    return this.writers.get(shard);
  }

  async start(): Promise<void> {
    await this.checkShardCount();
    const { config } = this.deps;
    const owned = this.deps.ownedShards ?? Array.from({ length: config.LEDGER_SHARDS }, (_, shard) => shard);
    for (const shard of owned) {
      const writer = new ShardWriter({
        store: this.deps.store,
        snapshots: this.deps.snapshots,
        clock: this.deps.clock,
        ids: this.deps.ids,
        shard,
        shards: config.LEDGER_SHARDS,
        log: this.deps.log,
        limits: {
          batchMax: config.BATCH_MAX,
          batchWaitMs: config.BATCH_WAIT_MS,
          queueMax: config.WRITER_QUEUE_MAX,
          snapshotEvery: config.SNAPSHOT_EVERY,
          defaultHoldTimeoutMs: config.HOLD_TIMEOUT_MS,
          holdSweepIntervalMs: config.HOLD_SWEEP_INTERVAL_MS,
        },
      });
      await writer.start();
      this.writers.set(shard, writer);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.writers.values()].map((writer) => writer.stop()));
    this.writers.clear();
  }

  /** One command, answered after its events are durable (or with the error it got). */
  execute(message: LedgerCommandEnvelope): Promise<Reply<unknown>> {
    const invalid = envelopeError(message);
    if (invalid) return Promise.resolve({ ok: false, error: invalid });
    const shard = shardOfCommand(message, this.shards);
    if (shard === undefined) return Promise.resolve({ ok: false, error: domainError('not_found', 'no such wallet or account') });
    const writer = this.writers.get(shard);
    if (writer === undefined) {
      return Promise.resolve({ ok: false, error: domainError('unavailable', `shard ${shard} is not written here`, { retryable: true, shard }) });
    }
    const refusal = this.deps.openWalletRefusal;
    if (message.type === 'OpenWallet' && refusal !== undefined && typeof message.ownerId === 'string' && typeof message.walletId === 'string') {
      const { ownerId, walletId } = message;
      return this.owners.run(ownerId, async () => {
        const refused = await refusal(ownerId, walletId);
        return refused === undefined ? writer.submit(message) : { ok: false, error: refused };
      });
    }
    const postedEntry = this.deps.postedEntry;
    if (message.type === 'PostEntry' && postedEntry !== undefined && typeof message.entryId === 'string' && Array.isArray(message.postings)) {
      // An entry id names one entry forever: the shard's state keeps the ids of a day, the store has the older ones.
      // Wallets only (a system account has no lines), of at most the postings an entry may have (more is refused anyway).
      const accountIds = message.postings
        .slice(0, POSTINGS_MAX)
        .map((posting) => posting?.accountId)
        .filter((id): id is string => typeof id === 'string' && !isSystemAccountId(id));
      return postedEntry(ledgerStreamId(shard), message.entryId, accountIds, message.kind).then(
        (posted) => writer.submit(message, posted),
        () => ({ ok: false, error: domainError('unavailable', 'the ledger could not look up this entry id; retry', { retryable: true }) }),
      );
    }
    return writer.submit(message);
  }

  private async checkShardCount(): Promise<void> {
    const shards = this.deps.config.LEDGER_SHARDS;
    const [recorded] = await this.deps.store.readStream(LEDGER_META_STREAM, { maxCount: 1 });
    if (recorded === undefined) {
      try {
        await this.deps.store.append(
          LEDGER_META_STREAM,
          [
            {
              eventId: this.deps.ids.next(),
              type: 'ledger.ShardsConfigured.v1',
              schemaVersion: 1,
              data: { shards },
              metadata: { correlationId: 'start', causationId: 'start', actor: 'wallet-ledger', occurredAt: new Date(this.deps.clock.nowMs()).toISOString() },
            },
          ],
          expectedState.noStream,
        );
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        return this.checkShardCount(); // another instance recorded it first: compare with theirs
      }
    }
    const recordedShards = (recorded.data as { shards?: unknown }).shards;
    if (recordedShards !== shards) {
      throw new ConfigError('LEDGER_SHARDS', `is ${shards} but this data dir was created with ${String(recordedShards)}; it cannot change`);
    }
  }
}

function envelopeError(message: LedgerCommandEnvelope) {
  const meta = (message as { meta?: unknown })?.meta as Partial<LedgerCommandEnvelope['meta']> | undefined;
  if (typeof message !== 'object' || message === null || typeof message.type !== 'string') {
    return domainError('validation_failed', 'a command needs a type', { fields: [{ field: 'type', reason: 'missing' }] });
  }
  // At most what the shard stores: a longer key was planned (opening system accounts) before decide refused it.
  if (!meta || typeof meta.idempotencyKey !== 'string' || meta.idempotencyKey.length === 0 || meta.idempotencyKey.length > ID_LENGTH_MAX) {
    return domainError('idempotency_key_required', 'every ledger command carries an idempotency key', { idempotencyKeyLengthMax: ID_LENGTH_MAX });
  }
  // Recorded under another's key, a caller's command made that opening, expiry or saga leg idempotency_key_reuse for a day.
  const key = meta.idempotencyKey;
  if (RESERVED_KEY_PREFIXES.some(([prefix, owner]) => key.startsWith(prefix) && message.type !== owner)) {
    return domainError('validation_failed', 'meta.idempotencyKey: reserved', { fields: [{ field: 'meta.idempotencyKey', reason: 'reserved' }] });
  }
  if (typeof meta.actor !== 'string' || meta.actor.length === 0 || meta.actor.length > META_LENGTH_MAX) {
    return domainError('validation_failed', 'meta.actor: missing', { fields: [{ field: 'meta.actor', reason: 'missing' }] });
  }
  return undefined;
}
