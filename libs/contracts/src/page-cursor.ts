// The cursor of every paged listing (a wallet's transactions, a card's authorizations): the
// (position, seq) of the last item handed out, as base64url. Opaque to clients, stable under new
// appends (new items only ever come before it), and only its canonical spelling is accepted.

/** Longer than any cursor this code makes; anything longer is refused before it is decoded. */
export const PAGE_CURSOR_LENGTH_MAX = 64;

const CURSOR_TEXT = /^(0|[1-9][0-9]{0,18}):(0|[1-9][0-9]{0,3})$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const POSITION_MAX = 2n ** 63n - 1n;

export interface PageCursor {
  readonly position: bigint;
  readonly seq: bigint;
}

export function encodePageCursor(position: bigint, seq: bigint): string {
  return Buffer.from(`${position}:${seq}`, 'utf8').toString('base64url');
}

/** The cursor's (position, seq); undefined when it is not one this code gave out. */
export function decodePageCursor(cursor: unknown): PageCursor | undefined {
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > PAGE_CURSOR_LENGTH_MAX || !BASE64URL.test(cursor)) return undefined;
  const match = CURSOR_TEXT.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (match === null) return undefined;
  const position = BigInt(match[1]);
  const seq = BigInt(match[2]);
  // Only the canonical spelling: one item, one cursor.
  if (position > POSITION_MAX || encodePageCursor(position, seq) !== cursor) return undefined;
  return { position, seq };
}
