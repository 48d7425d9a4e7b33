import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTs, waitFor } from '@ledger/contracts/testing';

describe('main (the npm start process)', () => {
  it('stops at start with exit 78 and a message naming a bad setting', async () => {
    const child = spawnTs(join(__dirname, 'main.ts'), [], { env: { ...process.env, PORT: 'eighty', DATA_DIR: '/nonexistent-never-created' } });
    const exit = await child.exited;
    expect(exit.code).toBe(78);
    expect(child.stderr()).toContain('PORT');
    expect(child.stdout()).not.toContain('listening');
  });

  it.each([
    ['DATA_DIR', (dir: string) => ({ DATA_DIR: join(dir, 'a-file') })],
    ['HOST', (dir: string) => ({ DATA_DIR: dir, HOST: 'no such host' })],
  ])('stops with exit 78 naming %s when only the start can tell it is bad', async (setting, envOf) => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-main-bad-'));
    writeFileSync(join(dir, 'a-file'), 'not a directory');
    try {
      const child = spawnTs(join(__dirname, 'main.ts'), [], { env: { ...process.env, PORT: '0', GRPC_PORT: '0', ...envOf(dir) } });
      const exit = await child.exited;
      expect(child.stderr()).toContain(`Invalid configuration: ${setting}`);
      expect(exit.code).toBe(78);
      expect(child.stdout()).not.toContain('listening');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops with exit 78 naming GRPC_PORT when its port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-main-grpc-'));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const child = spawnTs(join(__dirname, 'main.ts'), [], { env: { ...process.env, PORT: '0', GRPC_PORT: String(port), DATA_DIR: dir } });
      const exit = await child.exited;
      expect(child.stderr()).toContain('Invalid configuration: GRPC_PORT');
      expect(exit.code).toBe(78);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logs JSON from its first line, every service included, and closes on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'host-main-'));
    const child = spawnTs(join(__dirname, 'main.ts'), [], { env: { ...process.env, PORT: '0', GRPC_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info' } });
    try {
      await waitFor('the host to listen', () => child.stdout().includes('listening on'), { timeoutMs: 60_000 });
      child.process.kill('SIGTERM');
      expect((await child.exited).code).toBe(0);
      const lines = child.stdout().split('\n').filter((line) => line.startsWith('{'));
      const records = lines.map((line) => JSON.parse(line) as { service?: string; context?: string; msg?: string });
      expect(records.every((record) => record.service === 'host')).toBe(true);
      // Written by the card-issuer before the gateway (which used to bring the JSON logger) started.
      expect(records).toContainEqual(expect.objectContaining({ context: 'card-issuer', msg: expect.stringContaining('generated development card keys') }));
      // Everything else on stdout is the start-up banner and the shutdown notice.
      const other = child.stdout().split('\n').filter((line) => line !== '' && !line.startsWith('{'));
      expect(other.every((line) => /^(ledger embedded host listening on |  [a-zA-Z ()-]+:|SIGTERM received)/.test(line))).toBe(true);
    } finally {
      if (child.process.exitCode === null) child.process.kill('SIGKILL');
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
