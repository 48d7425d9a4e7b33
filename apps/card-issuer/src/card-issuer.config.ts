// Settings of the card-issuer, read once through the one config loader. Some are secrets
// (CARD_KEKS, CARD_FINGERPRINT_KEY_BASE64, CARD_CVV_KEY_BASE64): never log this object.
import { ConfigError, enumSetting, intSetting, loadConfig, stringSetting, type ConfigOf } from '@ledger/contracts';
import { SHARDS_MAX } from '@ledger/ledger';
import { MS_PER_DAY } from './domain/limits';
import { BIN_PATTERN } from './domain/pan';
import { parseKeyList } from './application/card-keys';

export const cardIssuerConfigSchema = {
  /** The issuer's BIN: the first 6 to 8 digits of every PAN (the default is a Visa test range). */
  CARD_BIN: stringSetting('400000', { pattern: BIN_PATTERN, maxLength: 8 }),
  /** A new card is valid through the end of the month this many months ahead. */
  CARD_VALIDITY_MONTHS: intSetting(36, { min: 1, max: 120 }),
  /** Partitions of `cards.commands` and `cards.queries`. */
  CARD_PARTITIONS: intSetting(4, { min: 1, max: 256 }),
  /** Requests of one partition handled at once (one card's decisions are serialised by the service). */
  CARD_REQUESTS_IN_FLIGHT_MAX: intSetting(64, { min: 1, max: 1_024 }),
  /** The hold's timeout asked of the ledger; 0 leaves it to the ledger's HOLD_TIMEOUT_MS. */
  CARD_HOLD_TIMEOUT_MS: intSetting(0, { min: 0, max: 31 * MS_PER_DAY }),
  /** How often a running issuer finishes authorizations left requested (an upstream failure nobody retried); 0: only at start. */
  CARD_RECOVERY_INTERVAL_MS: intSetting(60_000, { min: 0, max: MS_PER_DAY }),
  /** Card states kept in memory (each is topped up from its stream on use). */
  CARD_CACHE_MAX: intSetting(10_000, { min: 0, max: 10_000_000 }),
  /** How long a request to the ledger or identity may take before it counts as lost. */
  CARD_UPSTREAM_TIMEOUT_MS: intSetting(10_000, { min: 100, max: 120_000 }),
  /** The ledger's shard count (the same setting as the wallet-ledger's): routes commands and names clearing accounts. */
  LEDGER_SHARDS: intSetting(4, { min: 1, max: SHARDS_MAX }),
  /** `data_dir`: generate the keys into DATA_DIR on first start (embedded mode); `config`: take them from the settings below. */
  CARD_KEY_SOURCE: enumSetting('data_dir', ['data_dir', 'config'] as const),
  /** Key-encryption keys as `id:base64,id:base64` (32 bytes each); old ids stay to decrypt old cards. */
  CARD_KEKS: stringSetting('', { maxLength: 16_384 }),
  /** The id in CARD_KEKS that wraps the data keys of new cards. */
  CARD_KEK_CURRENT_ID: stringSetting('', { maxLength: 32 }),
  /** 32 bytes, base64: the HMAC key of PAN fingerprints (changing it loses every card's look-up). */
  CARD_FINGERPRINT_KEY_BASE64: stringSetting('', { maxLength: 64 }),
  /** 32 bytes, base64: the HMAC key CVVs are derived with (changing it changes every CVV). */
  CARD_CVV_KEY_BASE64: stringSetting('', { maxLength: 64 }),
};

export type CardIssuerConfig = ConfigOf<typeof cardIssuerConfigSchema>;

export function loadCardIssuerConfig(env: Readonly<Record<string, string | undefined>> = process.env): CardIssuerConfig {
  const config = loadConfig(cardIssuerConfigSchema, env);
  const keySettings = ['CARD_KEKS', 'CARD_KEK_CURRENT_ID', 'CARD_FINGERPRINT_KEY_BASE64', 'CARD_CVV_KEY_BASE64'] as const;
  if (config.CARD_KEY_SOURCE === 'data_dir') {
    // Keys set but ignored: the dev keys in DATA_DIR would seal and find every card, and a later switch to them would lose those cards.
    const ignored = keySettings.filter((setting) => config[setting] !== '');
    if (ignored.length > 0) throw new ConfigError('CARD_KEY_SOURCE', `is data_dir, which ignores ${ignored.join(', ')}: set CARD_KEY_SOURCE=config to use them`);
  }
  if (config.CARD_KEY_SOURCE === 'config') {
    if (config.CARD_KEKS === '') throw new ConfigError('CARD_KEKS', 'is required when CARD_KEY_SOURCE=config');
    const keks = parseKeyList(config.CARD_KEKS, 'CARD_KEKS');
    if (config.CARD_KEK_CURRENT_ID === '') throw new ConfigError('CARD_KEK_CURRENT_ID', 'is required when CARD_KEY_SOURCE=config');
    if (!keks.has(config.CARD_KEK_CURRENT_ID)) throw new ConfigError('CARD_KEK_CURRENT_ID', 'must name a key of CARD_KEKS');
    for (const setting of ['CARD_FINGERPRINT_KEY_BASE64', 'CARD_CVV_KEY_BASE64'] as const) {
      if (config[setting] === '') throw new ConfigError(setting, 'is required when CARD_KEY_SOURCE=config');
    }
  }
  return config;
}
