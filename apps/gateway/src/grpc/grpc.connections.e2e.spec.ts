// The gRPC port holds at most GRPC_MAX_CONNECTIONS connections, as the HTTP port holds
// HTTP_MAX_CONNECTIONS, and closes one idle for GRPC_MAX_CONNECTION_IDLE_MS, as HTTP closes an idle
// keep-alive one: grpc-js sets neither, so any number of sockets (each a file descriptor of the
// one process that also holds the store and the bus) stayed open, silent ones for good.
import type { Socket } from 'node:net';
import { waitFor } from '@ledger/contracts/testing';
import { startGatewaySystem, type GatewaySystem } from '../testing/gateway.harness';
import { connectGrpc } from '../testing/grpc-client';
import { closedWithoutAnswer, openSocket } from '../testing/sockets';

/** GRPC_MAX_CONNECTION_IDLE_MS here (the least allowed). */
const IDLE_MS = 1_000;

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
    s = await startGatewaySystem({ env: { GRPC_MAX_CONNECTIONS: '2', GRPC_MAX_CONNECTION_IDLE_MS: String(IDLE_MS) } });
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
});
