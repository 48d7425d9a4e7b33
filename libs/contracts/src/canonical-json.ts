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
      if (Array.isArray(value)) return `[${value.map((item) => write(item === undefined ? null : item)).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((key) => record[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${write(record[key])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode ${typeof value}`);
  }
}
