// Text every service keeps or hashes must come back as it went in.

/** In a `u` regular expression a surrogate pair is one code point, so only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Text holding a lone UTF-16 surrogate (no character): UTF-8 (SQLite, argon2, JSON on the wire)
 * turns each into U+FFFD, so such a string would not come back as it was, or would match another.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
