// FNV-1a hashes over UTF-8: a few lines, stable across processes, platforms and releases.
// Not for secrets: anyone can find collisions on purpose.
//
// The UTF-8 bytes are produced from the string's code units on the fly, as TextEncoder would
// (a lone surrogate becomes U+FFFD), so hashing allocates nothing (no buffer, no closure): it
// runs for every command.

const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** The code point at `index` (a lone surrogate reads as U+FFFD, as the WHATWG encoder has it); above 0xffff it spans two code units. */
function codePointAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  if (code < 0xd800 || code > 0xdfff) return code;
  const next = index + 1 < text.length ? text.charCodeAt(index + 1) : 0;
  if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) return 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
  return 0xfffd;
}

/** How many UTF-8 bytes a code point takes. */
function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/** Byte `k` (0-based) of the `length`-byte UTF-8 form of a code point. */
function utf8Byte(codePoint: number, length: number, k: number): number {
  if (length === 1) return codePoint;
  const shift = 6 * (length - 1 - k);
  if (k === 0) return ((0xf00 >> length) & 0xff) | (codePoint >> shift);
  return 0x80 | ((codePoint >> shift) & 0x3f);
}

/** FNV-1a, 32 bits, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV32_OFFSET;
  for (let index = 0; index < text.length; index++) {
    const codePoint = codePointAt(text, index);
    const length = utf8Length(codePoint);
    for (let k = 0; k < length; k++) hash = Math.imul(hash ^ utf8Byte(codePoint, length, k), FNV32_PRIME);
    if (length === 4) index++;
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
  for (let index = 0; index < text.length; index++) {
    const codePoint = codePointAt(text, index);
    const length = utf8Length(codePoint);
    for (let k = 0; k < length; k++) {
      low = (low ^ utf8Byte(codePoint, length, k)) >>> 0;
      const lowTimes435 = low * 435; // < 2^41: exact in a double
      const carry = Math.floor(lowTimes435 / 0x1_0000_0000);
      high = (high * 435 + carry + (low << 8)) >>> 0; // every term < 2^42: exact, then mod 2^32
      low = lowTimes435 >>> 0;
    }
    if (length === 4) index++;
  }
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');
}
