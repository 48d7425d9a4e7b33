// Starts the embedded host: opens DATA_DIR, the SQLite event store and the in-process bus,
// and serves HTTP. Everything is closed again, in reverse order, by `close()`.
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { ConfigError, LEDGER_TOPICS, systemClock, uuidv7 } from '@ledger/contracts';
import { openProjectionDb, SqliteEventStore } from '@ledger/event-store';
import { DEAD_LETTERS_FILE, InProcessBus, inProcessBusOptions, loadMessagingConfig, SqliteDeadLetterStore, type EventRelay } from '@ledger/messaging';
import { SqliteSnapshotStore } from '../../wallet-ledger/src/application/snapshot-store';
import { startWalletLedger } from '../../wallet-ledger/src/wallet-ledger.app';
import { loadWalletLedgerConfig } from '../../wallet-ledger/src/wallet-ledger.config';
import { startIdentity } from '../../identity/src/identity.app';
import { loadIdentityConfig } from '../../identity/src/identity.config';
import { LEDGER_EVENTS_GROUP, startCardIssuer } from '../../card-issuer/src/card-issuer.app';
import { loadCardIssuerConfig } from '../../card-issuer/src/card-issuer.config';
import { startGateway } from '../../gateway/src/gateway.app';
import { loadGatewayConfig, networkApiKeyOf } from '../../gateway/src/gateway.config';
import { createGatewayLogger, NestPinoLogger } from '../../gateway/src/observability/logger';
import { sharedWhileInFlight } from '../../gateway/src/observability/readiness';
import { loadHostConfig, type HostConfig } from './host.config';
import { lockDataDir } from './data-dir-lock';

export interface RunningHost {
  readonly config: HostConfig;
  readonly url: string;
  readonly port: number;
  /** The gateway's gRPC API (GRPC_PORT, or the port picked for 0). */
  readonly grpcPort: number;
  /** API.md: in embedded mode the default X-Network-Key is printed at start-up; null when NETWORK_API_KEY is set. */
  readonly defaultNetworkKey: string | null;
  close(): Promise<void>;
}

export async function startHost(env: Readonly<Record<string, string | undefined>> = process.env): Promise<RunningHost> {
  const config = loadHostConfig(env);
  const messagingConfig = loadMessagingConfig(env);
  const walletLedgerConfig = loadWalletLedgerConfig(env);
  const identityConfig = loadIdentityConfig(env);
  const cardIssuerConfig = loadCardIssuerConfig(env);
  const gatewayConfig = loadGatewayConfig(env);
  const dataDir = resolve(config.DATA_DIR);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new ConfigError('DATA_DIR', `cannot be made a directory (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const dataDirLock = lockDataDir(dataDir);
  // One JSON logger (redacting, scrubbing) for every service from the first line on; the
  // gateway would make it Nest's logger anyway, but only once it starts, after the others.
  const logger = createGatewayLogger({ level: gatewayConfig.LOG_LEVEL, service: 'host' });
  Logger.overrideLogger(new NestPinoLogger(logger));

  // What is opened is closed again in reverse order, also by a start that fails half way.
  const closers: (() => unknown)[] = [];
  const opened = <T>(resource: T, close: (resource: T) => unknown): T => {
    closers.unshift(() => close(resource));
    return resource;
  };
  const closeServices = async () => {
    try {
      for (const close of closers.splice(0)) await close();
    } finally {
      dataDirLock.release();
    }
  };
  try {
    const store = opened(new SqliteEventStore({ file: join(dataDir, 'events.sqlite'), synchronous: config.SQLITE_SYNCHRONOUS }), (each) => each.close());
    // The card-issuer's group exists before it subscribes: the ledger's relay, started first, checkpoints nothing it has not read.
    const consumerGroups = { [LEDGER_TOPICS.events]: [LEDGER_EVENTS_GROUP] };
    // Dead letters outlive a restart (the bus's `<topic>.dlq` is memory); closed after the bus, which writes them.
    const deadLetters = opened(new SqliteDeadLetterStore(join(dataDir, DEAD_LETTERS_FILE), { maxMessages: messagingConfig.BUS_DLQ_MAX_MESSAGES }), (each) => each.close());
    const bus = opened(new InProcessBus({ ...inProcessBusOptions(messagingConfig), consumerGroups, deadLetters, logger: new Logger('bus') }), (each) => each.close());
    const snapshots = opened(new SqliteSnapshotStore(join(dataDir, 'wallet-ledger-snapshots.sqlite')), (each) => each.close());
    const walletLedgerDb = opened(openProjectionDb(join(dataDir, 'wallet-ledger.sqlite')), (db) => db.close());
    const identityDb = opened(openProjectionDb(join(dataDir, 'identity.sqlite')), (db) => db.close());
    const cardIssuerDb = opened(openProjectionDb(join(dataDir, 'card-issuer.sqlite')), (db) => db.close());
    const walletLedger = opened(
      await startWalletLedger({
        config: walletLedgerConfig,
        store,
        bus,
        snapshots,
        db: walletLedgerDb,
        clock: systemClock,
        ids: uuidv7,
      }),
      (service) => service.close(),
    );
    const identity = opened(await startIdentity({ config: identityConfig, store, bus, db: identityDb, clock: systemClock, ids: uuidv7, dataDir }), (service) => service.close());
    const cardIssuer = opened(
      await startCardIssuer({ config: cardIssuerConfig, store, bus, db: cardIssuerDb, clock: systemClock, ids: uuidv7, dataDir }),
      (service) => service.close(),
    );
    // One read of the head for all the checks of a /readyz.
    const head = sharedWhileInFlight(() => store.headPosition());
    const gateway = await startGateway({
      config: gatewayConfig,
      dataDir,
      store,
      bus,
      clock: systemClock,
      logger,
      readinessChecks: [
        { name: 'event-store', ready: async () => (await head()) >= 0n },
        { name: 'bus', ready: async () => bus.isOpen() },
        // Caught up: reaches the store's head as of now within the readiness timeout.
        { name: 'wallet-ledger-projection', ready: async () => walletLedger.projection.waitUntil(await head(), 1_000) },
        { name: 'identity-projection', ready: async () => identity.projection.waitUntil(await head(), 1_000) },
        { name: 'card-issuer-projection', ready: async () => cardIssuer.projection.waitUntil(await head(), 1_000) },
        // A relay that stopped for good, or keeps failing to publish, delivers nothing to the other services.
        { name: 'wallet-ledger-relay', ready: relayRunning(walletLedger.relay) },
        { name: 'identity-relay', ready: relayRunning(identity.relay) },
        { name: 'card-issuer-relay', ready: relayRunning(cardIssuer.relay) },
      ],
    });
    return {
      config,
      port: gateway.port,
      grpcPort: gateway.grpcPort,
      url: gateway.url,
      defaultNetworkKey: gatewayConfig.NETWORK_API_KEY === '' ? networkApiKeyOf(gatewayConfig) : null,
      async close() {
        await gateway.close();
        await closeServices();
        logger.flush(); // the services' last lines, written after the gateway's own flush
      },
    };
  } catch (error) {
    await closeServices();
    throw error;
  }
}

/** A readiness check: false once the relay stopped on its own (RelayFailedError, or its store subscription ended), or while it is stalled. */
function relayRunning(relay: EventRelay): () => Promise<boolean> {
  let stopped = false;
  const stop = (): void => void (stopped = true);
  relay.closed.then(stop, stop);
  return async () => !stopped && !relay.stalled();
}
