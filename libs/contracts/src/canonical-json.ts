// Canonical JSON: object keys sorted, no whitespace. The hash chain and idempotency fingerprints
// depend on it being stable, so there is exactly one implementation.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function canonicalJson(value: unknown): string {
  return write(value);
}

function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON: non-finite number');
      return JSON.stringify(value);
    case 'bigint':
      throw new TypeError('canonical JSON: bigint must be carried as a digit string');
    case 'object': {
      // Built with += in one pass: this runs for every event hashed and every command fingerprinted,
      // and filter/map/join made three arrays per object.
      if (Array.isArray(value)) {
        let out = '[';
        for (let index = 0; index < value.length; index++) {
          if (index > 0) out += ',';
          const item: unknown = value[index];
          out += write(item === undefined ? null : item);
        }
        return out + ']';
      }
      if (!isPlainObject(value)) throw new TypeError(`canonical JSON: cannot encode ${Object.prototype.toString.call(value)} (JSON.stringify would write it otherwise)`);
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      for (const key of keys) {
        const field = record[key];
        if (field === undefined) continue;
        if (out.length > 1) out += ',';
        out += JSON.stringify(key) + ':' + write(field);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode ${typeof value}`);
  }
}

/**
 * A record both encoders write alike: not a Date, boxed primitive, Map or anything with toJSON,
 * which JSON.stringify writes differently (a stored event would then fail its own hash).
 * The prototype check is the fast path; the tag check accepts plain objects of another realm.
 */
function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) return true;
  return Object.prototype.toString.call(value) === '[object Object]' && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}
