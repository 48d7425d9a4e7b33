// Starts the wallet-ledger as its own Nest microservice on a bus, as a separate process would:
// shard writers behind `ledger.commands`, the projection behind `ledger.queries`, the relay
// that publishes `ledger.events` from the store, and the cross-shard transfer saga (which
// reaches the writers through the transport only). The host composes it.
import type Database from 'better-sqlite3';
import { Logger } from '@nestjs/common';
import { LEDGER_TOPICS, ShutdownStack, type Clock, type IdGenerator } from '@ledger/contracts';
import { ProjectionRunner, type EventStore } from '@ledger/event-store';
import { BusClientProxy, EventRelay, startBusMicroservice, EventStoreCheckpointStore, LedgerClient, SqliteCheckpointStore, type MessageBus } from '@ledger/messaging';
import { LEDGER_META_STREAM } from '@ledger/ledger';
import type { SnapshotStore } from './application/snapshot-store';
import { HeapPolicy } from './application/heap-policy';
import { TransferSaga } from './application/transfer-saga';
import { QUERY_CATCH_UP_TIMEOUT_MS, WalletLedgerQueries } from './application/wallet-ledger.queries.service';
import { WalletLedgerService } from './application/wallet-ledger.service';
import { walletLedgerProjection } from './projections/wallet-ledger.projection';
import { isTransferSettled } from './projections/wallet-ledger.queries';
import type { WalletLedgerConfig } from './wallet-ledger.config';
import { WalletLedgerModule } from './wallet-ledger.module';

export interface WalletLedgerOptions {
  readonly config: WalletLedgerConfig;
  readonly store: EventStore;
  readonly bus: MessageBus;
  readonly snapshots: SnapshotStore;
  /** The service's own SQLite file (see openProjectionDb): projection rows and checkpoints. */
  readonly db: Database.Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

export interface RunningWalletLedger {
  readonly service: WalletLedgerService;
  readonly queries: WalletLedgerQueries;
  readonly projection: ProjectionRunner;
  readonly relay: EventRelay;
  readonly saga: TransferSaga;
  close(): Promise<void>;
}

export async function startWalletLedger(options: WalletLedgerOptions): Promise<RunningWalletLedger> {
  const logger = new Logger('wallet-ledger');
  const log = (message: string) => logger.warn(message);
  const { config, bus, store } = options;
  const checkpoints = new SqliteCheckpointStore(options.db);

  const projection = new ProjectionRunner({ store, db: options.db, projection: walletLedgerProjection });
  await projection.start();
  projection.closed.catch((error: unknown) => logger.error(`wallet projection stopped: ${String(error)}`));

  const queries = new WalletLedgerQueries(store, projection, options.db, options.clock);
  const service = new WalletLedgerService({
    config,
    store,
    snapshots: options.snapshots,
    clock: options.clock,
    ids: options.ids,
    log,
    openWalletRefusal: (ownerId, walletId) => queries.openWalletRefusal(ownerId, walletId),
    postedEntry: (streamId, entryId, accountIds, kind) => queries.postedEntry(streamId, entryId, accountIds, kind),
  });
  const started = new ShutdownStack();
  started.add({ close: () => projection.stop() });
  started.add(new HeapPolicy(config).start());
  return started.startOrClose(startTheRest);

  async function startTheRest(): Promise<RunningWalletLedger> {
    const app = await startBusMicroservice(WalletLedgerModule.register(service, queries), bus, {
      groupId: 'wallet-ledger',
      topics: { [LEDGER_TOPICS.commands]: config.LEDGER_SHARDS },
      // A whole batch of a shard's commands reaches its writer at once: group commit.
      maxInFlightPerPartition: config.BATCH_MAX,
    });
    started.add(app);

    const relay = await EventRelay.start({
      store,
      bus,
      checkpoints,
      topic: LEDGER_TOPICS.events,
      name: 'wallet-ledger.events-relay',
      topicPartitions: config.LEDGER_SHARDS,
      streamPrefixes: ['ledger-'],
      filter: (event) => event.streamId !== LEDGER_META_STREAM,
      keyOf: (event) => event.streamId.slice('ledger-'.length),
      partitionOf: (event) => Number(event.streamId.slice('ledger-'.length)),
      logger: { warn: log, error: (message) => logger.error(message) },
    });
    started.add({ close: () => relay.stop() });

    const client = new BusClientProxy(bus, { clientId: 'wallet-ledger-saga' });
    started.add(client);
    await client.connect();
    // The saga settles up to 256 in legs at once: one bus message per destination shard, not one each.
    const ledger = new LedgerClient(client, config.LEDGER_SHARDS, { coalesce: true });
    const saga = new TransferSaga({
      store,
      // In the store, not the rebuildable projection file: replaying old out legs could credit twice.
      checkpoint: new EventStoreCheckpointStore(store, options.ids, () => options.clock.nowMs()),
      send: (message) => ledger.command(message),
      ownsShard: (shard) => service.writer(shard) !== undefined,
      nowMs: () => options.clock.nowMs(),
      isSettled: async (transfer) => {
        if (!(await projection.waitUntil(await store.headPosition(), QUERY_CATCH_UP_TIMEOUT_MS))) throw new Error('the wallet projection is catching up');
        return isTransferSettled(options.db, transfer);
      },
      log,
    });
    started.add({ close: () => saga.stop() });
    await saga.start();

    return { service, queries, projection, relay, saga, close: () => started.close() };
  }
}
