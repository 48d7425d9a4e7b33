import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ledger/contracts';
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
    host = await startHost({ PORT: '0', DATA_DIR: dataDir });
    const health = await fetch(`${host.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const ready = await fetch(`${host.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { 'event-store': 'ok', bus: 'ok', 'wallet-ledger-projection': 'ok', 'identity-projection': 'ok' } });
  });

  it('opens its event store inside DATA_DIR', async () => {
    host = await startHost({ PORT: '0', DATA_DIR: dataDir });
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dataDir, 'events.sqlite'))).toBe(true);
  });

  it.each([
    ['PORT', 'eighty'],
    ['SQLITE_SYNCHRONOUS', 'OFF'],
    ['BODY_LIMIT_BYTES', '-1'],
  ])('refuses to start with a bad %s and names it', async (name, value) => {
    const attempt = startHost({ PORT: '0', DATA_DIR: dataDir, [name]: value });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(name);
  });
});
