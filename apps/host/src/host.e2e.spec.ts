import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ConfigError, uuidv7 } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { expectedState, SqliteEventStore } from '@ledger/event-store';
import { connectGrpc } from '../../gateway/src/testing/grpc-client';
import { startHost, type RunningHost } from './host';

describe('embedded host', () => {
  let dataDir: string;
  let host: RunningHost | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-host-'));
  });

  afterEach(async () => {
    await host?.close();
    host = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves /healthz and /readyz on the configured port', async () => {
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    const health = await fetch(`${host.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const ready = await fetch(`${host.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { 'event-store': 'ok', bus: 'ok', 'wallet-ledger-projection': 'ok', 'identity-projection': 'ok', 'card-issuer-projection': 'ok', 'wallet-ledger-relay': 'ok', 'identity-relay': 'ok', 'card-issuer-relay': 'ok' } });

    // The gRPC API is served next to HTTP: a call without a token is refused by the gateway itself.
    const grpc = connectGrpc(host.grpcPort);
    try {
      expect((await grpc.call('Wallets', 'ListWallets', {})).error).toMatchObject({ status: status.UNAUTHENTICATED, code: 'unauthenticated' });
    } finally {
      grpc.close();
    }
  });

  it('runs `npm run demo` against it: two users, a top-up, a transfer sent twice and moved once', async () => {
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    const { execFile } = await import('node:child_process');
    const output = await new Promise<string>((resolvePromise, reject) => {
      execFile(process.execPath, [join(__dirname, '../demo/demo.mjs')], { env: { ...process.env, DEMO_URL: host!.url }, timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolvePromise(stdout),
      );
    });
    expect(output).toContain('alice: posted 74.50 USD, available 74.50 USD');
    expect(output).toContain('bob: posted 25.50 USD, available 25.50 USD');
  });

  it('takes the card network\'s key: the embedded default dev-network-key (printed at start-up) unless NETWORK_API_KEY is set', async () => {
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    expect(host.defaultNetworkKey).toBe('dev-network-key');
    // A body the gateway refuses (400) shows the key passed; a wrong key stops at 401.
    const refund = (key: string) =>
      fetch(`${host!.url}/v1/network/refunds`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-network-key': key, 'idempotency-key': 'k1' }, body: '{}' });
    expect((await refund('dev-network-key')).status).toBe(400);
    expect((await refund('another-key')).status).toBe(401);
    await host.close();
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir, NETWORK_API_KEY: 'acquirer-key-0123456789' });
    expect(host.defaultNetworkKey).toBeNull();
    expect((await refund('dev-network-key')).status).toBe(401);
    expect((await refund('acquirer-key-0123456789')).status).toBe(400);
  });

  it('opens its event store inside DATA_DIR', async () => {
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dataDir, 'events.sqlite'))).toBe(true);
  });

  it('says not ready, naming it, once an event relay has stopped for good', async () => {
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'fatal', DATA_DIR: dataDir });
    // An identity event the bus cannot take (over BUS_MAX_MESSAGE_BYTES) stops identity's relay for good,
    // as a minute of failed publishes or checkpoint saves (a full disk) does; its projection skips it.
    const other = new SqliteEventStore({ file: join(dataDir, 'events.sqlite') });
    try {
      const userId = uuidv7.next();
      const event = { eventId: uuidv7.next(), type: 'identity.SessionRevoked.v1', schemaVersion: 1, data: { userId, padding: 'x'.repeat(1_100_000) }, metadata: { correlationId: userId, causationId: userId, actor: 'test', occurredAt: new Date().toISOString() } };
      await other.append(`user-${userId}`, [event], expectedState.noStream);
    } finally {
      await other.close();
    }
    // It said ready: nothing identity recorded reached the other services any more, until a restart.
    const readiness = async () => {
      const reply = await fetch(`${host!.url}/readyz`);
      return { status: reply.status, checks: ((await reply.json()) as { checks: Record<string, string> }).checks };
    };
    await waitFor('/readyz to say the identity relay stopped', async () => (await readiness()).status === 503, { timeoutMs: 10_000 });
    expect(await readiness()).toMatchObject({ status: 503, checks: { 'identity-relay': 'failing', 'wallet-ledger-relay': 'ok', 'identity-projection': 'ok' } });
  });

  it('refuses a second host on the same DATA_DIR (naming it) while the first runs, and starts once it is closed', async () => {
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    // Two hosts on one DATA_DIR ran two writers per ledger shard and two sets of relays sharing one checkpoint row.
    const second = startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    const started = await second.catch((error: unknown) => error);
    if (!(started instanceof Error)) await (started as RunningHost).close();
    expect(started).toBeInstanceOf(ConfigError);
    expect((started as Error).message).toMatch(/DATA_DIR.*in use by another host/);
    await host.close();
    host = await startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
    expect((await fetch(`${host.url}/readyz`)).status).toBe(200);
  });

  it.each([
    ['PORT', 'eighty'],
    ['SQLITE_SYNCHRONOUS', 'OFF'],
    ['BODY_LIMIT_BYTES', '-1'],
  ])('refuses to start with a bad %s and names it', async (name, value) => {
    const attempt = startHost({ PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: dataDir, [name]: value });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(name);
  });
});
