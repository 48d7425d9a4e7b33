// FNV-1a hashes over UTF-8: a few lines, stable across processes, platforms and releases.
// Not for secrets: anyone can find collisions on purpose.
//
// The UTF-8 bytes are produced from the string's code units on the fly, as TextEncoder would
// (a lone surrogate becomes U+FFFD), so hashing allocates nothing: it runs several times per
// command and a buffer each time was a large share of the writers' garbage.

const FNV32_OFFSET = 0x811c9dc5;
const FNV32_PRIME = 0x01000193;

/** Calls `byte` with each UTF-8 byte of `text`, in order (WHATWG encode: lone surrogates as U+FFFD). */
function forEachUtf8Byte(text: string, byte: (value: number) => void): void {
  const length = text.length;
  for (let index = 0; index < length; index++) {
    let code = text.charCodeAt(index);
    if (code < 0x80) {
      byte(code);
      continue;
    }
    if (code < 0x800) {
      byte(0xc0 | (code >> 6));
      byte(0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = index + 1 < length ? text.charCodeAt(index + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        index++;
        byte(0xf0 | (code >> 18));
        byte(0x80 | ((code >> 12) & 0x3f));
        byte(0x80 | ((code >> 6) & 0x3f));
        byte(0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    byte(0xe0 | (code >> 12));
    byte(0x80 | ((code >> 6) & 0x3f));
    byte(0x80 | (code & 0x3f));
  }
}

/** FNV-1a, 32 bits, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV32_OFFSET;
  forEachUtf8Byte(text, (byte) => {
    hash = Math.imul(hash ^ byte, FNV32_PRIME);
  });
  return hash >>> 0;
}

/**
 * FNV-1a, 64 bits, as 16 hex digits. Computed on two 32-bit halves because BigInt arithmetic
 * per byte is slow: the prime is 2^40 + 435, so h * prime = h * 435 + (h << 40) mod 2^64.
 */
export function fnv1a64Hex(text: string): string {
  let high = 0xcbf29ce4;
  let low = 0x84222325;
  forEachUtf8Byte(text, (byte) => {
    low = (low ^ byte) >>> 0;
    const lowTimes435 = low * 435; // < 2^41: exact in a double
    const carry = Math.floor(lowTimes435 / 0x1_0000_0000);
    high = (high * 435 + carry + (low << 8)) >>> 0; // every term < 2^42: exact, then mod 2^32
    low = lowTimes435 >>> 0;
  });
  return high.toString(16).padStart(8, '0') + low.toString(16).padStart(8, '0');
}
