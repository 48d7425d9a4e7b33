// FNV-1a hashes over UTF-8: a few lines, stable across processes, platforms and releases.
// Not for secrets: anyone can find collisions on purpose.

const utf8 = new TextEncoder();

const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** FNV-1a, 32 bits, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV32_OFFSET;
  for (const byte of utf8.encode(text)) {
    hash = Math.imul(hash ^ byte, FNV32_PRIME);
  }
  return hash >>> 0;
}

/**
 * FNV-1a, 64 bits, as 16 hex digits. Computed on two 32-bit halves because BigInt arithmetic
 * per byte is slow: the prime is 2^40 + 435, so h * prime = h * 435 + (h << 40) mod 2^64.
 */
export function fnv1a64Hex(text: string): string {
  let high = 0xcbf29ce4;
  let low = 0x84222325;
  for (const byte of utf8.encode(text)) {
    low = (low ^ byte) >>> 0;
    const lowTimes435 = low * 435; // < 2^41: exact in a double
    const carry = Math.floor(lowTimes435 / 0x1_0000_0000);
    high = (high * 435 + carry + (low << 8)) >>> 0; // every term < 2^42: exact, then mod 2^32
    low = lowTimes435 >>> 0;
  }
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');
}
