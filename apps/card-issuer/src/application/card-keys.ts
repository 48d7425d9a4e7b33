// The card-issuer's keys: versioned key-encryption keys (KEKs) that wrap each card's data key,
// the HMAC key of PAN fingerprints and the HMAC key CVVs are derived with. In embedded mode
// (CARD_KEY_SOURCE=data_dir) they are generated on first start into DATA_DIR (mode 0600) and
// loaded on later starts; otherwise they come from the settings and the service refuses to
// start without them. No key is ever logged.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { base64KeyOf, ConfigError, keyListOf, readOrCreateKeyFile } from '@ledger/contracts';
import type { CardIssuerConfig } from '../card-issuer.config';

export const CARD_KEYS_FILE = 'card-issuer-keys.json';
export const CARD_KEY_BYTES = 32;
const DEV_KEK_ID = 'dev-1';

export interface CardKeys {
  /** The KEK that wraps new cards' data keys. */
  readonly currentKekId: string;
  readonly keks: ReadonlyMap<string, Buffer>;
  readonly fingerprintKey: Buffer;
  readonly cvvKey: Buffer;
}

/** `id:base64,id:base64` -> id -> 32-byte key (the shared versioned key list). */
export function parseKeyList(text: string, setting: string): Map<string, Buffer> {
  return keyListOf(text, setting, CARD_KEY_BYTES);
}

export function loadCardKeys(config: CardIssuerConfig, dataDir: string, log: (message: string) => void = () => undefined): CardKeys {
  if (config.CARD_KEY_SOURCE === 'config') {
    return {
      currentKekId: config.CARD_KEK_CURRENT_ID,
      keks: parseKeyList(config.CARD_KEKS, 'CARD_KEKS'),
      fingerprintKey: keyOf(config.CARD_FINGERPRINT_KEY_BASE64, 'CARD_FINGERPRINT_KEY_BASE64'),
      cvvKey: keyOf(config.CARD_CVV_KEY_BASE64, 'CARD_CVV_KEY_BASE64'),
    };
  }
  const path = join(dataDir, CARD_KEYS_FILE);
  const { text, created } = readOrCreateKeyFile(path, newKeyFile, log);
  if (created) log(`generated development card keys into ${path} (CARD_KEY_SOURCE=data_dir); use CARD_KEY_SOURCE=config in production`);
  let file: { currentKekId?: unknown; keks?: unknown; fingerprintKey?: unknown; cvvKey?: unknown };
  try {
    file = JSON.parse(text) as typeof file;
  } catch {
    throw new ConfigError(CARD_KEYS_FILE, 'is not JSON');
  }
  const keks = typeof file.keks === 'string' ? parseKeyList(file.keks, `${CARD_KEYS_FILE} keks`) : new Map<string, Buffer>();
  const currentKekId = String(file.currentKekId ?? '');
  if (!keks.has(currentKekId)) throw new ConfigError(`${CARD_KEYS_FILE} currentKekId`, 'must name a key of keks');
  return {
    currentKekId,
    keks,
    fingerprintKey: keyOf(String(file.fingerprintKey ?? ''), `${CARD_KEYS_FILE} fingerprintKey`),
    cvvKey: keyOf(String(file.cvvKey ?? ''), `${CARD_KEYS_FILE} cvvKey`),
  };
}

/** A new key file: one KEK version and the two HMAC keys; rotate by adding `id:base64` to `keks` and moving `currentKekId`. */
function newKeyFile(): string {
  const key = () => randomBytes(CARD_KEY_BYTES).toString('base64');
  return `${JSON.stringify({ currentKekId: DEV_KEK_ID, keks: `${DEV_KEK_ID}:${key()}`, fingerprintKey: key(), cvvKey: key() }, null, 2)}\n`;
}

function keyOf(base64: string, setting: string): Buffer {
  return base64KeyOf(base64, setting, CARD_KEY_BYTES);
}
