import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { SqliteEventStore } from '@ledger/event-store';
import { InProcessBus } from '@ledger/messaging';
import { startGatewayThread, type GatewayThreadOptions, type RunningGatewayThread } from './gateway-thread';

describe('the gateway on its own thread', () => {
  let dataDir: string;
  let store: SqliteEventStore;
  let bus: InProcessBus;
  let gateway: RunningGatewayThread | undefined;
  let caughtUp: boolean;
  let failures: Error[];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-gateway-thread-'));
    store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite') });
    bus = new InProcessBus({ defaultPartitions: 4, maxQueueDepth: 1_000, maxAttempts: 3, retryBackoffMs: 1, logger: { warn: () => undefined, error: () => undefined } });
    caughtUp = false;
    failures = [];
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await bus.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const options = (env: Record<string, string> = {}): GatewayThreadOptions => ({
    env: { PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'error', ...env },
    dataDir,
    store,
    bus,
    readinessChecks: [
      { name: 'event-store', ready: async () => (await store.headPosition()) >= 0n },
      { name: 'projection', ready: async () => caughtUp },
    ],
    onFailure: (error) => failures.push(error),
  });

  it("serves HTTP from its thread and answers /readyz with the main thread's checks", async () => {
    gateway = await startGatewayThread(options());
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const notYet = await fetch(`${gateway.url}/readyz`);
    expect(notYet.status).toBe(503);
    expect(await notYet.json()).toMatchObject({ checks: { 'event-store': 'ok', projection: 'failing' } });
    caughtUp = true;
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
  });

  it("keeps its Idempotency-Key records in the main thread's store and asks the main thread's bus", async () => {
    gateway = await startGatewayThread(options({ BUS_REQUEST_TIMEOUT_MS: '200' }));
    const headBefore = await store.headPosition();
    // Nobody serves identity.commands here: the sign-up reaches the bus, times out and is answered 503 from the gateway's thread.
    const signUp = await fetch(`${gateway.url}/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'thread-key-1' },
      body: JSON.stringify({ email: 'thread@example.test', password: 'a long thread password 1' }),
    });
    expect(signUp.status).toBe(503);
    expect(await bus.partitionCount('identity.commands')).toBeGreaterThan(0);
    // The key's reservation was appended through the bridge (and released again): the store moved.
    expect(await store.headPosition()).toBeGreaterThan(headBefore);
  });

  it('stops the host naming the setting when its port is taken, and leaves the store and bus open', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as { port: number }).port;
      const failure = await startGatewayThread(options({ PORT: String(port) })).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConfigError);
      expect((failure as ConfigError).setting).toBe('PORT');
    } finally {
      taken.close();
    }
    expect(bus.isOpen()).toBe(true);
    await expect(store.headPosition()).resolves.toBeGreaterThanOrEqual(0n);
  });

  it('tells the host when its thread ends on its own, and not when it is closed', async () => {
    gateway = await startGatewayThread(options());
    await gateway.terminate();
    await waitFor('the failure to be reported', () => failures.length === 1);
    expect(failures[0].message).toMatch(/gateway thread exited/);

    const second = await startGatewayThread(options());
    const url = second.url;
    await second.close();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    expect(failures).toHaveLength(1);
    expect(bus.isOpen()).toBe(true);
    await expect(store.headPosition()).resolves.toBeGreaterThanOrEqual(0n);
  });
});
