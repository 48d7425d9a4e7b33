// Settings of the identity service, read once through the one config loader. Some are secrets
// (ADMIN_PASSWORD, IDENTITY_SIGNING_KEY_PEM, IDENTITY_TOTP_KEY_BASE64): never log this object.
import { ConfigError, enumSetting, intSetting, loadConfig, stringSetting, type ConfigOf } from '@ledger/contracts';
import { COMMON_PASSWORDS } from './domain/common-passwords';
import { emailProblem, passwordProblem } from './domain/credentials-policy';
import { NORMALIZED_UNITS_PER_CHARACTER_MAX, PASSWORD_LENGTH_MAX } from './domain/limits';

const MINUTE_MS = 60_000;
/** Most memory argon2 may take at once: IDENTITY_HASHES_IN_FLIGHT_MAX x IDENTITY_ARGON2_MEMORY_KIB. */
export const HASHING_MEMORY_MAX_KIB = 4 * 1024 * 1024;
const DAY_SECONDS = 24 * 60 * 60;

export const identityConfigSchema = {
  /** Partitions of `identity.commands` (and `identity.events`). */
  IDENTITY_PARTITIONS: intSetting(4, { min: 1, max: 256 }),
  /** Requests of one partition handled at once (argon2 is slow: let several run). */
  IDENTITY_REQUESTS_IN_FLIGHT_MAX: intSetting(16, { min: 1, max: 1_024 }),
  /** Consecutive failed logins (or step-ups) that lock a user. */
  IDENTITY_LOCKOUT_FAILURES: intSetting(5, { min: 1, max: 100 }),
  /** How long a lock lasts. */
  IDENTITY_LOCKOUT_MS: intSetting(15 * MINUTE_MS, { min: 1_000, max: 7 * 24 * 60 * MINUTE_MS }),
  /** argon2id cost (OWASP's 2024 minimum: 19 MiB, 2 iterations, 1 lane). Tests lower it. */
  IDENTITY_ARGON2_MEMORY_KIB: intSetting(19_456, { min: 1_024, max: 4 * 1024 * 1024 }),
  IDENTITY_ARGON2_ITERATIONS: intSetting(2, { min: 1, max: 100 }),
  IDENTITY_ARGON2_PARALLELISM: intSetting(1, { min: 1, max: 16 }),
  /** argon2 computations (hashes, verifications) at once: with IDENTITY_ARGON2_MEMORY_KIB, the peak memory they take. */
  IDENTITY_HASHES_IN_FLIGHT_MAX: intSetting(4, { min: 1, max: 256 }),
  /** Computations waiting for a turn; a request beyond them is answered `unavailable` (503, retry). */
  IDENTITY_HASHES_QUEUED_MAX: intSetting(64, { min: 0, max: 100_000 }),
  /** Lifetime of an access token (a JWT the gateway verifies on its own). */
  ACCESS_TOKEN_TTL_SECONDS: intSetting(900, { min: 10, max: DAY_SECONDS }),
  /** Lifetime of a login: every refresh token of it stops working this long after the login. */
  REFRESH_TOKEN_TTL_SECONDS: intSetting(30 * DAY_SECONDS, { min: 60, max: 365 * DAY_SECONDS }),
  /** Live logins per user; a new one ends the oldest beyond it. */
  IDENTITY_SESSIONS_MAX: intSetting(50, { min: 1, max: 1_000 }),
  /** The JWT `iss` and `aud` (the gateway checks both). */
  IDENTITY_TOKEN_ISSUER: stringSetting('ledger-identity', { maxLength: 256 }),
  IDENTITY_TOKEN_AUDIENCE: stringSetting('ledger-gateway', { maxLength: 256 }),
  /** `data_dir`: generate the keys into DATA_DIR on first start (embedded mode); `config`: take them from the settings below. */
  IDENTITY_KEY_SOURCE: enumSetting('data_dir', ['data_dir', 'config'] as const),
  /** Ed25519 private key (PKCS#8 PEM), or a file holding it; with IDENTITY_KEY_SOURCE=config, exactly one of the two is required. */
  IDENTITY_SIGNING_KEY_PEM: stringSetting('', { maxLength: 16_384 }),
  IDENTITY_SIGNING_KEY_FILE: stringSetting('', { maxLength: 1_024 }),
  /**
   * Ed25519 public keys (SPKI PEM, one after another, at most PREVIOUS_PUBLIC_KEYS_MAX) of signing
   * keys retired less than ACCESS_TOKEN_TTL_SECONDS ago: published beside the current one for
   * verification only, so rotating the signing key does not end the access tokens it signed.
   */
  IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM: stringSetting('', { maxLength: 16_384 }),
  /** 32 random bytes, base64: seals TOTP secrets (AES-256-GCM); required with IDENTITY_KEY_SOURCE=config. */
  IDENTITY_TOTP_KEY_BASE64: stringSetting('', { maxLength: 64 }),
  /**
   * TOTP keys retired from IDENTITY_TOTP_KEY_BASE64 (`id:base64,...`, at most KEY_LIST_MAX; the id is
   * the operator's label): they still open the secrets they sealed, so a rotation locks nobody out.
   */
  IDENTITY_PREVIOUS_TOTP_KEYS: stringSetting('', { maxLength: 4_096 }),
  /** The issuer an authenticator app shows next to the code. */
  IDENTITY_TOTP_ISSUER: stringSetting('Ledger', { maxLength: 64 }),
  /** TOTP time steps (30 s each) accepted before and after the current one (clock drift). */
  IDENTITY_TOTP_DRIFT_STEPS: intSetting(1, { min: 0, max: 10 }),
  /** User states kept in memory (each is topped up from its stream on use). */
  IDENTITY_USER_CACHE_MAX: intSetting(10_000, { min: 0, max: 10_000_000 }),
  /** The first admin, created (or promoted) at start when both are set. */
  ADMIN_EMAIL: stringSetting('', { maxLength: 254 }),
  /** Bounded in code units by any form of the longest password (the rules count characters below). */
  ADMIN_PASSWORD: stringSetting('', { maxLength: PASSWORD_LENGTH_MAX * NORMALIZED_UNITS_PER_CHARACTER_MAX }),
};

export type IdentityConfig = ConfigOf<typeof identityConfigSchema>;

export function loadIdentityConfig(env: Readonly<Record<string, string | undefined>> = process.env): IdentityConfig {
  const config = loadConfig(identityConfigSchema, env);
  if (config.IDENTITY_HASHES_IN_FLIGHT_MAX * config.IDENTITY_ARGON2_MEMORY_KIB > HASHING_MEMORY_MAX_KIB) {
    throw new ConfigError('IDENTITY_HASHES_IN_FLIGHT_MAX', `times IDENTITY_ARGON2_MEMORY_KIB must be at most ${HASHING_MEMORY_MAX_KIB} KiB (4 GiB of argon2 memory at once)`);
  }
  if ((config.ADMIN_EMAIL === '') !== (config.ADMIN_PASSWORD === '')) {
    throw new ConfigError(config.ADMIN_EMAIL === '' ? 'ADMIN_EMAIL' : 'ADMIN_PASSWORD', 'must be set together with the other (or neither)');
  }
  if (config.ADMIN_EMAIL !== '') {
    const email = emailProblem(config.ADMIN_EMAIL);
    if (email !== undefined) throw new ConfigError('ADMIN_EMAIL', `is not a valid email (${email.reason})`);
    const password = passwordProblem(config.ADMIN_PASSWORD, COMMON_PASSWORDS);
    if (password !== undefined) throw new ConfigError('ADMIN_PASSWORD', `breaks the password rules (${password.reason}): 10 to 128 characters, not a common password`);
  }
  if (config.IDENTITY_KEY_SOURCE === 'data_dir') {
    // Set but ignored: DATA_DIR's keys would sign on, and a rotation to a new key would not happen.
    const ignored = (['IDENTITY_SIGNING_KEY_PEM', 'IDENTITY_SIGNING_KEY_FILE', 'IDENTITY_TOTP_KEY_BASE64'] as const).filter((setting) => config[setting] !== '');
    if (ignored.length > 0) throw new ConfigError('IDENTITY_KEY_SOURCE', `is data_dir, which ignores ${ignored.join(', ')}: set IDENTITY_KEY_SOURCE=config to use them`);
  }
  if (config.IDENTITY_KEY_SOURCE === 'config') {
    if (config.IDENTITY_SIGNING_KEY_PEM === '' && config.IDENTITY_SIGNING_KEY_FILE === '') {
      throw new ConfigError('IDENTITY_SIGNING_KEY_PEM', 'or IDENTITY_SIGNING_KEY_FILE is required when IDENTITY_KEY_SOURCE=config');
    }
    if (config.IDENTITY_SIGNING_KEY_PEM !== '' && config.IDENTITY_SIGNING_KEY_FILE !== '') {
      throw new ConfigError('IDENTITY_SIGNING_KEY_FILE', 'must not be set together with IDENTITY_SIGNING_KEY_PEM: set one');
    }
    if (config.IDENTITY_TOTP_KEY_BASE64 === '') throw new ConfigError('IDENTITY_TOTP_KEY_BASE64', 'is required when IDENTITY_KEY_SOURCE=config');
  }
  return config;
}
