// The gateway's gRPC server: Nest's gRPC transport serving package ledger.v1 from
// libs/contracts/proto, with server reflection, on GRPC_PORT (0: a free port, reported back).
import { maxHeaderSize as HTTP_HEADERS_BYTES_MAX } from 'node:http';
import { constants as http2, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Server as NetServer } from 'node:net';
import { Server, ServerCredentials, setLogger, status as GrpcStatus } from '@grpc/grpc-js';
import { loadSync, type Options as ProtoLoaderOptions, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { NestFactory } from '@nestjs/core';
import { ServerGrpc, type GrpcOptions } from '@nestjs/microservices';
import { ConfigError, GRPC_PACKAGE, GRPC_PROTO_FILES, protoRoot } from '@ledger/contracts';
import { GatewayError } from '../application/gateway-errors';
import type { GatewayComponents } from '../gateway.module';
import { STATUS_DETAILS_TRAILER, toGrpcError } from '../transport/grpc-errors';
import { validationFailed, type FieldProblem } from '../transport/http-errors';
import { grpcJsLoggerOf, NestPinoLogger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { decodeLeniently, FORWARDED_FOR_METADATA, IDEMPOTENCY_KEY_METADATA } from './grpc-edge';
import { GatewayGrpcModule } from './grpc.module';

/**
 * How messages become objects: camelCase fields (as API.md's JSON), absent fields left out (so
 * a missing field is `missing`, as over HTTP), 64-bit integers and enums as strings.
 */
export const PROTO_LOADER_OPTIONS: ProtoLoaderOptions = { keepCase: false, longs: String, enums: String, defaults: false, oneofs: false };

/** Package ledger.v1 as grpc-js and clients load it (tests use this too). */
export function loadLedgerProtos(options: ProtoLoaderOptions = PROTO_LOADER_OPTIONS): PackageDefinition {
  return loadSync([...GRPC_PROTO_FILES], { ...options, includeDirs: [protoRoot()] });
}

/** Nest's gRPC server, binding its own grpc-js server so that it knows the port it got. */
class GatewayGrpcServer extends ServerGrpc {
  private port: number | undefined;
  /** Calls open now, over all connections. */
  private callsHeld = 0;

  constructor(
    options: GrpcOptions['options'],
    private readonly address: string,
    private readonly limits: {
      /** The largest request message: BODY_LIMIT_BYTES, as for HTTP bodies (grpc-js refuses more with RESOURCE_EXHAUSTED). */
      readonly messageBytesMax: number;
      /** GRPC_MAX_CONCURRENT_STREAMS: one connection holding calls open that never send their message would otherwise hold any number. */
      readonly concurrentStreamsMax: number;
      /** GRPC_MAX_CONNECTIONS: sockets held at once (each a file descriptor of the whole process), as HTTP_MAX_CONNECTIONS. */
      readonly connectionsMax: number;
      /** GRPC_MAX_CONNECTION_IDLE_MS: a connection with no call open is closed after it (grpc-js keeps it for good). */
      readonly connectionIdleMs: number;
      /** HTTP_REQUEST_TIMEOUT_MS: the time a call has to send its whole request (grpc-js waits for good, and its connection is never idle). */
      readonly requestMs: number;
      /** GRPC_MAX_CALLS: calls held at once over all connections (GRPC_MAX_CONNECTIONS times GRPC_MAX_CONCURRENT_STREAMS is a million). */
      readonly callsMax: number;
    },
    /** Counts every call by the status its client got, grpc-js's own answers included. */
    private readonly metrics: GatewayMetrics,
  ) {
    super(options);
  }

  override async createClient(): Promise<Server> {
    const server = new Server({
      'grpc.max_receive_message_length': this.limits.messageBytesMax,
      'grpc.max_concurrent_streams': this.limits.concurrentStreamsMax,
      'grpc.max_connection_idle_ms': this.limits.connectionIdleMs,
    });
    // Every method path served (Nest's controllers', reflection's), the only ones the call counts name.
    const methods = new Set<string>();
    const register = server.register.bind(server);
    server.register = (name, ...rest) => {
      methods.add(name);
      return register(name, ...rest);
    };
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.address, ServerCredentials.createInsecure(), (error, port) => (error ? reject(new ConfigError('GRPC_PORT', `cannot be listened on HOST (${error.message})`)) : resolve(port))),
    );
    for (const listener of listenersOf(server)) {
      listener.maxConnections = this.limits.connectionsMax;
      // Before grpc-js's own listener, which reads the headers into metadata.
      listener.prependListener('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
        keepRefusedMetadata(headers);
        boundTimeout(headers);
        // Innermost, so it counts the status as sent, after answerMalformedAsInvalid rewrote it.
        countCall(stream, headers, { metrics: this.metrics, methods });
        answerMalformedAsInvalid(stream);
      });
      // After grpc-js's listener: a call it has set up ignores a stream closed under it.
      listener.on('stream', (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
        if (refuseLargeHeaders(stream, rawHeaders)) return;
        if (!this.holdCall(stream)) return;
        answerUnreadAfter(stream, this.limits.requestMs);
      });
    }
    return server;
  }

  /** Counts the call in while it is open; over GRPC_MAX_CALLS it is answered `unavailable` (retry after 1 s) and closed instead. */
  private holdCall(stream: ServerHttp2Stream): boolean {
    if (this.callsHeld >= this.limits.callsMax) {
      answerAndClose(stream, new GatewayError('unavailable', 'the gateway holds as many gRPC calls as it may; retry', { retryable: true }, { 'Retry-After': '1' }));
      return false;
    }
    this.callsHeld++;
    stream.once('close', () => this.callsHeld--);
    return true;
  }

  boundPort(): number {
    if (this.port === undefined) throw new Error('the gRPC server is not bound');
    return this.port;
  }
}

/** grpc-js's listening servers (it offers no connection limit, nor another way to them); an upgrade that moves them stops the start. */
function listenersOf(server: Server): NetServer[] {
  const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(listeners instanceof Map) || listeners.size === 0) throw new Error('grpc-js keeps its listening servers elsewhere: GRPC_MAX_CONNECTIONS cannot be applied');
  return [...listeners.keys()] as NetServer[];
}

/** What grpc-js takes as a metadata value; it drops any other, with a log line. */
const METADATA_VALUE = /^[ -~]*$/;
/** An idempotency-key grpc-js would drop, as a value it keeps and the edge refuses (not a key's printable ASCII). */
const REFUSED_KEY = ' ';

/**
 * Metadata grpc-js would drop (a value not printable ASCII) that the edge must still read as HTTP does: an idempotency-key
 * stays as one the edge refuses (validation_failed; dropped, a call whose key is optional, such as OpenWallet, ran without
 * one and its retry ran again), and an x-forwarded-for keeps its entries, each character it refuses as `?` (dropped, a
 * client that put one in its own claim was counted as the proxy, a fresh rate-limit bucket; HTTP reads the proxy's entry).
 */
function keepRefusedMetadata(headers: IncomingHttpHeaders): void {
  const key = headers[IDEMPOTENCY_KEY_METADATA];
  if (key !== undefined && !(typeof key === 'string' && METADATA_VALUE.test(key))) headers[IDEMPOTENCY_KEY_METADATA] = REFUSED_KEY;
  const forwarded = headers[FORWARDED_FOR_METADATA];
  if (typeof forwarded === 'string' && !METADATA_VALUE.test(forwarded)) headers[FORWARDED_FOR_METADATA] = forwarded.replace(/[^ -~]/g, '?');
}

/** grpc-js's reading of `grpc-timeout` (8 digits and a unit), and each unit in ms. */
const GRPC_TIMEOUT = /(\d{1,8})\s*([HMSmun])/;
const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };
/** The longest timeout grpc-js holds: it keeps one in a 32-bit integer of ms (24.8 days). */
const GRPC_TIMEOUT_MS_MAX = 2 ** 31 - 1;

/**
 * A `grpc-timeout` longer than grpc-js holds becomes the longest it does: it wrapped one of 2^31 ms or more (a grpc-js
 * client's 30-day deadline) into the past, and the call failed DEADLINE_EXCEEDED at once, sending no command.
 */
function boundTimeout(headers: IncomingHttpHeaders): void {
  const match = GRPC_TIMEOUT.exec(String(headers['grpc-timeout'] ?? ''));
  if (match !== null && Number(match[1]) * TIMEOUT_UNIT_MS[match[2]] > GRPC_TIMEOUT_MS_MAX) headers['grpc-timeout'] = `${Math.floor(GRPC_TIMEOUT_MS_MAX / 1_000)}S`;
}

/**
 * grpc-js's refusals of a malformed call, by their message (tests hold them to the grpc-js in use), and the field they
 * name: bad input, which grpc-js answers INTERNAL or UNIMPLEMENTED without the error detail (as over HTTP it is 400).
 */
const MALFORMED_CALLS: readonly (readonly [RegExp, FieldProblem])[] = [
  [/^Failed to decompress message/, { field: 'message', reason: 'undecodable' }],
  [/^Error deserializing request/, { field: 'message', reason: 'malformed' }],
  [/^Received no request message/, { field: 'message', reason: 'missing' }],
  [/^Received a second request message/, { field: 'message', reason: 'too_many' }],
  [/^Invalid grpc-timeout value/, { field: 'grpc-timeout', reason: 'invalid_format' }],
];

/** Rewrites a status grpc-js sends for a malformed call (trailers-only or trailers) into INVALID_ARGUMENT validation_failed with its detail. */
function answerMalformedAsInvalid(stream: ServerHttp2Stream): void {
  const asInvalid = (headers: OutgoingHttpHeaders): OutgoingHttpHeaders => {
    if (headers['grpc-status'] === undefined || headers[STATUS_DETAILS_TRAILER] !== undefined) return headers;
    // grpc-js percent-encodes it (encodeURI); only its spaces matter to the patterns, and this cannot throw as decodeURI may.
    const message = String(headers['grpc-message'] ?? '').replaceAll('%20', ' ');
    const problem = MALFORMED_CALLS.find(([pattern]) => pattern.test(message))?.[1];
    return problem === undefined ? headers : { ...headers, ...statusHeadersOf(validationFailed([problem], `the call is malformed (${problem.field}: ${problem.reason})`)) };
  };
  watchSent(stream, asInvalid);
}

/** Passes every header block the stream sends (a response's headers, trailers-only or trailers) through `seen`, which may rewrite it. */
function watchSent(stream: ServerHttp2Stream, seen: (headers: OutgoingHttpHeaders) => OutgoingHttpHeaders): void {
  const respond = stream.respond.bind(stream);
  const sendTrailers = stream.sendTrailers.bind(stream);
  stream.respond = (headers, options) => respond(headers === undefined ? headers : seen(headers), options);
  stream.sendTrailers = (headers) => sendTrailers(seen(headers));
}

/** Answers a call with `exception`'s status (trailers-only, unless an answer began) and closes its stream; grpc-js ignores a stream closed under it. */
function answerAndClose(stream: ServerHttp2Stream, exception: unknown): void {
  if (!stream.headersSent) stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', ...statusHeadersOf(exception) }, { endStream: true });
  stream.close(http2.NGHTTP2_NO_ERROR);
}

/**
 * Refuses a call whose headers (metadata) are larger than HTTP takes (Node's parser: 431 over 16 KiB), counted as HTTP/1
 * lines (`name: value` and CRLF), as HTTP refuses them: validation_failed, field `request`. grpc-js took up to HTTP/2's 64 KiB.
 */
function refuseLargeHeaders(stream: ServerHttp2Stream, rawHeaders: readonly string[]): boolean {
  let bytes = 0;
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) bytes += Buffer.byteLength(rawHeaders[index]) + Buffer.byteLength(rawHeaders[index + 1]) + 4;
  if (bytes <= HTTP_HEADERS_BYTES_MAX) return false;
  answerAndClose(stream, validationFailed([{ field: 'request', reason: 'headers_too_large' }], 'the request could not be read (headers_too_large)'));
  return true;
}

/** The method label of a path no method serves: one label, however many paths clients invent. */
const UNKNOWN_METHOD = 'unknown';

/**
 * Counts the call by the status its client got (`gateway_grpc_calls_total`), when it leaves or, with none, as CANCELLED when
 * its stream closes: grpc-js answers some itself (too large, malformed, an unknown method), which the edge never saw, and
 * a call it ended DEADLINE_EXCEEDED the edge counted by what its handler did.
 */
function countCall(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, calls: { readonly metrics: GatewayMetrics; readonly methods: ReadonlySet<string> }): void {
  const startedAt = performance.now();
  const path = String(headers[':path']);
  const method = calls.methods.has(path) ? path : UNKNOWN_METHOD;
  let counted = false;
  const count = (code: string) => {
    if (counted) return;
    counted = true;
    calls.metrics.observeGrpc(method, code, (performance.now() - startedAt) / 1000);
  };
  watchSent(stream, (sent) => {
    const code = sent['grpc-status'];
    if (code !== undefined) count(GrpcStatus[Number(code)] ?? String(code));
    return sent;
  });
  stream.once('close', () => count(GrpcStatus[GrpcStatus.CANCELLED]));
}

/** An error as the status headers (or trailers) of a gRPC answer. */
function statusHeadersOf(exception: unknown): OutgoingHttpHeaders {
  const { error } = toGrpcError(exception);
  return { 'grpc-status': String(error.code), 'grpc-message': encodeURIComponent(error.details), ...error.metadata.toHttp2Headers() };
}

/**
 * Answers a call whose request (its message and end) has not all arrived within `ms` as HTTP answers 408: validation_failed,
 * field `request`, then resets the stream. grpc-js calls its handler only once the message is in, and never gives up on it.
 */
function answerUnreadAfter(stream: ServerHttp2Stream, ms: number): void {
  const timer = setTimeout(() => {
    if (stream.readableEnded || stream.closed) return;
    answerAndClose(stream, validationFailed([{ field: 'request', reason: 'timeout' }], 'the request could not be read (timeout)'));
  }, ms);
  timer.unref();
  const done = () => clearTimeout(timer);
  stream.once('end', done);
  stream.once('close', done);
}

export interface RunningGrpcEdge {
  readonly port: number;
  close(): Promise<void>;
}

export async function startGrpcEdge(components: GatewayComponents): Promise<RunningGrpcEdge> {
  const { config } = components;
  const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  const address = `${host}:${config.GRPC_PORT}`;
  const server = new GatewayGrpcServer(
    {
      package: GRPC_PACKAGE,
      protoPath: [...GRPC_PROTO_FILES],
      url: address,
      // Calls in flight finish on close (the host's SHUTDOWN_TIMEOUT_MS bounds the wait), as HTTP requests do.
      gracefulShutdown: true,
      loader: { ...PROTO_LOADER_OPTIONS, includeDirs: [protoRoot()] },
      onLoadPackageDefinition: (definition: PackageDefinition, grpcServer: Server) => {
        decodeLeniently(definition);
        // Generic clients (grpcurl, grpcui) list and describe the services without the protos.
        new ReflectionService(definition).addToServer(grpcServer);
      },
    },
    address,
    { messageBytesMax: config.BODY_LIMIT_BYTES, concurrentStreamsMax: config.GRPC_MAX_CONCURRENT_STREAMS, connectionsMax: config.GRPC_MAX_CONNECTIONS, connectionIdleMs: config.GRPC_MAX_CONNECTION_IDLE_MS, requestMs: config.HTTP_REQUEST_TIMEOUT_MS, callsMax: config.GRPC_MAX_CALLS },
    components.metrics,
  );
  // grpc-js has one logger per process; its lines would otherwise go to stderr unredacted.
  setLogger(grpcJsLoggerOf(components.logger));
  const app = await NestFactory.createMicroservice(GatewayGrpcModule.register(components), {
    strategy: server,
    logger: new NestPinoLogger(components.logger),
    abortOnError: false,
  });
  try {
    await app.listen();
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return { port: server.boundPort(), close: () => app.close() };
}
