// The gRPC port holds at most GRPC_MAX_CONNECTIONS connections, as the HTTP port holds
// HTTP_MAX_CONNECTIONS: grpc-js sets no limit, so any number of sockets (each a file descriptor
// of the one process that also holds the store and the bus) stayed open, silent ones for good.
import { waitFor } from '@ledger/contracts/testing';
import { startGatewaySystem, type GatewaySystem } from '../testing/gateway.harness';
import { connectGrpc } from '../testing/grpc-client';
import { closedWithoutAnswer, openSocket } from '../testing/sockets';

describe('gateway gRPC: connections (e2e)', () => {
  let s: GatewaySystem;

  beforeAll(async () => {
    s = await startGatewaySystem({ env: { GRPC_MAX_CONNECTIONS: '2' } });
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
});
