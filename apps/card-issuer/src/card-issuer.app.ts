// Starts the card-issuer as its own Nest microservice on a bus, as a separate process would: the
// application service behind `cards.commands` and `cards.queries`, the card projection, the
// consumer of `ledger.events` that marks expired holds, and the relay that publishes
// `cards.events`. It talks to the ledger and identity only through the bus. Before the first
// command it finishes authorizations a crash left half done (see recoverRequested).
import type Database from 'better-sqlite3';
import { Logger } from '@nestjs/common';
import { CARD_TOPICS, LEDGER_TOPICS, ShutdownStack, type Clock, type IdGenerator, type Json, type RecordedEvent } from '@ledger/contracts';
import { ProjectionRunner, type EventStore } from '@ledger/event-store';
import {
  BusClientProxy,
  decodeIntegrationEvent,
  EventRelay,
  IdentityClient,
  INTEGRATION_EVENT_HEADERS,
  LedgerClient,
  ProcessedEvents,
  SqliteCheckpointStore,
  startBusMicroservice,
  toIntegrationEvent,
  type IntegrationEvent,
  type MessageBus,
} from '@ledger/messaging';
import { CardCrypto } from './application/card-crypto';
import { loadCardKeys } from './application/card-keys';
import { CardIssuerService, observesLedgerEvent, RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS, type LedgerReplyHook } from './application/card-issuer.service';
import { CARD_STREAM_PREFIX, cardStreamKind } from './application/card-repository';
import type { CardIssuerConfig } from './card-issuer.config';
import { CardIssuerModule } from './card-issuer.module';
import { cardIssuerProjection } from './projections/card-issuer.projection';

export interface CardIssuerOptions {
  readonly config: CardIssuerConfig;
  readonly store: EventStore;
  readonly bus: MessageBus;
  /** The service's own SQLite file (see openProjectionDb): projection rows, checkpoints, processed ledger events. */
  readonly db: Database.Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** DATA_DIR: where the keys live in embedded mode (CARD_KEY_SOURCE=data_dir). */
  readonly dataDir: string;
  /** Tests only: a crash between the ledger's answer and its recorded outcome (see CardIssuerServiceDeps). */
  readonly afterLedgerReply?: LedgerReplyHook;
}

export interface RunningCardIssuer {
  readonly service: CardIssuerService;
  readonly projection: ProjectionRunner;
  readonly relay: EventRelay;
  /** What recovery found on start. */
  readonly recovery: { readonly recovered: number; readonly left: number };
  close(): Promise<void>;
}

/** The consumer group reading `ledger.events` (hold expiries, and outcomes the issuer may have missed). */
export const LEDGER_EVENTS_GROUP = 'card-issuer.ledger-events';
const LEDGER_EVENTS_OBSERVED: ReadonlySet<string> = new Set(['ledger.HoldExpired.v1', 'ledger.HoldCaptured.v1', 'ledger.HoldReleased.v1', 'ledger.EntryPosted.v1']);

/** What leaves on `cards.events`: card facts without the sealed PAN or its fingerprint. Keyed by card id. */
export function toPublishedEvent(event: RecordedEvent): IntegrationEvent {
  const integration = toIntegrationEvent(event);
  if (event.type !== 'cards.CardIssued.v1') return integration;
  const { sealedPan: _sealedPan, panFingerprint: _panFingerprint, ...data } = event.data as Record<string, Json>;
  return { ...integration, data };
}

export async function startCardIssuer(options: CardIssuerOptions): Promise<RunningCardIssuer> {
  const logger = new Logger('card-issuer');
  const log = (message: string) => logger.warn(message);
  const { config, bus, store } = options;
  const crypto = new CardCrypto(loadCardKeys(config, options.dataDir, log));
  const checkpoints = new SqliteCheckpointStore(options.db);
  const processed = new ProcessedEvents({ consumer: LEDGER_EVENTS_GROUP, db: options.db });

  const projection = new ProjectionRunner({ store, db: options.db, projection: cardIssuerProjection });
  await projection.start();
  projection.closed.catch((error: unknown) => logger.error(`card projection stopped: ${String(error)}`));
  const started = new ShutdownStack();
  started.add({ close: () => projection.stop() });
  return started.startOrClose(startTheRest);

  async function startTheRest(): Promise<RunningCardIssuer> {
    const client = started.add(new BusClientProxy(bus, { clientId: 'card-issuer', requestTimeoutMs: config.CARD_UPSTREAM_TIMEOUT_MS }));
    await client.connect();
    const service = new CardIssuerService({
      config,
      store,
      clock: options.clock,
      ids: options.ids,
      crypto,
      // A shard's PlaceHolds of one turn travel as one CommandBatch (one bus round trip, one shard commit).
      ledger: new LedgerClient(client, config.LEDGER_SHARDS, { coalesce: true }),
      identity: new IdentityClient(client),
      projection,
      db: options.db,
      log,
      afterLedgerReply: options.afterLedgerReply,
    });

    // Before any command: holds asked for by a process that crashed before recording the answer.
    const recovery = await service.recoverRequested();
    if (recovery.recovered > 0 || recovery.left > 0) log(`recovered ${recovery.recovered} interrupted authorizations, ${recovery.left} left for the next start`);

    const recoverLater = () => {
      service.recoverRequested().catch((error: unknown) => log(`recovery failed: ${error instanceof Error ? error.message : String(error)}`));
    };
    if (config.CARD_RECOVERY_INTERVAL_MS > 0) {
      // Safe beside live traffic: recovery takes each card's lock and skips intents young enough to be in flight in another process.
      const timer = setInterval(recoverLater, config.CARD_RECOVERY_INTERVAL_MS);
      timer.unref();
      started.add({ close: () => clearInterval(timer) });
    } else if (recovery.left > 0) {
      // No interval: intents too young to take at start (maybe in flight elsewhere) are taken once they are old enough.
      const timer = setTimeout(recoverLater, RECOVERY_MIN_AGE_UPSTREAM_TIMEOUTS * config.CARD_UPSTREAM_TIMEOUT_MS);
      timer.unref();
      started.add({ close: () => clearTimeout(timer) });
    }

    const consumer = await bus.subscribe({
      topics: [LEDGER_TOPICS.events],
      groupId: LEDGER_EVENTS_GROUP,
      handler: async (message) => {
        // Most ledger events (holds placed, transfers) are none of ours: the type header says so without decoding.
        const type = message.headers[INTEGRATION_EVENT_HEADERS.type];
        if (type !== undefined && !LEDGER_EVENTS_OBSERVED.has(type)) return;
        const event = decodeIntegrationEvent(message.value);
        if (!LEDGER_EVENTS_OBSERVED.has(event.type) || !observesLedgerEvent(event)) return; // e.g. an entry that is no card refund: no dedup row
        await processed.handleOnce(event.eventId, () => service.ledgerEvent(event));
      },
    });
    started.add({ close: () => consumer.stop() });

    const app = await startBusMicroservice(CardIssuerModule.register(service), bus, {
      groupId: 'card-issuer',
      topics: { [CARD_TOPICS.commands]: config.CARD_PARTITIONS, [CARD_TOPICS.queries]: config.CARD_PARTITIONS },
      // One card's decisions are serialised by the service; other cards' requests need not wait.
      maxInFlightPerPartition: config.CARD_REQUESTS_IN_FLIGHT_MAX,
    });
    started.add(app);

    const relay = await EventRelay.start({
      store,
      bus,
      checkpoints,
      topic: CARD_TOPICS.events,
      name: 'card-issuer.events-relay',
      topicPartitions: config.CARD_PARTITIONS,
      streamPrefixes: [CARD_STREAM_PREFIX],
      filter: (event) => cardStreamKind(event.streamId) === 'card',
      keyOf: (event) => event.streamId.slice(CARD_STREAM_PREFIX.length),
      map: toPublishedEvent,
      logger: { warn: log, error: (message) => logger.error(message) },
    });
    started.add({ close: () => relay.stop() });

    return { service, projection, relay, recovery, close: () => started.close() };
  }
}
