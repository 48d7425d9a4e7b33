// Starts the gateway: a Nest HTTP app and the gRPC API (./grpc) that reach the services only
// through the bus (LedgerClient on ledger.commands/ledger.queries, IdentityClient on
// identity.commands, CardClient on cards.commands/cards.queries) and keep their Idempotency-Key
// records in the event store. The host composes it.
import 'reflect-metadata';
import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { amountOf, ConfigError, uuidv7, type Clock, type IdGenerator, type PublicKeys } from '@ledger/contracts';
import type { EventStore } from '@ledger/event-store';
import { IDEMPOTENCY_WINDOW_MS as LEDGER_IDEMPOTENCY_WINDOW_MS } from '@ledger/ledger';
import { BusClientProxy, IdentityClient, LedgerClient, type MessageBus } from '@ledger/messaging';
import { AccessTokenVerifier } from './application/access-tokens';
import { CardOperations } from './application/card-operations';
import { valueOf } from './application/gateway-errors';
import { loadFingerprintKey } from './application/gateway-keys';
import { IdempotencyService } from './application/idempotency.service';
import { RateLimiter } from './application/rate-limiter';
import { WalletOperations } from './application/wallet-operations';
import { CardClient } from './clients/card-client';
import { instrumentedSender } from './clients/instrumented-sender';
import type { GatewayConfig } from './gateway.config';
import { GatewayModule, type GatewayComponents } from './gateway.module';
import { startGrpcEdge, type RunningGrpcEdge } from './grpc/grpc-server';
import { createGatewayLogger, NestPinoLogger, type GatewayLogger } from './observability/logger';
import { GatewayMetrics } from './observability/metrics';
import type { ReadinessCheck } from './observability/readiness';
import { NETWORK_KEY_SECURITY } from './transport/network.controller';
import { checkBodyShape, envelopeNodeAnswers, isJsonMediaType, refuseDuplicateKeys, requestContext, requireHostHeader, requireJsonBody } from './transport/http-middleware';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Where Idempotency-Key records live (streams `idem-*`), shared by every gateway instance. */
  readonly store: EventStore;
  readonly bus: MessageBus;
  /** What /readyz asks (event store, bus, projections caught up...). */
  readonly readinessChecks: readonly ReadinessCheck[];
  readonly clock: Clock;
  /** Default: the shared UUIDv7 generator. */
  readonly ids?: IdGenerator;
  /** Default: JSON lines on stdout at LOG_LEVEL. */
  readonly logger?: GatewayLogger;
  /** Where GATEWAY_KEY_SOURCE=data_dir keeps the gateway's fingerprint key. */
  readonly dataDir?: string;
}

export interface RunningGateway {
  readonly app: NestExpressApplication;
  readonly url: string;
  readonly port: number;
  /** The port the gRPC API is bound to (GRPC_PORT, or the one picked for 0). */
  readonly grpcPort: number;
  readonly metrics: GatewayMetrics;
  close(): Promise<void>;
}

export const OPENAPI_PATH = 'docs';

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, store, bus, clock } = options;
  const ids = options.ids ?? uuidv7;
  const logger = options.logger ?? createGatewayLogger({ level: config.LOG_LEVEL });
  const fingerprintKey = loadFingerprintKey(config, options.dataDir, (message) => logger.warn(message));
  const metrics = new GatewayMetrics();
  const proxy = new BusClientProxy(bus, {
    clientId: 'gateway',
    requestTimeoutMs: config.BUS_REQUEST_TIMEOUT_MS,
    maxPendingRequests: config.BUS_MAX_PENDING_REQUESTS,
  });
  await proxy.connect();
  const sender = instrumentedSender(proxy, metrics);
  const identity = new IdentityClient(sender);
  const components: GatewayComponents = {
    config,
    clock,
    ids,
    logger,
    metrics,
    identity,
    wallets: new WalletOperations(
      new LedgerClient(sender, config.LEDGER_SHARDS, { coalesce: true }),
      amountOf(config.TOP_UP_MAX_MINOR_UNITS),
      new LedgerClient(sender, config.LEDGER_SHARDS),
    ),
    cards: new CardOperations(new CardClient(sender)),
    tokens: new AccessTokenVerifier({
      fetchKeys: () => valueOf(identity.command<PublicKeys>({ type: 'GetPublicKeys', meta: { idempotencyKey: `keys:${ids.next()}`, actor: 'gateway' } })),
      clock,
      cacheMs: config.PUBLIC_KEYS_CACHE_MS,
      staleMaxMs: config.PUBLIC_KEYS_STALE_MAX_MS,
      refetchMinIntervalMs: config.PUBLIC_KEYS_REFETCH_MIN_INTERVAL_MS,
      clockSkewMs: config.ACCESS_TOKEN_CLOCK_SKEW_MS,
      sessionAlive: async (userId, sessionId) =>
        (await valueOf(identity.command<{ alive: boolean }>({ type: 'CheckSession', userId, sessionId, meta: { idempotencyKey: `session:${ids.next()}`, actor: 'gateway' } }))).alive === true,
      sessionCheckMs: config.SESSION_CHECK_CACHE_MS,
    }),
    idempotency: new IdempotencyService({
      fingerprintKey,
      store,
      clock,
      ids,
      windowMs: config.IDEMPOTENCY_WINDOW_MS,
      leaseMs: config.IDEMPOTENCY_LEASE_MS,
      servicesWindowMs: LEDGER_IDEMPOTENCY_WINDOW_MS,
      log: (message, error) => logger.warn({ err: error }, message),
    }),
    rateLimiter: new RateLimiter(config, clock),
    readinessChecks: options.readinessChecks,
  };

  let app: NestExpressApplication | undefined;
  let grpc: RunningGrpcEdge | undefined;
  try {
    app = await NestFactory.create<NestExpressApplication>(GatewayModule.register(components), {
      bodyParser: false,
      abortOnError: false,
      logger: new NestPinoLogger(logger),
    });
    configureGateway(app, components);
    limitHttpServer(app.getHttpServer() as Server, config);
    await app.listen(config.PORT, config.HOST).catch((error: unknown) => {
      throw listenConfigError(error) ?? error;
    });
    grpc = await startGrpcEdge(components);
  } catch (error) {
    await app?.close().catch(() => undefined);
    await proxy.close();
    throw error;
  }
  const address = (app.getHttpServer() as Server).address();
  const port = typeof address === 'object' && address !== null ? address.port : config.PORT;
  const started = app;
  const startedGrpc = grpc;
  return {
    app: started,
    port,
    grpcPort: startedGrpc.port,
    url: `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`,
    metrics,
    async close() {
      await startedGrpc.close();
      await started.close();
      await components.idempotency.settled(); // records of answers already sent, before the store goes
      await proxy.close();
      logger.flush();
    },
  };
}

/**
 * What the module cannot do itself: Express settings and the middleware that must run before
 * Nest's routes (request id and access log, the JSON-only rule, the body parser with its size
 * limit, the nesting limit), and the OpenAPI document at /docs and /docs-json.
 */
export function configureGateway(app: NestExpressApplication, components: Pick<GatewayComponents, 'config' | 'ids' | 'logger' | 'metrics'>): void {
  const { config } = components;
  app.set('trust proxy', config.TRUST_PROXY_HOPS);
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestContext(components));
  app.use(requireHostHeader());
  app.use(requireJsonBody());
  // body-parser's `verify` (Nest's type leaves it out, and passes it on): bodies naming a field twice are refused.
  const jsonOptions = { limit: config.BODY_LIMIT_BYTES, type: (request: { headers: { 'content-type'?: string } }) => isJsonMediaType(request.headers['content-type']), verify: refuseDuplicateKeys };
  app.useBodyParser('json', jsonOptions);
  app.use(checkBodyShape());
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Wallet and card ledger: gateway API')
      .setDescription('API.md (v1): JSON in and out; errors as {"error": {"code", "message", "details"}}.')
      .setVersion('1')
      .addBearerAuth()
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Network-Key', description: "The card network's key (NETWORK_API_KEY)" }, NETWORK_KEY_SECURITY)
      .build(),
  );
  // The validation pipe refuses unknown fields (forbidNonWhitelisted): the document says so of every request body (the *Dto schemas).
  for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) {
    if (name.endsWith('Dto')) (schema as { additionalProperties?: boolean }).additionalProperties = false;
  }
  SwaggerModule.setup(OPENAPI_PATH, app, document, { jsonDocumentUrl: `${OPENAPI_PATH}-json` });
}

/** Bounds what slow or many clients can hold: Node's defaults are 5 minutes per request and no connection limit. */
function limitHttpServer(server: Server, config: GatewayConfig): void {
  server.maxConnections = config.HTTP_MAX_CONNECTIONS;
  server.headersTimeout = config.HTTP_HEADERS_TIMEOUT_MS;
  server.requestTimeout = config.HTTP_REQUEST_TIMEOUT_MS;
  envelopeNodeAnswers(server);
}

/** A listen failure the configuration caused, as the ConfigError naming its setting (exit 78 at start). */
function listenConfigError(error: unknown): ConfigError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL') return new ConfigError('HOST', `cannot be listened on (${code})`);
  if (code === 'EADDRINUSE' || code === 'EACCES') return new ConfigError('PORT', `cannot be listened on (${code})`);
  return undefined;
}
