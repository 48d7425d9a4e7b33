// Settings of the HTTP gateway, read once through the one config loader; every limit is named
// with its unit, and a bad value stops the process naming the setting.
import { base64KeyOf, booleanSetting, ConfigError, enumSetting, intSetting, loadConfig, stringSetting, type ConfigOf } from '@ledger/contracts';
import { IDEMPOTENCY_WINDOW_MS as LEDGER_IDEMPOTENCY_WINDOW_MS } from '@ledger/ledger';
import { messagingConfigSchema } from '@ledger/messaging';

const MINUTE_MS = 60_000;
/** The Idempotency-Key fingerprint secret's size (HMAC-SHA256). */
export const FINGERPRINT_KEY_BYTES = 32;

export const gatewayConfigSchema = {
  PORT: intSetting(3000, { min: 0, max: 65535 }),
  HOST: stringSetting('127.0.0.1', { maxLength: 255 }),
  /** The gRPC API (package ledger.v1) on HOST; 0 picks a free port. */
  GRPC_PORT: intSetting(50051, { min: 0, max: 65535 }),
  /** Streams one gRPC connection may hold open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); grpc-js sets no limit of its own. */
  GRPC_MAX_CONCURRENT_STREAMS: intSetting(100, { min: 1, max: 10_000 }),
  /** Connections the gRPC server holds at once per address it listens on; past it, new ones are closed at accept (grpc-js sets no limit). */
  GRPC_MAX_CONNECTIONS: intSetting(10_000, { min: 1, max: 1_000_000 }),
  /** gRPC calls held at once over all connections (each holds its request message, up to BODY_LIMIT_BYTES); past it one is UNAVAILABLE at once. */
  GRPC_MAX_CALLS: intSetting(10_000, { min: 1, max: 1_000_000 }),
  /** A gRPC connection with no call open this long is closed (GOAWAY; a client reconnects), as HTTP closes an idle keep-alive one. */
  GRPC_MAX_CONNECTION_IDLE_MS: intSetting(5 * MINUTE_MS, { min: 1_000, max: 24 * 60 * MINUTE_MS }),
  /** Largest request body accepted (JSON); more is 413. */
  BODY_LIMIT_BYTES: intSetting(64 * 1024, { min: 1024, max: 10 * 1024 * 1024 }),
  /** Connections the HTTP server holds at once; past it, new ones are closed at accept. */
  HTTP_MAX_CONNECTIONS: intSetting(10_000, { min: 1, max: 1_000_000 }),
  /** Time a client has to send a request's headers (408 after it); Node checks every 30 s. */
  HTTP_HEADERS_TIMEOUT_MS: intSetting(10_000, { min: 1_000, max: 10 * MINUTE_MS }),
  /** Time a client has to send a whole request, body included (408 after it); at least HTTP_HEADERS_TIMEOUT_MS. */
  HTTP_REQUEST_TIMEOUT_MS: intSetting(30_000, { min: 1_000, max: 10 * MINUTE_MS }),
  /** Proxies in front of the gateway whose X-Forwarded-For is trusted (0: the socket address is the client). */
  TRUST_PROXY_HOPS: intSetting(0, { min: 0, max: 10 }),
  LOG_LEVEL: enumSetting('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  /** The ledger's shard count: the gateway routes each command to its shard's partition. */
  LEDGER_SHARDS: intSetting(4, { min: 1, max: 4096 }),
  BUS_REQUEST_TIMEOUT_MS: messagingConfigSchema.BUS_REQUEST_TIMEOUT_MS,
  BUS_MAX_PENDING_REQUESTS: messagingConfigSchema.BUS_MAX_PENDING_REQUESTS,

  /** How long identity's public keys are trusted before they are asked for again. */
  PUBLIC_KEYS_CACHE_MS: intSetting(10 * MINUTE_MS, { min: 1_000, max: 24 * 60 * MINUTE_MS }),
  /** How long past PUBLIC_KEYS_CACHE_MS the last keys still verify tokens while identity cannot be reached. */
  PUBLIC_KEYS_STALE_MAX_MS: intSetting(60 * MINUTE_MS, { min: 0, max: 24 * 60 * MINUTE_MS }),
  /** Least time between two refetches caused by a token signed with an unknown key id, or after one failed. */
  PUBLIC_KEYS_REFETCH_MIN_INTERVAL_MS: intSetting(10_000, { min: 0, max: 10 * MINUTE_MS }),
  /** Clock skew allowed when checking an access token's exp and nbf. */
  /** Where the secret of Idempotency-Key fingerprints comes from: generated into DATA_DIR (embedded), or GATEWAY_FINGERPRINT_KEY_BASE64. */
  GATEWAY_KEY_SOURCE: enumSetting('data_dir', ['data_dir', 'config'] as const),
  /** 32 random bytes, base64, the same for every gateway instance; required with GATEWAY_KEY_SOURCE=config. Never logged. */
  GATEWAY_FINGERPRINT_KEY_BASE64: stringSetting('', { maxLength: 64 }),
  /** How long identity's word that a login is alive is believed (API.md: logout and refresh-token reuse revoke its access tokens too). */
  SESSION_CHECK_CACHE_MS: intSetting(5_000, { min: 0, max: MINUTE_MS }),
  ACCESS_TOKEN_CLOCK_SKEW_MS: intSetting(5_000, { min: 0, max: 5 * MINUTE_MS }),

  /**
   * How long the first response to an Idempotency-Key is replayed (API.md: 24 h). At most the
   * ledger's window: a released key retried later reuses its service key, which the ledger must still remember.
   */
  IDEMPOTENCY_WINDOW_MS: intSetting(24 * 60 * MINUTE_MS, { min: MINUTE_MS, max: LEDGER_IDEMPOTENCY_WINDOW_MS }),
  /**
   * How long a request holds its key while in flight; a retry after it takes over (and the
   * service deduplicates). Longer than BUS_CALLS_PER_REQUEST_MAX bus timeouts (checked at start),
   * so a live request is never taken over.
   */
  IDEMPOTENCY_LEASE_MS: intSetting(30_000, { min: 1_000, max: 10 * MINUTE_MS }),

  /** Token buckets, refilled continuously: login per client IP and per email address. */
  RATE_LIMIT_LOGIN_PER_IP_BURST: intSetting(20, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE: intSetting(20, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_LOGIN_PER_USER_BURST: intSetting(10, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_LOGIN_PER_USER_PER_MINUTE: intSetting(10, { min: 1, max: 1_000_000 }),
  /** Money-moving routes (top-ups, withdrawals, transfers) per user and per client IP. */
  RATE_LIMIT_MONEY_PER_USER_BURST: intSetting(60, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_MONEY_PER_USER_PER_MINUTE: intSetting(600, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_MONEY_PER_IP_BURST: intSetting(300, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_MONEY_PER_IP_PER_MINUTE: intSetting(3_000, { min: 1, max: 1_000_000 }),
  /** Card reveals (PAN and CVV after step-up) per user and per client IP: few, as each one shows a card number. */
  RATE_LIMIT_REVEAL_PER_USER_BURST: intSetting(5, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_REVEAL_PER_USER_PER_MINUTE: intSetting(10, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_REVEAL_PER_IP_BURST: intSetting(20, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_REVEAL_PER_IP_PER_MINUTE: intSetting(60, { min: 1, max: 1_000_000 }),
  /**
   * The other writes (opening a wallet or issuing a card, a wallet's or card's state and controls, TOTP set-up) per user and
   * per client IP: each writes its Idempotency-Key's record and events, which the store keeps for good.
   */
  RATE_LIMIT_WRITE_PER_USER_BURST: intSetting(60, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_WRITE_PER_USER_PER_MINUTE: intSetting(600, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_WRITE_PER_IP_BURST: intSetting(300, { min: 1, max: 1_000_000 }),
  RATE_LIMIT_WRITE_PER_IP_PER_MINUTE: intSetting(3_000, { min: 1, max: 1_000_000 }),
  /** The card network's routes per client IP: generous, as one acquirer sends every authorization. */
  RATE_LIMIT_NETWORK_PER_IP_BURST: intSetting(5_000, { min: 1, max: 10_000_000 }),
  RATE_LIMIT_NETWORK_PER_IP_PER_MINUTE: intSetting(300_000, { min: 1, max: 100_000_000 }),
  /** Buckets kept in memory per limit (login, money, write, reveal, network); the least recently used goes first beyond it. */
  RATE_LIMIT_BUCKETS_MAX: intSetting(100_000, { min: 100, max: 10_000_000 }),

  /** The largest single top-up, in the wallet currency's minor units (API.md: caps per top-up configurable). */
  TOP_UP_MAX_MINOR_UNITS: stringSetting('100000000', { pattern: /^[1-9][0-9]{0,29}$/, maxLength: 30 }),
  /**
   * The card network's shared secret (X-Network-Key). Empty: the embedded default
   * `dev-network-key`, printed at start-up; NETWORK_API_KEY_REQUIRED refuses that.
   */
  NETWORK_API_KEY: stringSetting('', { pattern: /^([\x21-\x7e]{16,256})?$/, maxLength: 256 }),
  /** true outside the embedded mode: start only with a NETWORK_API_KEY of its own. */
  NETWORK_API_KEY_REQUIRED: booleanSetting(false),
  /** Longest /readyz waits for one readiness check. */
  READINESS_TIMEOUT_MS: intSetting(2_000, { min: 10, max: MINUTE_MS }),
};

/** Bus requests one HTTP or gRPC request makes one after another at most once its key is reserved (a transfer: the source wallet's facts, then the transfer; a freeze: the command, then a read if refused). */
export const BUS_CALLS_PER_REQUEST_MAX = 2;

/** The embedded mode's network key (API.md), used when NETWORK_API_KEY is empty. */
export const DEV_NETWORK_API_KEY = 'dev-network-key';

export type GatewayConfig = ConfigOf<typeof gatewayConfigSchema>;

export function loadGatewayConfig(env: Readonly<Record<string, string | undefined>> = process.env): GatewayConfig {
  const config = loadConfig(gatewayConfigSchema, env);
  if (config.NETWORK_API_KEY_REQUIRED && config.NETWORK_API_KEY === '') {
    throw new ConfigError('NETWORK_API_KEY', 'is required (NETWORK_API_KEY_REQUIRED=true): 16 to 256 printable characters');
  }
  if (config.GRPC_PORT !== 0 && config.GRPC_PORT === config.PORT) throw new ConfigError('GRPC_PORT', `must differ from PORT (${config.PORT}): both are listened on HOST`);
  if (config.GATEWAY_KEY_SOURCE === 'config') {
    if (config.GATEWAY_FINGERPRINT_KEY_BASE64 === '') throw new ConfigError('GATEWAY_FINGERPRINT_KEY_BASE64', 'is required when GATEWAY_KEY_SOURCE=config');
    base64KeyOf(config.GATEWAY_FINGERPRINT_KEY_BASE64, 'GATEWAY_FINGERPRINT_KEY_BASE64', FINGERPRINT_KEY_BYTES);
  } else if (config.GATEWAY_FINGERPRINT_KEY_BASE64 !== '') {
    // Set but ignored: every instance must fingerprint with the same secret, and DATA_DIR's is this instance's alone.
    throw new ConfigError('GATEWAY_KEY_SOURCE', 'is data_dir, which ignores GATEWAY_FINGERPRINT_KEY_BASE64: set GATEWAY_KEY_SOURCE=config to use it');
  }
  if (config.HTTP_REQUEST_TIMEOUT_MS < config.HTTP_HEADERS_TIMEOUT_MS) {
    throw new ConfigError('HTTP_REQUEST_TIMEOUT_MS', `must be at least HTTP_HEADERS_TIMEOUT_MS (${config.HTTP_HEADERS_TIMEOUT_MS} ms): a request's headers are part of it`);
  }
  const inFlightMaxMs = BUS_CALLS_PER_REQUEST_MAX * config.BUS_REQUEST_TIMEOUT_MS;
  if (config.IDEMPOTENCY_LEASE_MS <= inFlightMaxMs) {
    throw new ConfigError('IDEMPOTENCY_LEASE_MS', `must be longer than ${BUS_CALLS_PER_REQUEST_MAX} x BUS_REQUEST_TIMEOUT_MS (${inFlightMaxMs} ms), or a retry takes over a request still in flight`);
  }
  return config;
}

/** The key the card network must send: the configured one, or the embedded default. */
export function networkApiKeyOf(config: Pick<GatewayConfig, 'NETWORK_API_KEY'>): string {
  return config.NETWORK_API_KEY === '' ? DEV_NETWORK_API_KEY : config.NETWORK_API_KEY;
}
