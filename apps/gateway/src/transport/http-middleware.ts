// Express middleware that runs before Nest routes: a request id, the access log and request
// metrics; refusing bodies that are not JSON (415) before the parser; and a nesting limit on
// parsed bodies. Their errors go to the one exception filter through Nest's exception layer.
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { IdGenerator } from '@ledger/contracts';
import type { GatewayLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { validationFailed } from './http-errors';
import { clientIp, type GatewayRequest } from './request-context';
import { bodyShapeError } from './validation';

export const REQUEST_ID_HEADER = 'X-Request-Id';
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id and Cache-Control: no-store, then on finish one access-log line and the route's metrics. */
export function requestContext(deps: { ids: IdGenerator; logger: GatewayLogger; metrics: GatewayMetrics }): RequestHandler {
  return (request: Request, response: Response, next: NextFunction) => {
    const startedAt = performance.now();
    const gatewayRequest = request as GatewayRequest;
    const offered = request.headers['x-request-id'];
    const requestId = typeof offered === 'string' && REQUEST_ID_PATTERN.test(offered) ? offered : deps.ids.next();
    gatewayRequest.requestId = requestId;
    response.setHeader(REQUEST_ID_HEADER, requestId);
    // Answers carry tokens, a revealed PAN and CVV, a TOTP secret, balances: no cache keeps any (RFC 6749 5.1 requires it of tokens).
    response.setHeader('Cache-Control', 'no-store');
    response.on('finish', () => {
      const seconds = (performance.now() - startedAt) / 1000;
      // The route pattern, never the raw path: ids in paths would make a label per wallet.
      const route = typeof request.route?.path === 'string' ? request.route.path : 'unmatched';
      deps.metrics.observeHttp(request.method, route, response.statusCode, seconds);
      // Built only when it will be written: at LOG_LEVEL=warn a request allocates no log line.
      if (!deps.logger.isLevelEnabled('info')) return;
      deps.logger.info(
        {
          requestId,
          method: request.method,
          route,
          status: response.statusCode,
          durationMs: Math.round(seconds * 1000 * 10) / 10,
          ip: clientIp(request),
          userId: gatewayRequest.caller?.userId,
        },
        'request',
      );
    });
    next();
  };
}

export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  return mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'));
}

function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The charset parameter of a Content-Type, lower-cased and unquoted; undefined when there is none. */
function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(';').slice(1)) {
    const [name, ...value] = parameter.split('=');
    if (name.trim().toLowerCase() === 'charset') return value.join('=').trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/** A body must be JSON in UTF-8: anything else is 415 before a byte of it is read. */
export function requireJsonBody(): RequestHandler {
  return (request: Request, _response: Response, next: NextFunction) => {
    if (!hasBody(request)) return next();
    const contentType = request.headers['content-type'];
    if (!isJsonMediaType(contentType)) {
      next(validationFailed([{ field: 'Content-Type', reason: 'unsupported_media_type' }], 'the body must be JSON: Content-Type: application/json', 415));
      return;
    }
    // body-parser decodes any utf-* charset (UTF-7 and UTF-16 too): one spelling of a request only, as RFC 8259 asks.
    const charset = charsetOf(contentType!);
    if (charset !== undefined && charset !== 'utf-8') {
      next(validationFailed([{ field: 'body', reason: 'unsupported_charset' }], 'unsupported charset: JSON bodies are UTF-8', 415));
      return;
    }
    next();
  };
}

/**
 * Makes Node's own answers API.md's envelope: a request its parser refuses (a malformed request line or header,
 * headers over 16 KiB, a request timeout), an `Expect` it cannot meet (417), a CONNECT (no route: 404) and an
 * HTTP/1.1 request without `Host` (400, answered by `requireHostHeader` below). Node sent them without a body.
 */
export function envelopeNodeAnswers(server: Server): void {
  server.on('clientError', answerClientError);
  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const body = envelope('validation_failed', 'Expect', 'unsupported_expectation', 'the only expectation this server meets is Expect: 100-continue');
    response.writeHead(417, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' }).end(body);
  });
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    writeAndClose(socket, 404, JSON.stringify({ error: { code: 'not_found', message: 'no such route', details: {} } }));
  });
  // Express answers it instead (requireHostHeader): Node's own 400 had no body.
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
}

/** RFC 9112: an HTTP/1.1 request without Host is 400; with the envelope, then the connection closed. */
export function requireHostHeader(): RequestHandler {
  return (request: Request, response: Response, next: NextFunction) => {
    if (request.httpVersion === '1.1' && request.headers.host === undefined) {
      response.setHeader('Connection', 'close');
      next(validationFailed([{ field: 'Host', reason: 'missing' }], 'an HTTP/1.1 request needs a Host header'));
      return;
    }
    next();
  };
}

/** Answers a request Node's parser refused, as Node's own handler does (status, then the connection closed); nothing once a response began. */
export function answerClientError(error: Error & { code?: string }, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }): void {
  if (socket.writable && socket._httpMessage?.headersSent !== true) {
    const { status, reason } =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? { status: 431, reason: 'headers_too_large' }
        : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? { status: 413, reason: 'too_large' }
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? { status: 408, reason: 'timeout' }
            : { status: 400, reason: 'malformed_request' };
    writeAndClose(socket, status, envelope('validation_failed', 'request', reason, `the request could not be read (${reason})`), error);
    return;
  }
  socket.destroy(error);
}

function envelope(code: string, field: string, reason: string, message: string): string {
  return JSON.stringify({ error: { code, message, details: { fields: [{ field, reason }] } } });
}

/** A whole response written on the raw socket, which is then destroyed (as Node's own answers: a silent client holds nothing). */
function writeAndClose(socket: Duplex, status: number, body: string, error?: Error): void {
  socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy(error);
}

/**
 * The first field name an object of a JSON text repeats (compared decoded: `"a"` and `"\u0061"` are one), or
 * undefined. JSON.parse keeps the last; a proxy, log or signature check reading the first would see another request.
 * One pass, no recursion; a text that is not JSON is left to the parser.
 */
export function duplicateKeyOf(text: string): string | undefined {
  const objects: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let expectingKey = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (char === '"') {
      let end = index + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const keys = objects[objects.length - 1];
      if (expectingKey && keys) {
        const raw = text.slice(index, end + 1);
        let key = raw.slice(1, -1);
        try {
          if (key.includes('\\')) key = JSON.parse(raw) as string; // escapes decoded, so a name spelled two ways is one
        } catch {
          return undefined;
        }
        if (keys.has(key)) return key;
        keys.add(key);
        expectingKey = false;
      }
      index = end;
    } else if (char === '{' || char === '[') {
      objects.push(char === '{' ? new Set() : null);
      expectingKey = char === '{';
    } else if (char === '}' || char === ']') {
      objects.pop();
    } else if (char === ',') {
      expectingKey = objects[objects.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/** body-parser's `verify`: a body repeating a field name is refused (400 duplicate_key) before it is parsed. */
export function refuseDuplicateKeys(_request: unknown, _response: unknown, body: Buffer): void {
  const key = duplicateKeyOf(body.toString('utf8'));
  if (key !== undefined) throw Object.assign(new Error('the body names a field twice'), { type: DUPLICATE_KEY_ERROR });
}

export const DUPLICATE_KEY_ERROR = 'entity.duplicate.key';

/** Refuses a parsed body of a shape no route takes (bodyShapeError); no recursion. */
export function checkBodyShape(): RequestHandler {
  return (request: Request, _response: Response, next: NextFunction) => next(bodyShapeError(request.body));
}
