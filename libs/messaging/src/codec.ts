// The one payload codec: JSON bytes, even in process, so whatever would not survive Kafka fails
// here too. Amounts are bigint in code and digit strings on the wire (DESIGN.md §3).

import { jsonTextError } from '@ledger/contracts';

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/** How deep `checkedPlain` walks before leaving a value to the replacer (a cycle ends up there too). */
const PLAIN_WALK_DEPTH_MAX = 64;

/** JSON-encodes `value`. Throws CodecError on bigint, non-finite numbers and undefined. */
export function encode(value: unknown): Buffer {
  let json: string | undefined;
  try {
    // A replacer takes JSON.stringify off its fast path for every key; a walk that only checks is cheaper.
    json = checkedPlain(value, '', 0) ? JSON.stringify(value) : JSON.stringify(value, refuseLossyValues);
  } catch (error) {
    if (error instanceof CodecError) throw error;
    throw new CodecError(`cannot encode payload: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (json === undefined) throw new CodecError(`cannot encode ${typeof value}: a payload must be JSON`);
  return Buffer.from(json, 'utf8');
}

/** Parses JSON bytes. Throws CodecError on anything that is not one JSON value. */
export function decode(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    // Never JSON.parse's message: it quotes the bytes, which may hold a card number.
    throw new CodecError(`cannot decode payload as JSON: ${jsonTextError(error, text).message}`);
  }
}

/**
 * Throws what `refuseLossyValues` would for a bigint or non-finite number anywhere in `value`.
 * False when it cannot vouch for the value (a toJSON method, deeper than PLAIN_WALK_DEPTH_MAX):
 * the replacer then checks it as JSON.stringify walks it.
 */
function checkedPlain(value: unknown, key: string | number, depth: number): boolean {
  switch (typeof value) {
    case 'bigint':
      refuseLossyValues(String(key), value);
      return true;
    case 'number':
      if (!Number.isFinite(value)) refuseLossyValues(String(key), value);
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth >= PLAIN_WALK_DEPTH_MAX || typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) if (!checkedPlain(value[index], index, depth + 1)) return false;
        return true;
      }
      const record = value as Record<string, unknown>;
      for (const field of Object.keys(record)) if (!checkedPlain(record[field], field, depth + 1)) return false;
      return true;
    }
    default:
      return true;
  }
}

function refuseLossyValues(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    throw new CodecError(
      `cannot encode bigint${where(key)}: amounts travel as decimal strings (e.g. "1050"), convert with toString()`,
    );
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new CodecError(`cannot encode ${value}${where(key)}: JSON has no non-finite numbers`);
  }
  return value;
}

function where(key: string): string {
  return key === '' ? '' : ` at "${key}"`;
}
