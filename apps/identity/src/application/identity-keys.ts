// The identity service's two keys: the Ed25519 key that signs access tokens, and the AES-256
// key that seals TOTP secrets (retired ones, IDENTITY_PREVIOUS_TOTP_KEYS, still open what they sealed). In embedded mode (IDENTITY_KEY_SOURCE=data_dir) both are made on
// first start into DATA_DIR (files mode 0600) and loaded on later starts, so tokens outlive a
// restart; otherwise they come from the settings and the service refuses to start without them.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { base64KeyOf, ConfigError, keyListOf, readOrCreateKeyFile } from '@ledger/contracts';
import type { IdentityConfig } from '../identity.config';

export const SIGNING_KEY_FILE = 'identity-signing-key.pem';
export const TOTP_KEY_FILE = 'identity-totp-key';
export const TOTP_KEY_BYTES = 32;
/** Retired signing keys still published (IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM): a rotation or two within a token's lifetime. */
export const PREVIOUS_PUBLIC_KEYS_MAX = 4;

/** A public key that verifies access tokens, under its JWT `kid`. */
export interface VerificationKey {
  readonly publicKey: KeyObject;
  readonly keyId: string;
}

export interface IdentityKeys {
  /** Ed25519 private key. */
  readonly signingKey: KeyObject;
  readonly publicKey: KeyObject;
  /** RFC 7638 thumbprint of the public key: the JWT `kid`. */
  readonly keyId: string;
  /** Retired signing keys, verifying the tokens they signed until those expire. */
  readonly previousKeys: readonly VerificationKey[];
  readonly totpKey: Buffer;
  /** Names the TOTP key inside every sealed secret, so a rotated key can be told apart. */
  readonly totpKeyId: string;
  /** Retired TOTP keys by their totpKeyId: they open the secrets they sealed, never seal. */
  readonly previousTotpKeys: ReadonlyMap<string, Buffer>;
}

export function loadIdentityKeys(config: IdentityConfig, dataDir: string, warn: (message: string) => void = () => undefined): IdentityKeys {
  const fromConfig = config.IDENTITY_KEY_SOURCE === 'config';
  const signingPem = fromConfig ? configuredSigningKey(config) : readOrCreateKeyFile(join(dataDir, SIGNING_KEY_FILE), newSigningKeyPem, warn).text;
  const totpBase64 = fromConfig ? config.IDENTITY_TOTP_KEY_BASE64 : readOrCreateKeyFile(join(dataDir, TOTP_KEY_FILE), newTotpKey, warn).text;
  const signingSetting = fromConfig ? (config.IDENTITY_SIGNING_KEY_PEM !== '' ? 'IDENTITY_SIGNING_KEY_PEM' : 'IDENTITY_SIGNING_KEY_FILE') : SIGNING_KEY_FILE;

  let signingKey: KeyObject;
  try {
    signingKey = createPrivateKey(signingPem);
  } catch {
    throw new ConfigError(signingSetting, 'is not a PEM private key');
  }
  if (signingKey.asymmetricKeyType !== 'ed25519') throw new ConfigError(signingSetting, `must be an Ed25519 key, got ${signingKey.asymmetricKeyType}`);
  const publicKey = createPublicKey(signingKey);

  const totpKey = base64KeyOf(totpBase64, fromConfig ? 'IDENTITY_TOTP_KEY_BASE64' : TOTP_KEY_FILE, TOTP_KEY_BYTES);
  const keyId = jwkThumbprint(publicKey);
  const totpKeyId = totpKeyIdOf(totpKey);
  return {
    signingKey,
    publicKey,
    keyId,
    previousKeys: previousPublicKeys(config.IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM, keyId),
    totpKey,
    totpKeyId,
    previousTotpKeys: previousTotpKeys(config.IDENTITY_PREVIOUS_TOTP_KEYS, totpKeyId),
  };
}

/** Derived from the key itself, so sealed secrets name their key whatever the settings call it. */
function totpKeyIdOf(key: Buffer): string {
  return createHash('sha256').update('identity-totp-key').update(key).digest('hex').slice(0, 16);
}

/** The retired TOTP keys (the card-issuer's versioned key list: `id:base64,...`), none the current one. */
function previousTotpKeys(list: string, currentKeyId: string): Map<string, Buffer> {
  const setting = 'IDENTITY_PREVIOUS_TOTP_KEYS';
  const keys = new Map<string, Buffer>();
  if (list.trim() === '') return keys;
  for (const [id, key] of keyListOf(list, setting, TOTP_KEY_BYTES)) {
    const keyId = totpKeyIdOf(key);
    if (keyId === currentKeyId) throw new ConfigError(setting, `key ${id} is the current IDENTITY_TOTP_KEY_BASE64: list only retired keys`);
    if (keys.has(keyId)) throw new ConfigError(setting, `key ${id} is listed twice`);
    keys.set(keyId, key);
  }
  return keys;
}

/** RFC 7638: SHA-256 of the key's required members in lexicographic order, base64url. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })).digest('base64url');
}

/** One PEM public key block (SPKI). */
const PUBLIC_KEY_PEM = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;

/** The retired keys, each once and none the current key (`currentKeyId`): a JWKS naming a kid twice fails jose's verification of every token of it. */
function previousPublicKeys(pems: string, currentKeyId: string): VerificationKey[] {
  const setting = 'IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM';
  const text = pems.replace(/\\n/g, '\n');
  const blocks = text.match(PUBLIC_KEY_PEM) ?? [];
  if (text.replace(PUBLIC_KEY_PEM, '').trim() !== '') throw new ConfigError(setting, 'must hold only PEM public keys (BEGIN PUBLIC KEY blocks)');
  if (blocks.length > PREVIOUS_PUBLIC_KEYS_MAX) throw new ConfigError(setting, `holds ${blocks.length} keys, at most ${PREVIOUS_PUBLIC_KEYS_MAX} are allowed`);
  const keyIds = new Set([currentKeyId]);
  return blocks.map((block, index) => {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(block);
    } catch {
      throw new ConfigError(setting, `key ${index + 1} is not a PEM public key`);
    }
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new ConfigError(setting, `key ${index + 1} must be an Ed25519 key, got ${publicKey.asymmetricKeyType}`);
    const keyId = jwkThumbprint(publicKey);
    if (keyIds.has(keyId)) throw new ConfigError(setting, `key ${index + 1} is ${keyId === currentKeyId ? 'the current signing key' : 'listed twice'}: list each retired key once`);
    keyIds.add(keyId);
    return { publicKey, keyId };
  });
}

function configuredSigningKey(config: IdentityConfig): string {
  if (config.IDENTITY_SIGNING_KEY_PEM !== '') return config.IDENTITY_SIGNING_KEY_PEM.replace(/\\n/g, '\n');
  try {
    return readFileSync(config.IDENTITY_SIGNING_KEY_FILE, 'utf8');
  } catch (error) {
    throw new ConfigError('IDENTITY_SIGNING_KEY_FILE', `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function newSigningKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

function newTotpKey(): string {
  return `${randomBytes(TOTP_KEY_BYTES).toString('base64')}\n`;
}

