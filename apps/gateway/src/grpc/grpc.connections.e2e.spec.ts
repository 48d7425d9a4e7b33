// The gRPC port holds at most GRPC_MAX_CONNECTIONS connections, as the HTTP port holds
// HTTP_MAX_CONNECTIONS, and closes one idle for GRPC_MAX_CONNECTION_IDLE_MS, as HTTP closes an idle
// keep-alive one: grpc-js sets neither, so any number of sockets (each a file descriptor of the
// one process that also holds the store and the bus) stayed open, silent ones for good.
import { connect, type ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { waitFor } from '@ledger/contracts/testing';
import { startGatewaySystem, type GatewaySystem } from '../testing/gateway.harness';
import { connectGrpc } from '../testing/grpc-client';
import { decodeStatus, STATUS_DETAILS_TRAILER } from '../transport/grpc-errors';
import { closedWithoutAnswer, openSocket } from '../testing/sockets';

/** GRPC_MAX_CONNECTION_IDLE_MS here (the least allowed). */
const IDLE_MS = 1_000;
/** HTTP_REQUEST_TIMEOUT_MS here (the least allowed): the time a call has to send its request message. */
const REQUEST_MS = 1_000;
/** GRPC_MAX_CALLS here: calls held at once over all connections. */
const CALLS_MAX = 3;

/** Resolves once the server has closed the socket (what it sent before, its SETTINGS, is read and dropped). */
function closed(socket: Socket): Promise<void> {
  socket.resume();
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => undefined);
  });
}

describe('gateway gRPC: connections (e2e)', () => {
  let s: GatewaySystem;

  beforeAll(async () => {
    s = await startGatewaySystem({ env: { GRPC_MAX_CONNECTIONS: '2', GRPC_MAX_CONNECTION_IDLE_MS: String(IDLE_MS), HTTP_HEADERS_TIMEOUT_MS: String(REQUEST_MS), HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS), GRPC_MAX_CALLS: String(CALLS_MAX) } });
  });

  afterAll(async () => {
    await s?.close();
  });

  it('holds at most GRPC_MAX_CONNECTIONS connections: one more is closed at accept, and a freed place serves again', async () => {
    const port = s.gateway().grpcPort;
    const held = await Promise.all([openSocket(port), openSocket(port)]);
    try {
      expect(await closedWithoutAnswer(await openSocket(port))).toBe(true);
    } finally {
      for (const socket of held) socket.destroy();
    }
    const g = connectGrpc(port);
    try {
      await waitFor('a freed place to serve', async () => expect((await g.call('Identity', 'GetMe', {})).error?.code).toBe('unauthenticated'));
    } finally {
      g.close();
    }
  });

  it('closes a connection idle (no call open) for GRPC_MAX_CONNECTION_IDLE_MS, silent ones included, so none holds its place for good', async () => {
    const silent = await openSocket(s.gateway().grpcPort);
    const startedAt = Date.now();
    // Without the setting the socket stays open: the bound, far above IDLE_MS, fails the test.
    const bound = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 10 * IDLE_MS).unref());
    try {
      expect(await Promise.race([closed(silent).then(() => 'closed'), bound])).toBe('closed');
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(IDLE_MS - 100);
    } finally {
      silent.destroy();
    }
  });

  it('answers a call that does not send its whole request message within HTTP_REQUEST_TIMEOUT_MS, as HTTP answers 408, so the connection can go idle and close', async () => {
    const session = connect(`http://127.0.0.1:${s.gateway().grpcPort}`);
    session.on('error', () => undefined);
    try {
      const sessionClosed = new Promise<'closed'>((resolve) => session.once('close', () => resolve('closed')));
      const stream = session.request({ ':method': 'POST', ':path': '/ledger.v1.Identity/GetMe', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      const answered = new Promise<Record<string, unknown>>((resolve) => {
        const headers: Record<string, unknown> = {};
        stream.on('response', (received) => resolve(Object.assign(headers, received))); // a trailers-only answer
        stream.on('trailers', (received) => resolve(Object.assign(headers, received)));
      });
      stream.write(Buffer.from([0, 0, 0, 0, 10])); // announces a 10-byte message, then sends nothing
      // Without the bound the call stays open (and its connection never idle): the bound, far above REQUEST_MS, fails the test.
      const bound = (ms: number) => new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref());
      const answer = await Promise.race([answered, bound(10 * REQUEST_MS)]);
      expect(answer).toMatchObject({ 'grpc-status': '3' });
      const detail = decodeStatus(Buffer.from(String((answer as Record<string, unknown>)[STATUS_DETAILS_TRAILER]), 'base64')).details[0];
      expect(detail).toMatchObject({ code: 'validation_failed', details: { fields: [{ field: 'request', reason: 'timeout' }] } });
      expect(await Promise.race([sessionClosed, bound(10 * IDLE_MS)])).toBe('closed');
    } finally {
      session.destroy();
    }
  });

  it('holds at most GRPC_MAX_CALLS calls over all its connections: one more is answered UNAVAILABLE at once, and a freed place serves again', async () => {
    const sessions = [0, 1].map(() => connect(`http://127.0.0.1:${s.gateway().grpcPort}`).on('error', () => undefined));
    /** A call that announces a message and sends none, so the gateway holds it (each holds up to BODY_LIMIT_BYTES of its message). */
    const silentCall = (session: ClientHttp2Session) => {
      const stream = session.request({ ':method': 'POST', ':path': '/ledger.v1.Identity/GetMe', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      stream.write(Buffer.from([0, 0, 0, 0, 10]));
      const answered = new Promise<Record<string, unknown>>((resolve) => {
        stream.on('response', (headers) => headers['grpc-status'] !== undefined && resolve(headers)); // trailers-only
        stream.on('trailers', (trailers) => resolve(trailers));
      });
      return { stream, answered };
    };
    try {
      // Two connections, each far under GRPC_MAX_CONCURRENT_STREAMS: only the bound over all of them refuses.
      const held = [silentCall(sessions[0]), silentCall(sessions[1]), silentCall(sessions[0])];
      const refused = silentCall(sessions[1]);
      // Without the bound it is held like the others (until REQUEST_MS): the bound, under REQUEST_MS, fails the test.
      const bound = new Promise<'held'>((resolve) => setTimeout(() => resolve('held'), REQUEST_MS / 2).unref());
      const answer = await Promise.race([refused.answered, bound]);
      expect(answer).toMatchObject({ 'grpc-status': '14', 'retry-after': '1' });
      const detail = decodeStatus(Buffer.from(String((answer as Record<string, unknown>)[STATUS_DETAILS_TRAILER]), 'base64')).details[0];
      expect(detail).toMatchObject({ code: 'unavailable' });
      for (const { stream } of held) stream.close();
      await waitFor('a freed place to serve', async () => {
        const { stream, answered } = silentCall(sessions[1]);
        stream.end(Buffer.alloc(10)); // the message it announced: GetMe without a token
        expect(await answered).toMatchObject({ 'grpc-status': '16' });
      });
    } finally {
      for (const session of sessions) session.destroy();
    }
  });
});
