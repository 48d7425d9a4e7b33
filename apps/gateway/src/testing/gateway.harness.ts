// The gateway in front of the real wallet-ledger (temp dir, SQLite store, in-process bus), an
// identity and a card-issuer on the bus, with helpers to call it over HTTP as a client (or the
// card network) would.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUuidV7, ManualClock, UuidV7Generator, type LedgerCommandEnvelope, type LedgerCommandMessage, type Reply, type TokenPair, type UserView } from '@ledger/contracts';
import { openProjectionDb, SqliteEventStore } from '@ledger/event-store';
import { BusClientProxy, InProcessBus, LedgerClient } from '@ledger/messaging';
import { SqliteSnapshotStore } from '../../../wallet-ledger/src/application/snapshot-store';
import { startWalletLedger, type RunningWalletLedger } from '../../../wallet-ledger/src/wallet-ledger.app';
import { loadWalletLedgerConfig } from '../../../wallet-ledger/src/wallet-ledger.config';
import { FAST_ARGON2_ENV } from '../../../identity/src/testing/identity.harness';
import { startIdentity } from '../../../identity/src/identity.app';
import { loadIdentityConfig } from '../../../identity/src/identity.config';
import { startGateway, type RunningGateway } from '../gateway.app';
import { loadGatewayConfig } from '../gateway.config';
import { createGatewayLogger } from '../observability/logger';
import { sharedWhileInFlight } from '../observability/readiness';
import { startCardIssuer, type RunningCardIssuer } from '../../../card-issuer/src/card-issuer.app';
import { loadCardIssuerConfig } from '../../../card-issuer/src/card-issuer.config';
import { startFakeCardIssuer, type FakeCardIssuer } from './fake-card-issuer';
import { startFakeIdentity, type FakeIdentity } from './fake-identity';

export const SHARDS = 4;
export const ADMIN = { email: 'admin@example.com', password: 'admin-password-1' } as const;
/** The card network's key in these tests (NETWORK_API_KEY). */
export const TEST_NETWORK_KEY = 'test-network-key-0123456789';

/** Limits high enough that only the tests about limits meet them. */
const TEST_ENV: Record<string, string> = {
  PORT: '0',
  GRPC_PORT: '0',
  HOST: '127.0.0.1',
  LEDGER_SHARDS: String(SHARDS),
  BUS_REQUEST_TIMEOUT_MS: '10000',
  RATE_LIMIT_LOGIN_PER_IP_BURST: '100000',
  RATE_LIMIT_LOGIN_PER_USER_BURST: '100000',
  RATE_LIMIT_MONEY_PER_USER_BURST: '100000',
  RATE_LIMIT_MONEY_PER_IP_BURST: '100000',
  RATE_LIMIT_WRITE_PER_USER_BURST: '100000',
  RATE_LIMIT_WRITE_PER_IP_BURST: '100000',
  RATE_LIMIT_REVEAL_PER_USER_BURST: '100000',
  RATE_LIMIT_REVEAL_PER_IP_BURST: '100000',
  NETWORK_API_KEY: TEST_NETWORK_KEY,
};

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed JSON, loosely typed: tests read whatever came back. */
  readonly body: any;
}

export interface RequestOptions {
  readonly token?: string;
  /** JSON-encoded unless `raw` is given. */
  readonly body?: unknown;
  /** Sent as is (with `contentType`, default application/json). */
  readonly raw?: string | Buffer;
  readonly contentType?: string | null;
  readonly key?: string;
  readonly headers?: Record<string, string>;
}

export interface TestUser {
  readonly id: string;
  readonly email: string;
  readonly password: string;
  readonly token: string;
  readonly tokens: TokenPair;
}

export interface GatewaySystem {
  readonly url: () => string;
  readonly clock: ManualClock;
  readonly store: SqliteEventStore;
  readonly bus: InProcessBus;
  readonly ledger: RunningWalletLedger;
  readonly identity: { close(): Promise<void> };
  /** The fake identity's internals (forged tokens, commands received); absent with the real service. */
  readonly fake: FakeIdentity | undefined;
  /** The fake card-issuer's internals (PANs, commands received); absent with the real service. */
  readonly fakeCards: FakeCardIssuer | undefined;
  /** The real card-issuer (`cards: 'real'`); absent with the fake. */
  readonly cardIssuer: RunningCardIssuer | undefined;
  gateway(): RunningGateway;
  /** Log lines the gateway wrote (JSON), newest last. */
  readonly logLines: string[];
  /** Every event in the store as JSON text, for scans that something never entered it. */
  storedText(): Promise<string>;
  request(method: string, path: string, options?: RequestOptions): Promise<HttpAnswer>;
  register(label?: string): Promise<TestUser>;
  /** Logs `user` in again: fresh tokens after the clock moved past their expiry. */
  login(user: TestUser): Promise<TestUser>;
  /** The admin identity created at start (as ADMIN_EMAIL/ADMIN_PASSWORD will be). */
  admin(): Promise<TestUser>;
  /** A wallet of `user`'s, topped up with `amount` if given. */
  openWallet(user: TestUser, currency?: string, amount?: string): Promise<string>;
  /** A card of `user`'s on `walletId` (201), with `body` fields on top. */
  issueCard(user: TestUser, walletId: string, body?: Record<string, unknown>): Promise<any>;
  /** A request of the card network: X-Network-Key, an Idempotency-Key (a new one unless given). */
  network(method: string, path: string, body?: unknown, key?: string): Promise<HttpAnswer>;
  /** A command straight to the wallet-ledger, past the gateway (for states no route makes, e.g. a closed wallet). */
  ledgerCommand(message: LedgerCommandMessage): Promise<Reply<unknown>>;
  /** Stops the gateway and starts another on the same store and bus (the services keep running). */
  restartGateway(env?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/** An error answer: `status` with API.md's envelope carrying `code`. */
export function expectError(answer: HttpAnswer, status: number, code: string): void {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: { error: { code, message: expect.any(String), details: expect.any(Object) } },
  });
}

/** The error codes /docs-json states for a route, by HTTP status (each response's description lists them). */
export function documentedErrors(document: any, path: string, method: string): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  for (const [status, response] of Object.entries<any>(document.paths[path][method].responses)) {
    if (Number(status) >= 400) errors[status] = String(response.description).split(', ');
  }
  return errors;
}

/** API.md's card view, with `fields` as given (for expect().toEqual). */
function cardViewWith(fields: Record<string, unknown>): unknown {
  return expect.objectContaining({
    id: expect.any(String),
    last4: expect.stringMatching(/^[0-9]{4}$/),
    brand: expect.any(String),
    expMonth: expect.any(Number),
    expYear: expect.any(Number),
    status: 'active',
    createdAt: expect.any(String),
    ...fields,
  });
}

/** A 201 to POST /v1/cards: the card view with `fields`, under an id the gateway minted (UUIDv7). */
export function expectIssuedCard(answer: HttpAnswer, fields: Record<string, unknown>): void {
  expect(answer.status).toBe(201);
  expect(answer.body).toEqual(cardViewWith(fields));
  expect(isUuidV7(answer.body.id)).toBe(true);
}

/** API.md's view of a wallet just opened by `ownerId` (for expect().toEqual), over HTTP or gRPC alike. */
export function newWalletView(ownerId: string, currency: string): unknown {
  return {
    id: expect.any(String),
    ownerId,
    currency,
    status: 'active',
    balance: { posted: '0', pending: '0', available: '0' },
    createdAt: expect.any(String),
  };
}

let users = 0;
let keys = 0;
export const newKey = (label = 'key') => `${label}-${process.pid}-${++keys}-${Date.now()}`;

export interface SystemOptions {
  /** Gateway settings on top of the test defaults. */
  readonly env?: Record<string, string>;
  /** `fake` (default): testing/fake-identity.ts; `real`: apps/identity with cheap argon2. */
  readonly identity?: 'fake' | 'real';
  /** `fake` (default): testing/fake-card-issuer.ts; `real`: apps/card-issuer (keys generated into the temp dir). */
  readonly cards?: 'fake' | 'real';
  /** Settings of the wallet-ledger and the real card-issuer on top of the shard count (HOLD_TIMEOUT_MS...). */
  readonly servicesEnv?: Record<string, string>;
}

export async function startGatewaySystem(options: SystemOptions = {}): Promise<GatewaySystem> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gateway-'));
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const ids = new UuidV7Generator(() => clock.nowMs());
  const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite'), synchronous: 'NORMAL', nowMs: () => clock.nowMs() });
  const bus = new InProcessBus({ logger: { warn: () => undefined, error: () => undefined } });
  const snapshots = new SqliteSnapshotStore(join(dataDir, 'snapshots.sqlite'));
  const db = openProjectionDb(join(dataDir, 'wallet-ledger.sqlite'));
  const ledger = await startWalletLedger({
    config: loadWalletLedgerConfig({ LEDGER_SHARDS: String(SHARDS), ...options.servicesEnv }),
    store,
    bus,
    snapshots,
    db,
    clock,
    ids,
  });
  // Identity on the same bus and store: the fake, or the real service (the only line that differs).
  const fake = options.identity === 'real' ? undefined : await startFakeIdentity({ bus, clock, admins: [ADMIN] });
  const identity = fake ?? (await startRealIdentity(dataDir, store, bus, clock, ids));
  // The card-issuer likewise: the fake, or the real service.
  const fakeCards = options.cards === 'real' ? undefined : await startFakeCardIssuer({ bus, clock, ledgerShards: SHARDS });
  const realCards = fakeCards === undefined ? await startRealCardIssuer(dataDir, store, bus, clock, ids, options.servicesEnv ?? {}) : undefined;
  const cards = fakeCards ?? realCards!;

  const ledgerProxy = new BusClientProxy(bus, { clientId: 'gateway-test' });
  await ledgerProxy.connect();
  const ledgerClient = new LedgerClient(ledgerProxy, SHARDS);

  const logLines: string[] = [];
  const logger = createGatewayLogger({
    level: 'info',
    destination: {
      write(line: string) {
        logLines.push(line);
        if (logLines.length > 20_000) logLines.splice(0, 10_000);
      },
    },
  });
  const head = sharedWhileInFlight(() => store.headPosition());
  const readinessChecks = [
    { name: 'event-store', ready: async () => (await head()) >= 0n },
    { name: 'bus', ready: async () => bus.isOpen() },
    { name: 'wallet-ledger-projection', ready: async () => ledger.projection.waitUntil(await head(), 1_000) },
    ...(realCards === undefined ? [] : [{ name: 'card-issuer-projection', ready: async () => realCards.running.projection.waitUntil(await head(), 1_000) }]),
  ];
  const start = (env: Record<string, string> = {}) =>
    startGateway({ config: loadGatewayConfig({ ...TEST_ENV, ...options.env, ...env }), store, bus, clock, ids, logger, readinessChecks, dataDir });
  let gateway = await start();

  const system: GatewaySystem = {
    url: () => gateway.url,
    clock,
    store,
    bus,
    ledger,
    identity,
    fake: fake?.fake,
    fakeCards: fakeCards?.fake,
    cardIssuer: realCards?.running,
    gateway: () => gateway,
    logLines,
    async storedText() {
      const pages: string[] = [];
      for (let after = 0n; ; ) {
        const page = await store.readAll({ afterPosition: after, maxCount: 1_000 });
        if (page.length === 0) return pages.join('\n');
        pages.push(JSON.stringify(page, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
        after = page[page.length - 1].position;
      }
    },
    async request(method, path, request = {}) {
      const headers: Record<string, string> = { ...request.headers };
      if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
      if (request.key !== undefined) headers['idempotency-key'] = request.key;
      let body: string | Buffer | undefined;
      if (request.raw !== undefined) body = request.raw;
      else if (request.body !== undefined) body = JSON.stringify(request.body);
      if (body !== undefined && request.contentType !== null) headers['content-type'] = request.contentType ?? 'application/json';
      const response = await fetch(`${gateway.url}${path}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = text.length > 0 ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, text, body: parsed };
    },
    async register(label = 'user') {
      const email = `${label}-${process.pid}-${++users}@example.com`;
      const password = 'correct-horse-battery';
      const created = await system.request('POST', '/v1/users', { body: { email, password } });
      if (created.status !== 201) throw new Error(`register: ${created.status} ${created.text}`);
      return login(email, password, (created.body as UserView).id);
    },
    login: (user) => login(user.email, user.password, user.id),
    // Logged in each time: a cached token would not survive the tests that move the clock.
    admin: () => login(ADMIN.email, ADMIN.password),
    async openWallet(user, currency = 'USD', amount) {
      const opened = await system.request('POST', '/v1/wallets', { token: user.token, body: { currency } });
      if (opened.status !== 201) throw new Error(`open wallet: ${opened.status} ${opened.text}`);
      const walletId = opened.body.id as string;
      if (amount !== undefined) {
        const topUp = await system.request('POST', `/v1/wallets/${walletId}/top-ups`, { token: user.token, key: newKey('top-up'), body: { amount } });
        if (topUp.status !== 201) throw new Error(`top up: ${topUp.status} ${topUp.text}`);
      }
      return walletId;
    },
    async issueCard(user, walletId, body = {}) {
      const issued = await system.request('POST', '/v1/cards', { token: user.token, body: { walletId, ...body } });
      if (issued.status !== 201) throw new Error(`issue card: ${issued.status} ${issued.text}`);
      return issued.body;
    },
    network: (method, path, body, key = newKey('network')) => system.request(method, path, { body, key, headers: { 'x-network-key': TEST_NETWORK_KEY } }),
    ledgerCommand: (message) => ledgerClient.command({ ...message, meta: { idempotencyKey: newKey('test-command'), actor: 'test' } } as LedgerCommandEnvelope),
    async restartGateway(env = {}) {
      await gateway.close();
      gateway = await start(env);
    },
    async close() {
      await gateway.close();
      await ledgerProxy.close();
      await cards.close();
      await identity.close();
      await ledger.close();
      await bus.close();
      await snapshots.close();
      db.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  async function login(email: string, password: string, knownId?: string): Promise<TestUser> {
    const answer = await system.request('POST', '/v1/auth/login', { body: { email, password } });
    if (answer.status !== 200) throw new Error(`login: ${answer.status} ${answer.text}`);
    const tokens = answer.body as TokenPair;
    const id = knownId ?? (await system.request('GET', '/v1/me', { token: tokens.accessToken })).body.id;
    return { id, email, password, token: tokens.accessToken, tokens };
  }

  return system;
}

async function startRealCardIssuer(dataDir: string, store: SqliteEventStore, bus: InProcessBus, clock: ManualClock, ids: UuidV7Generator, env: Record<string, string>) {
  const db = openProjectionDb(join(dataDir, 'card-issuer.sqlite'));
  const running = await startCardIssuer({ config: loadCardIssuerConfig({ LEDGER_SHARDS: String(SHARDS), ...env }), store, bus, db, clock, ids, dataDir });
  return {
    running,
    async close() {
      await running.close();
      db.close();
    },
  };
}

async function startRealIdentity(dataDir: string, store: SqliteEventStore, bus: InProcessBus, clock: ManualClock, ids: UuidV7Generator) {
  const config = loadIdentityConfig({ ...FAST_ARGON2_ENV, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password });
  const db = openProjectionDb(join(dataDir, 'identity.sqlite'));
  const running = await startIdentity({ config, store, bus, db, clock, ids, dataDir });
  return {
    async close() {
      await running.close();
      db.close();
    },
  };
}
