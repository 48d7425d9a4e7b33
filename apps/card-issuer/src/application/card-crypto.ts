// The card-issuer's cryptography (node:crypto only): PAN generation from a CSPRNG, envelope
// encryption of the PAN (AES-256-GCM under a per-card data key, the data key wrapped by a
// versioned key-encryption key), the HMAC fingerprint a PAN is found by, and the CVV, derived on
// demand and never stored. Nothing here logs, and no error message carries a PAN or a key.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { composePan, PAN_LENGTH } from '../domain/pan';
import type { CardKeys } from './card-keys';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED_VERSION = 'v1';

/** Random decimal digits, unbiased: bytes of 250 and above are drawn again. */
export function randomDigits(count: number, random: (bytes: number) => Buffer = randomBytes): string {
  let digits = '';
  while (digits.length < count) {
    for (const byte of random(count * 2)) {
      if (byte >= 250) continue;
      digits += String(byte % 10);
      if (digits.length === count) break;
    }
  }
  return digits;
}

export class CardCrypto {
  constructor(
    private readonly keys: CardKeys,
    private readonly random: (bytes: number) => Buffer = randomBytes,
  ) {}

  /** A fresh PAN under `bin`: random digits from the CSPRNG and the Luhn check digit. */
  newPan(bin: string): string {
    return composePan(bin, randomDigits(PAN_LENGTH - 1 - bin.length, this.random));
  }

  /** HMAC-SHA256 of the PAN, hex: finds a card by its PAN without storing the PAN. */
  fingerprint(pan: string): string {
    return createHmac('sha256', this.keys.fingerprintKey).update(pan).digest('hex');
  }

  /**
   * Seals the PAN: `v1.{kekId}.{wrapIv}.{wrappedKey}.{wrapTag}.{iv}.{ciphertext}.{tag}` (base64url).
   * The card id is the associated data of both layers, so a sealed PAN cannot be moved to another card.
   */
  sealPan(pan: string, cardId: string): { sealedPan: string; kekId: string } {
    const kekId = this.keys.currentKekId;
    const kek = this.kek(kekId);
    const dataKey = this.random(32);
    try {
      const wrapped = gcmSeal(kek, dataKey, wrapAad(cardId, kekId), this.random(IV_BYTES));
      const sealed = gcmSeal(dataKey, Buffer.from(pan, 'utf8'), panAad(cardId), this.random(IV_BYTES));
      const parts = [wrapped.iv, wrapped.ciphertext, wrapped.tag, sealed.iv, sealed.ciphertext, sealed.tag].map((part) => part.toString('base64url'));
      return { sealedPan: [SEALED_VERSION, kekId, ...parts].join('.'), kekId };
    } finally {
      dataKey.fill(0);
    }
  }

  /** The clear PAN of a sealed one; throws (without the PAN) when a key is missing or the data was altered. */
  openPan(sealedPan: string, cardId: string): string {
    const parts = sealedPan.split('.');
    if (parts.length !== 8 || parts[0] !== SEALED_VERSION) throw new Error('sealed PAN: unknown format');
    const kekId = parts[1];
    const [wrapIv, wrappedKey, wrapTag, iv, ciphertext, tag] = parts.slice(2).map((part) => Buffer.from(part, 'base64url'));
    const dataKey = gcmOpen(this.kek(kekId), { iv: wrapIv, ciphertext: wrappedKey, tag: wrapTag }, wrapAad(cardId, kekId));
    try {
      return gcmOpen(dataKey, { iv, ciphertext, tag }, panAad(cardId)).toString('utf8');
    } finally {
      dataKey.fill(0);
    }
  }

  /** HMAC(CVV key, PAN|MM/YYYY), its first 4 bytes mod 1000 as 3 digits (bias under 1e-6). */
  cvv(pan: string, expMonth: number, expYear: number): string {
    const mac = createHmac('sha256', this.keys.cvvKey).update(`${pan}|${String(expMonth).padStart(2, '0')}/${expYear}`).digest();
    return String(mac.readUInt32BE(0) % 1000).padStart(3, '0');
  }

  /** Compares a presented CVV with the derived one in constant time. */
  cvvMatches(pan: string, expMonth: number, expYear: number, presented: string): boolean {
    const expected = Buffer.from(this.cvv(pan, expMonth, expYear), 'utf8');
    const given = Buffer.from(presented.padEnd(expected.length, '\u0000').slice(0, 8), 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private kek(kekId: string): Buffer {
    const kek = this.keys.keks.get(kekId);
    if (kek === undefined) throw new Error(`sealed PAN: key-encryption key ${kekId} is not configured`);
    return kek;
  }
}

interface Sealed {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer, iv: Buffer): Sealed {
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

function gcmOpen(key: Buffer, sealed: Sealed, aad: Buffer): Buffer {
  if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) throw new Error('sealed PAN: bad iv or tag length');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.tag);
  try {
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  } catch {
    throw new Error('sealed PAN: authentication failed (wrong key or altered data)');
  }
}

const wrapAad = (cardId: string, kekId: string) => Buffer.from(`card-data-key|${cardId}|${kekId}`, 'utf8');
const panAad = (cardId: string) => Buffer.from(`card-pan|${cardId}`, 'utf8');
