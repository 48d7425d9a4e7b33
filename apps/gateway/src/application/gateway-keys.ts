// The gateway's one secret: the key of Idempotency-Key fingerprints (see IdempotencyService). From
// GATEWAY_FINGERPRINT_KEY_BASE64 (GATEWAY_KEY_SOURCE=config, the same for every instance), or
// generated into DATA_DIR on first start (embedded: one gateway). Never logged.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { base64KeyOf, ConfigError, readOrCreateKeyFile } from '@ledger/contracts';
import { FINGERPRINT_KEY_BYTES, type GatewayConfig } from '../gateway.config';

export const GATEWAY_FINGERPRINT_KEY_FILE = 'gateway-fingerprint-key';

export function loadFingerprintKey(config: GatewayConfig, dataDir: string | undefined, log: (message: string) => void): Buffer {
  if (config.GATEWAY_KEY_SOURCE === 'config') return base64KeyOf(config.GATEWAY_FINGERPRINT_KEY_BASE64, 'GATEWAY_FINGERPRINT_KEY_BASE64', FINGERPRINT_KEY_BYTES);
  if (dataDir === undefined) throw new ConfigError('GATEWAY_KEY_SOURCE', 'is data_dir, but this gateway runs without a DATA_DIR: set GATEWAY_KEY_SOURCE=config');
  const path = join(dataDir, GATEWAY_FINGERPRINT_KEY_FILE);
  const { text, created } = readOrCreateKeyFile(path, () => `${randomBytes(FINGERPRINT_KEY_BYTES).toString('base64')}\n`, log);
  if (created) log(`generated the gateway's fingerprint key into ${path} (GATEWAY_KEY_SOURCE=data_dir); use GATEWAY_KEY_SOURCE=config when gateways share a store`);
  return base64KeyOf(text, `${GATEWAY_FINGERPRINT_KEY_FILE} in DATA_DIR`, FINGERPRINT_KEY_BYTES);
}
