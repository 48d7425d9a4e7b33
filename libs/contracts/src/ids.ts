// The one id generator: UUIDv7 (RFC 9562), time-ordered so ids sort by creation.
import { createHash, randomFillSync } from 'node:crypto';

export type Uuid = string;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const UUIDV7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isUuid(value: unknown): value is Uuid {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

export function isUuidV7(value: unknown): value is Uuid {
  return typeof value === 'string' && UUIDV7_PATTERN.test(value);
}

/** Source of new ids. Domain code receives ids; only adapters hold a generator. */
export interface IdGenerator {
  next(): Uuid;
}

/**
 * UUIDv7 with a monotonic counter in rand_a, so ids made in the same millisecond still sort in
 * the order they were made (RFC 9562 §6.2, method 1).
 */
export class UuidV7Generator implements IdGenerator {
  private lastMs = -1;
  private counter = 0;
  // Random bytes drawn 4 KiB at a time: one CSPRNG call per 512 ids instead of one per id.
  private readonly pool = Buffer.alloc(4096);
  private poolOffset = this.pool.length;

  constructor(private readonly nowMs: () => number = Date.now) {}

  next(): Uuid {
    let ms = this.nowMs();
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      this.counter += 1;
      if (this.counter > 0xfff) {
        // Counter exhausted within one millisecond: borrow the next millisecond.
        ms += 1;
        this.counter = 0;
      }
    } else {
      this.counter = 0;
    }
    this.lastMs = ms;
    if (this.poolOffset + 8 > this.pool.length) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    const bytes = Buffer.alloc(16);
    this.pool.copy(bytes, 8, this.poolOffset, this.poolOffset + 8);
    this.poolOffset += 8;
    const msHex = ms.toString(16).padStart(12, '0');
    for (let i = 0; i < 6; i++) bytes[i] = parseInt(msHex.slice(i * 2, i * 2 + 2), 16);
    // rand_a carries the counter; rand_b is 62 random bits.
    bytes[6] = 0x70 | ((this.counter >> 8) & 0x0f);
    bytes[7] = this.counter & 0xff;
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

export const uuidv7: IdGenerator = new UuidV7Generator();

/**
 * The id of a thing a command creates, derived from the command's idempotency key, so a retry
 * names the same thing (and its fingerprint matches) instead of minting a new id. Shaped as a
 * UUID (version 8, RFC 9562 §5.8: SHA-256 of namespace and key); opaque to clients.
 */
export function idFromKey(namespace: string, idempotencyKey: string): Uuid {
  const bytes = createHash('sha256').update(namespace).update('\u0000').update(idempotencyKey).digest().subarray(0, 16);
  bytes[6] = 0x80 | (bytes[6] & 0x0f);
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
