// JSON logs (pino) that never carry a credential or a card number: secret fields are redacted by
// name at any depth up to four levels, and the finished line is scrubbed of anything shaped like
// a PAN (13-19 digits passing Luhn), a JWT or a bearer token, wherever it hides.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';

export type GatewayLogger = Logger;

/** Field names whose values never reach a log line. */
export const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-network-key',
  'password',
  'currentPassword',
  'newPassword',
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'secret',
  'otpauthUrl',
  'totp',
  'code',
  'pan',
  'cardNumber',
  'cvv',
  'cvc',
  'apiKey',
] as const;

const REDACTED = '[REDACTED]';

/** An error's `code` as the project and its platform name them (`insufficient_funds`, `SQLITE_FULL`, `ECONNRESET`): never a secret. */
const ERROR_CODE = /^(?:[a-z]+(?:_[a-z]+)+|unavailable|forbidden|unauthenticated|(?:SQLITE|ERR)_[A-Z0-9_]+|E[A-Z]{2,})$/;

/**
 * Every secret field's value is redacted, except a `code` that is an error code: `code` is also a
 * TOTP code's field, but a failure's code is what an operator reads a log line for.
 */
function censorOf(value: unknown, path: string[]): unknown {
  return path[path.length - 1] === 'code' && typeof value === 'string' && ERROR_CODE.test(value) ? value : REDACTED;
}
const REDACT_DEPTH_MAX = 4;

/** pino redact paths for every secret field at depths 0..REDACT_DEPTH_MAX-1 (`password`, `*.password`, `*.*["set-cookie"]`...). */
function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) {
    const plain = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(field);
    for (let depth = 0; depth < REDACT_DEPTH_MAX; depth++) {
      const parents = Array.from({ length: depth }, () => '*');
      paths.push(plain ? [...parents, field].join('.') : `${parents.join('.')}["${field}"]`);
    }
  }
  return paths;
}

const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi;
const DIGIT_RUN = /(?<![0-9])[0-9]{13,19}(?![0-9])/g;

/** Masks PANs, JWTs and bearer tokens in a finished log line (or any text). */
export function scrubSecrets(text: string): string {
  return text
    .replace(JWT, REDACTED)
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(DIGIT_RUN, (digits) => (passesLuhn(digits) ? `${REDACTED}${digits.slice(-4)}` : digits));
}

function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export interface GatewayLoggerOptions {
  readonly level: string;
  /** The `service` field of every line: `gateway` unless the process is more than the gateway (the embedded host). */
  readonly service?: string;
  /** Where lines go; stdout by default (tests pass a stream). */
  readonly destination?: DestinationStream;
}

export function createGatewayLogger(options: GatewayLoggerOptions): GatewayLogger {
  return pino(
    {
      level: options.level,
      base: { service: options.service ?? 'gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths(), censor: censorOf },
      hooks: { streamWrite: scrubSecrets },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** Nest's own messages through the same logger. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: GatewayLogger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}

// grpc-js logs a metadata entry it refuses (a value with a non-ASCII character) with the value,
// twice: an `authorization` or `x-network-key` would be written out whole.
const REFUSED_METADATA = /^Failed to add metadata entry ([^:\s]*):/;
// Its server_call tracer (GRPC_TRACE) writes each request's metadata as JSON: `"authorization":["..."]`.
const JSON_STRINGS = /\[(?:"(?:[^"\\]|\\.)*"(?:,"(?:[^"\\]|\\.)*")*)?\]/.source;
const SECRET_METADATA = new RegExp(`"(${SECRET_FIELDS.join('|')})":${JSON_STRINGS}`, 'gi');

/** grpc-js's own lines (its setLogger) through the gateway's logger: secret metadata redacted, a refused entry named by its key only. */
export function grpcJsLoggerOf(logger: GatewayLogger): Pick<Console, 'error' | 'info' | 'debug'> {
  const line =
    (level: 'error' | 'info' | 'debug') =>
    (...args: unknown[]): void => {
      const text = args.map(String).join(' ').replace(SECRET_METADATA, `"$1":["${REDACTED}"]`);
      const refused = REFUSED_METADATA.exec(text);
      if (refused !== null) logger.warn({ context: 'grpc-js' }, `grpc-js refused the metadata entry ${refused[1]} (not printable ASCII; the value is not logged)`);
      else logger[level]({ context: 'grpc-js' }, text);
    };
  return { error: line('error'), info: line('info'), debug: line('debug') };
}
