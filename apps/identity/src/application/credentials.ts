// The crypto behind credentials, kept out of the pure domain: argon2id password hashes, opaque
// refresh tokens (stored only as SHA-256 hashes) and the sealing of TOTP secrets (AES-256-GCM);
// TOTP codes are in ./totp-codes.ts. Nothing here logs, and nothing here keeps a secret it was handed.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import * as argon2 from 'argon2';
import { hasLoneSurrogate } from '@ledger/contracts';
import { passwordForm } from '../domain/credentials-policy';
import { NORMALIZED_UNITS_PER_CHARACTER_MAX, PASSWORD_LENGTH_MAX } from '../domain/limits';
import { TOTP_KEY_BYTES } from './identity-keys';

// ---------------------------------------------------------------------------------------------
// Passwords.

/** Passwords longer than this (code units) are not hashed: no form of a registered password is that long. */
export const VERIFIED_PASSWORD_LENGTH_MAX = PASSWORD_LENGTH_MAX * NORMALIZED_UNITS_PER_CHARACTER_MAX;

export interface Argon2Cost {
  readonly memoryKib: number;
  readonly iterations: number;
  readonly parallelism: number;
}

/** How many argon2 computations may run at once (each takes `memoryKib`) and wait for a turn. */
export interface HashingLimits {
  readonly inFlightMax: number;
  readonly queuedMax: number;
}

/** Every hashing turn is taken and `queuedMax` wait already: the caller retries later (503). */
export class HashingBusyError extends Error {
  constructor() {
    super('too many passwords are being checked right now');
    this.name = 'HashingBusyError';
  }
}

/**
 * Turns to run a job: `inFlightMax` at once, then `queuedMax` waiting first come first served, then
 * HashingBusyError. A job may take several turns (a hash made at a higher memory cost), at most all.
 */
export class HashingTurns {
  private free: number;
  private readonly waiting: { readonly turns: number; readonly start: () => void }[] = [];

  constructor(private readonly limits: HashingLimits) {
    this.free = limits.inFlightMax;
  }

  async run<T>(job: () => Promise<T>, turns = 1): Promise<T> {
    const taken = Math.min(Math.max(1, Math.ceil(turns)), this.limits.inFlightMax);
    if (this.waiting.length === 0 && this.free >= taken) this.free -= taken;
    else if (this.waiting.length < this.limits.queuedMax) await new Promise<void>((start) => this.waiting.push({ turns: taken, start }));
    else throw new HashingBusyError();
    try {
      return await job();
    } finally {
      this.free += taken;
      // The turns pass to the longest waiters, in order, as far as they suffice.
      while (this.waiting.length > 0 && this.free >= this.waiting[0].turns) {
        const next = this.waiting.shift()!;
        this.free -= next.turns;
        next.start();
      }
    }
  }
}

export class PasswordHasher {
  /** A hash of nothing anyone knows: logins for unknown emails verify against it, so they take as long. */
  private decoy: Promise<string> | undefined;
  /** Bounds argon2's memory (turns x memoryKib) and the requests waiting for it. */
  private readonly turns: HashingTurns;

  constructor(
    private readonly cost: Argon2Cost,
    limits: HashingLimits,
  ) {
    this.turns = new HashingTurns(limits);
  }

  hash(password: string): Promise<string> {
    const { memoryKib, iterations, parallelism } = this.cost;
    return this.turns.run(() => argon2.hash(passwordForm(password), { type: argon2.argon2id, memoryCost: memoryKib, timeCost: iterations, parallelism }));
  }

  /**
   * False for a wrong password, one no registration takes, and a hash that is not an argon2 hash. A password not in NFC is
   * tried as sent too: hashes made before passwords were normalized hold the bytes as typed.
   */
  async verify(hash: string, password: string): Promise<boolean> {
    // No registration takes such a password; refused here, before hashing, for a real hash and the decoy alike (same time).
    if (password.length > VERIFIED_PASSWORD_LENGTH_MAX || hasLoneSurrogate(password)) return false;
    const form = passwordForm(password);
    return (await this.verifyExactly(hash, form)) || (form !== password && (await this.verifyExactly(hash, password)));
  }

  private async verifyExactly(hash: string, password: string): Promise<boolean> {
    try {
      return await this.turns.run(() => argon2.verify(hash, password), this.turnsOf(hash));
    } catch (error) {
      if (error instanceof HashingBusyError) throw error;
      return false;
    }
  }

  /**
   * `password` (already verified against `hash`) hashed at the current cost when `hash` was made at
   * another; undefined when it was not, or when no hashing turn is free now (the next login does it).
   */
  async rehashed(hash: string, password: string): Promise<string | undefined> {
    const { memoryKib, iterations, parallelism } = this.cost;
    let current: boolean;
    try {
      current = hash.startsWith('$argon2id$') && !argon2.needsRehash(hash, { memoryCost: memoryKib, timeCost: iterations, parallelism });
    } catch {
      current = false;
    }
    if (current) return undefined;
    return this.hash(password).catch((error: unknown) => {
      if (error instanceof HashingBusyError) return undefined;
      throw error;
    });
  }

  /** Turns verifying `hash` takes: its memory cost (older hashes may have a higher one) over the current one's. */
  private turnsOf(hash: string): number {
    const memoryKib = Number(/^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d{1,10}),/.exec(hash)?.[1] ?? this.cost.memoryKib);
    return memoryKib / this.cost.memoryKib;
  }

  /** Spends a verification's time on a decoy hash; always false. */
  async verifyDecoy(password: string): Promise<false> {
    // A decoy not made (no turn free) is made again by the next call, not kept as a failure.
    this.decoy ??= this.hash(randomBytes(32).toString('base64url')).catch((error: unknown) => {
      this.decoy = undefined;
      throw error;
    });
    await this.verify(await this.decoy, password);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens: base64url of user id (16 bytes) | session id (16 bytes) | 32 random bytes.
// The ids are a selector (where to look), the random part is the secret; only the SHA-256 of the
// whole token is stored. Clients treat it as opaque.

const UUID_BYTES = 16;
export const REFRESH_TOKEN_RANDOM_BYTES = 32;
const REFRESH_TOKEN_BYTES = 2 * UUID_BYTES + REFRESH_TOKEN_RANDOM_BYTES;
/** base64url of REFRESH_TOKEN_BYTES. */
export const REFRESH_TOKEN_LENGTH = Math.ceil((REFRESH_TOKEN_BYTES * 4) / 3);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function mintRefreshToken(userId: string, sessionId: string): string {
  return Buffer.concat([uuidBytes(userId), uuidBytes(sessionId), randomBytes(REFRESH_TOKEN_RANDOM_BYTES)]).toString('base64url');
}

/** Where a refresh token points; undefined when it is not shaped like one. */
export function parseRefreshToken(token: unknown): { userId: string; sessionId: string } | undefined {
  if (typeof token !== 'string' || token.length !== REFRESH_TOKEN_LENGTH || !BASE64URL.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length !== REFRESH_TOKEN_BYTES) return undefined;
  return { userId: uuidString(bytes.subarray(0, UUID_BYTES)), sessionId: uuidString(bytes.subarray(UUID_BYTES, 2 * UUID_BYTES)) };
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function uuidBytes(uuid: string): Buffer {
  const bytes = Buffer.from(uuid.replace(/-/g, ''), 'hex');
  if (bytes.length !== UUID_BYTES) throw new RangeError(`not a UUID: ${uuid}`);
  return bytes;
}

function uuidString(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------
// Sealed TOTP secrets: `v1.{keyId}.{iv}.{ciphertext}.{tag}` (base64url), AES-256-GCM with the
// user id as associated data, so a sealed secret copied to another user does not open.

const SEAL_VERSION = 'v1';
const IV_BYTES = 12;

export class SecretBox {
  constructor(
    private readonly key: Buffer,
    private readonly keyId: string,
    /** Retired keys by id: they open what they sealed, never seal. */
    private readonly previousKeys: ReadonlyMap<string, Buffer> = new Map(),
  ) {
    for (const sealing of [key, ...previousKeys.values()]) if (sealing.length !== TOTP_KEY_BYTES) throw new RangeError(`the sealing key must be ${TOTP_KEY_BYTES} bytes`);
  }

  seal(secret: string, userId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(userId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [SEAL_VERSION, this.keyId, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Throws when the sealed value is damaged, sealed for another user or under another key: a bug or a broken store, not a user's error. */
  open(sealed: string, userId: string): string {
    const [version, keyId, iv, ciphertext, tag, ...rest] = sealed.split('.');
    if (version !== SEAL_VERSION || rest.length > 0 || tag === undefined) throw new Error('sealed TOTP secret: unknown format');
    const key = keyId === this.keyId ? this.key : this.previousKeys.get(keyId);
    if (key === undefined) throw new Error(`sealed TOTP secret: sealed under key ${keyId}, which this service does not hold`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(userId));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }
}
