// The one payload codec: JSON bytes, even in process, so whatever would not survive Kafka fails
// here too. Amounts are bigint in code and digit strings on the wire (DESIGN.md §3).

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/** JSON-encodes `value`. Throws CodecError on bigint, non-finite numbers and undefined. */
export function encode(value: unknown): Buffer {
  let json: string | undefined;
  try {
    json = JSON.stringify(value, refuseLossyValues);
  } catch (error) {
    if (error instanceof CodecError) throw error;
    throw new CodecError(`cannot encode payload: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (json === undefined) throw new CodecError(`cannot encode ${typeof value}: a payload must be JSON`);
  return Buffer.from(json, 'utf8');
}

/** Parses JSON bytes. Throws CodecError on anything that is not one JSON value. */
export function decode(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new CodecError(`cannot decode payload as JSON: ${error instanceof Error ? error.message : String(error)}`);
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
