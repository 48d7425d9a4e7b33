// Starts the identity service as its own Nest microservice on a bus, as a separate process would:
// the application service behind `identity.commands`, the users projection, and the relay that
// publishes `identity.events` from the store. Keys come from DATA_DIR or the settings; the first
// admin is bootstrapped before the first command is taken. The host composes it.
import type Database from 'better-sqlite3';
import { Logger } from '@nestjs/common';
import { IDENTITY_TOPICS, ShutdownStack, type Clock, type IdGenerator, type Json, type RecordedEvent } from '@ledger/contracts';
import { ProjectionRunner, type EventStore } from '@ledger/event-store';
import { EventRelay, SqliteCheckpointStore, startBusMicroservice, toIntegrationEvent, type IntegrationEvent, type MessageBus } from '@ledger/messaging';
import { loadIdentityKeys, type IdentityKeys } from './application/identity-keys';
import { IdentityService } from './application/identity.service';
import { isEmailReservationStream, USER_STREAM_PREFIX } from './application/user-repository';
import { SqliteUserSnapshots } from './application/user-snapshots';
import type { IdentityConfig } from './identity.config';
import { IdentityModule } from './identity.module';
import { identityUsersProjection } from './projections/identity-users.projection';

export interface IdentityOptions {
  readonly config: IdentityConfig;
  readonly store: EventStore;
  readonly bus: MessageBus;
  /** The service's own SQLite file (see openProjectionDb): projection rows, checkpoints and user snapshots. */
  readonly db: Database.Database;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** DATA_DIR: where the keys live in embedded mode (IDENTITY_KEY_SOURCE=data_dir). */
  readonly dataDir: string;
}

export interface RunningIdentity {
  readonly service: IdentityService;
  readonly projection: ProjectionRunner;
  readonly relay: EventRelay;
  readonly keys: IdentityKeys;
  close(): Promise<void>;
}

/**
 * What leaves on `identity.events`: the facts other services may need, without the password
 * hash, token hashes or sealed secrets (those stay in the store). Keyed by user id.
 */
const PUBLISHED_EVENT_TYPES: ReadonlySet<string> = new Set([
  'identity.UserRegistered.v1',
  'identity.RoleGranted.v1',
  'identity.UserLocked.v1',
  'identity.TotpEnabled.v1',
  'identity.SessionRevoked.v1',
]);

export function toPublishedEvent(event: RecordedEvent): IntegrationEvent {
  const integration = toIntegrationEvent(event);
  if (event.type !== 'identity.UserRegistered.v1') return integration;
  const { passwordHash: _passwordHash, ...data } = event.data as Record<string, Json>;
  return { ...integration, data };
}

export async function startIdentity(options: IdentityOptions): Promise<RunningIdentity> {
  const logger = new Logger('identity');
  const log = (message: string) => logger.warn(message);
  const { config, bus, store } = options;
  const keys = loadIdentityKeys(config, options.dataDir, log);
  const checkpoints = new SqliteCheckpointStore(options.db);

  const projection = new ProjectionRunner({ store, db: options.db, projection: identityUsersProjection });
  await projection.start();
  projection.closed.catch((error: unknown) => logger.error(`identity projection stopped: ${String(error)}`));

  const snapshots = new SqliteUserSnapshots(options.db);
  const service = new IdentityService({ config, store, clock: options.clock, ids: options.ids, keys, log, snapshots });
  const started = new ShutdownStack();
  started.add({ close: () => projection.stop() });
  return started.startOrClose(startTheRest);

  async function startTheRest(): Promise<RunningIdentity> {
    if (config.ADMIN_EMAIL !== '') {
      const admin = await service.bootstrapAdmin(config.ADMIN_EMAIL, config.ADMIN_PASSWORD);
      if (admin.created) logger.log(`created the first admin, user ${admin.userId}`);
      // An operator who changed ADMIN_PASSWORD to rotate it learns the admin's password is not changed by it.
      if (admin.passwordIgnored) log(`ADMIN_PASSWORD is not the password of the admin registered with ADMIN_EMAIL (user ${admin.userId}): it sets the password only when identity creates that admin; this one keeps theirs`);
    }

    const app = await startBusMicroservice(IdentityModule.register(service), bus, {
      groupId: 'identity',
      topics: { [IDENTITY_TOPICS.commands]: config.IDENTITY_PARTITIONS },
      // Password hashing is slow and one user's commands are serialised by the service itself.
      maxInFlightPerPartition: config.IDENTITY_REQUESTS_IN_FLIGHT_MAX,
    });
    started.add(app);

    const relay = await EventRelay.start({
      store,
      bus,
      checkpoints,
      topic: IDENTITY_TOPICS.events,
      name: 'identity.events-relay',
      topicPartitions: config.IDENTITY_PARTITIONS,
      streamPrefixes: [USER_STREAM_PREFIX],
      filter: (event) => !isEmailReservationStream(event.streamId) && PUBLISHED_EVENT_TYPES.has(event.type),
      keyOf: (event) => event.streamId.slice(USER_STREAM_PREFIX.length),
      map: toPublishedEvent,
      logger: { warn: log, error: (message) => logger.error(message) },
    });
    started.add({ close: () => relay.stop() });

    return { service, projection, relay, keys, close: () => started.close() };
  }
}
