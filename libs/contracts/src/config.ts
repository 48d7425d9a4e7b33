// The one config loader: settings are declared once, read from the environment once, validated,
// and a bad value stops the process with a message that names the setting.

export class ConfigError extends Error {
  constructor(readonly setting: string, problem: string) {
    super(`Invalid configuration: ${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

interface Setting<T> {
  read(name: string, raw: string | undefined): T;
}

export function intSetting(defaultValue: number, range: { min: number; max: number }): Setting<number> {
  return {
    read(name, raw) {
      if (raw === undefined || raw === '') return defaultValue;
      if (!/^-?[0-9]+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
      const value = Number(raw.trim());
      if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
        throw new ConfigError(name, `must be between ${range.min} and ${range.max}, got "${raw}"`);
      }
      return value;
    },
  };
}

export function stringSetting(defaultValue: string, options: { pattern?: RegExp; maxLength?: number } = {}): Setting<string> {
  const maxLength = options.maxLength ?? 4096;
  return {
    read(name, raw) {
      const value = raw === undefined || raw === '' ? defaultValue : raw;
      if (value.length > maxLength) throw new ConfigError(name, `must be at most ${maxLength} characters`);
      if (options.pattern && !options.pattern.test(value)) throw new ConfigError(name, `must match ${options.pattern}`);
      return value;
    },
  };
}

export function enumSetting<T extends string>(defaultValue: T, allowed: readonly T[]): Setting<T> {
  return {
    read(name, raw) {
      const value = raw === undefined || raw === '' ? defaultValue : raw;
      if (!allowed.includes(value as T)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
      return value as T;
    },
  };
}

export function booleanSetting(defaultValue: boolean): Setting<boolean> {
  return {
    read(name, raw) {
      if (raw === undefined || raw === '') return defaultValue;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new ConfigError(name, `must be true or false, got "${raw}"`);
    },
  };
}

export type ConfigSchema = Record<string, Setting<unknown>>;
export type ConfigOf<S extends ConfigSchema> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Reads every setting of `schema` from `env` (keys are the variable names). */
export function loadConfig<S extends ConfigSchema>(schema: S, env: Env = process.env): ConfigOf<S> {
  const result: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(schema)) result[name] = setting.read(name, env[name]);
  return Object.freeze(result) as ConfigOf<S>;
}

/**
 * A key of exactly `bytes` bytes given in base64 (padding optional, surrounding whitespace
 * ignored); anything else, stray characters included, is a ConfigError naming `setting`, never the key.
 */
export function base64KeyOf(text: string, setting: string, bytes: number): Buffer {
  const body = text.trim().replace(/=+$/, '');
  const key = Buffer.from(body, 'base64');
  // Node skips characters outside the alphabet: only a key that encodes back to the text is the text.
  if (key.length !== bytes || key.toString('base64').replace(/=+$/, '') !== body) throw new ConfigError(setting, `must be ${bytes} bytes in base64`);
  return key;
}

/** Key ids of a versioned key list: stored beside what a key sealed, so short and free of the sealed formats' separators. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Most key versions one setting lists. */
export const KEY_LIST_MAX = 32;

/**
 * A versioned key list, `id:base64,id:base64` -> id -> key of `bytes` bytes (rotation: add a
 * version, move the current id, keep the old ones while anything they sealed remains); a bad
 * entry is a ConfigError naming `setting` and the entry, never the key.
 */
export function keyListOf(text: string, setting: string, bytes: number): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) throw new ConfigError(setting, 'must list at least one id:base64 key');
  if (entries.length > KEY_LIST_MAX) throw new ConfigError(setting, `must list at most ${KEY_LIST_MAX} keys`);
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!KEY_ID_PATTERN.test(id)) throw new ConfigError(setting, `entry ${index + 1} must be id:base64 with an id matching ${KEY_ID_PATTERN}`);
    if (keys.has(id)) throw new ConfigError(setting, `names key ${id} twice`);
    keys.set(id, base64KeyOf(entry.slice(colon + 1), `${setting} (key ${id})`, bytes));
  }
  return keys;
}
