// Starts the card-issuer with the real wallet-ledger and identity on one temp data dir (one
// event store, one in-process bus), and a client that reaches the card-issuer only through the
// bus, as the gateway does. Reuses the wallet-ledger's harness for the store, bus and ledger.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { firstValueFrom } from 'rxjs';
import {
  CARD_TOPICS,
  cardKeyOf,
  ManualClock,
  UuidV7Generator,
  type CardCommandEnvelope,
  type CardCommandMessage,
  type CardQueryMessage,
  type Reply,
} from '@ledger/contracts';
import { openProjectionDb, type ProjectionRunner } from '@ledger/event-store';
import { waitFor } from '@ledger/contracts/testing';
import { BusClientProxy, IdentityClient, keyed } from '@ledger/messaging';
import { startHarness, tempDataDir, type Harness } from '../../../wallet-ledger/src/testing/wallet-ledger.harness';
import { startIdentity, type RunningIdentity } from '../../../identity/src/identity.app';
import { loadIdentityConfig } from '../../../identity/src/identity.config';
import { FAST_ARGON2_ENV } from '../../../identity/src/testing/identity.harness';
import { CardIssuerService, type CardIssuerServiceDeps } from '../application/card-issuer.service';
import { LEDGER_EVENTS_GROUP, startCardIssuer, type CardIssuerOptions, type RunningCardIssuer } from '../card-issuer.app';
import { loadCardIssuerConfig } from '../card-issuer.config';

export const LEDGER_SHARDS = 4;

export interface CardHarnessOptions {
  readonly dataDir?: string;
  readonly clock?: ManualClock;
  /** Settings of the card-issuer (and the ledger's LEDGER_SHARDS / HOLD_* settings). */
  readonly env?: Record<string, string>;
  readonly afterLedgerReply?: CardIssuerOptions['afterLedgerReply'];
}

export interface CardHarness {
  readonly dataDir: string;
  readonly clock: ManualClock;
  readonly ledger: Harness;
  readonly identity: RunningIdentity;
  readonly identityClient: IdentityClient;
  /** The card-issuer now running (replaced by `restartCards`). */
  readonly cards: RunningCardIssuer;
  readonly db: Database.Database;
  /** Sends a command with `key` as its idempotency key (a fresh one when absent). */
  send<T = unknown>(message: CardCommandMessage, key?: string): Promise<Reply<T>>;
  sendRaw<T = unknown>(envelope: unknown): Promise<Reply<T>>;
  query<T = unknown>(message: CardQueryMessage): Promise<Reply<T>>;
  /** Stops the card-issuer only (as a crash would, minus the kill) and starts it again on the same data. */
  restartCards(options?: Pick<CardHarnessOptions, 'env' | 'afterLedgerReply'>): Promise<RunningCardIssuer>;
  close(options?: { remove?: boolean }): Promise<void>;
}

let keys = 0;

export async function startCardHarness(options: CardHarnessOptions = {}): Promise<CardHarness> {
  const dataDir = options.dataDir ?? tempDataDir();
  const clock = options.clock ?? new ManualClock();
  const env = { LEDGER_SHARDS: String(LEDGER_SHARDS), ...options.env };
  const ledger = await startHarness({ dataDir, clock, env });
  const ids = new UuidV7Generator(() => clock.nowMs());
  const identityDb = openProjectionDb(join(dataDir, 'identity.sqlite'));
  const identity = await startIdentity({
    config: loadIdentityConfig({ ...FAST_ARGON2_ENV, IDENTITY_PARTITIONS: '2' }),
    store: ledger.store,
    bus: ledger.bus,
    db: identityDb,
    clock,
    ids,
    dataDir,
  });
  let db = openProjectionDb(join(dataDir, 'card-issuer.sqlite'));
  const start = (extra: Pick<CardHarnessOptions, 'env' | 'afterLedgerReply'>) =>
    startCardIssuer({
      config: loadCardIssuerConfig({ ...env, ...extra.env }),
      store: ledger.store,
      bus: ledger.bus,
      db,
      clock,
      ids,
      dataDir,
      afterLedgerReply: extra.afterLedgerReply,
    });
  let cards = await start(options);
  const proxy = new BusClientProxy(ledger.bus, { clientId: 'test-gateway', requestTimeoutMs: 10_000 });
  await proxy.connect();
  const sendRaw = <T>(envelope: unknown) => firstValueFrom(proxy.send<Reply<T>>(CARD_TOPICS.commands, keyed(cardKeyOf(envelope as CardCommandMessage), envelope)));
  const harness: CardHarness = {
    dataDir,
    clock,
    ledger,
    identity,
    identityClient: new IdentityClient(proxy),
    get cards() {
      return cards;
    },
    get db() {
      return db;
    },
    send: <T>(message: CardCommandMessage, key = `key-${++keys}`) =>
      sendRaw<T>({ ...message, meta: { idempotencyKey: key, actor: 'test-gateway' } } as CardCommandEnvelope),
    sendRaw,
    query: <T>(message: CardQueryMessage) => firstValueFrom(proxy.send<Reply<T>>(CARD_TOPICS.queries, keyed(cardKeyOf(message), message))),
    async restartCards(extra = {}) {
      await cards.close();
      db.close();
      db = openProjectionDb(join(dataDir, 'card-issuer.sqlite'));
      cards = await start(extra);
      return cards;
    },
    async close({ remove = false } = {}) {
      await proxy.close();
      await cards.close();
      db.close();
      await identity.close();
      identityDb.close();
      await ledger.close({ remove });
    },
  };
  return harness;
}

/** How many ledger events the issuer has handled (its durable dedup table): a test waits for it to grow. */
export function processedLedgerEvents(harness: CardHarness): number {
  return (harness.db.prepare('SELECT count(*) AS n FROM processed_events WHERE consumer = ?').get(LEDGER_EVENTS_GROUP) as { n: number }).n;
}

let frozenFiles = 0;

/**
 * Another issuer process on the same store, ledger and keys whose projection stays as the harness's is now (caught up
 * first): behind everything appended later, as during a restart's catch-up or a rebuild. `close` closes its file.
 */
export async function issuerWithProjectionFrozenNow(harness: CardHarness): Promise<{ service: CardIssuerService; close: () => void }> {
  await waitFor('the projection to catch up', async () => harness.cards.projection.processedThrough() >= (await harness.ledger.store.headPosition()));
  const file = join(harness.dataDir, `card-issuer-frozen-${++frozenFiles}.sqlite`);
  writeFileSync(file, harness.db.serialize());
  const db = new Database(file);
  const deps = (harness.cards.service as unknown as { deps: CardIssuerServiceDeps }).deps;
  const projection = { waitUntil: async () => false, processedThrough: () => 0n } as unknown as ProjectionRunner;
  return { service: new CardIssuerService({ ...deps, db, projection }), close: () => db.close() };
}
