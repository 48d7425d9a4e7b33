// `verify` on the data dir of a host SIGKILLed under load, before it starts again: a projection
// file may be behind the store (its runner commits rows and checkpoint together, and catches up
// on start), which is a note, never a violation.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@ledger/contracts/testing';
import { FAST_ARGON2_ENV } from '../../identity/src/testing/identity.harness';
import { startChildHost, type ChildHost } from '../../host/src/testing/child-host';
import { requestHost } from '../../host/src/testing/host-request';
import { runCli } from './cli';

/** Kills tried until one leaves the wallet-ledger's projection behind the store. */
const KILLS_MAX = 10;
/** Top-ups sent at once before each kill. */
const BURST = 64;

/** The wallet-ledger projection's checkpoint, and the last position of a ledger stream. */
function lag(dataDir: string): { checkpoint: bigint; ledgerHead: bigint } {
  const projection = new Database(join(dataDir, 'wallet-ledger.sqlite'), { readonly: true });
  const store = new Database(join(dataDir, 'events.sqlite'), { readonly: true });
  try {
    const checkpoint = projection.prepare("SELECT position FROM checkpoints WHERE name = 'wallet-ledger'").safeIntegers(true).get() as { position: bigint } | undefined;
    const head = store.prepare("SELECT MAX(position) AS position FROM events WHERE stream_id LIKE 'ledger-%'").safeIntegers(true).get() as { position: bigint | null };
    return { checkpoint: checkpoint?.position ?? 0n, ledgerHead: head.position ?? 0n };
  } finally {
    projection.close();
    store.close();
  }
}

async function verify(dataDir: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCli(['verify', '--data-dir', dataDir], { out: async (text) => void (out += text), err: () => undefined, env: {} });
  return { code, out };
}

describe('ledger-audit verify on a SIGKILLed host (e2e)', () => {
  let dataDir: string;
  let host: ChildHost | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-audit-killed-'));
  });

  afterEach(async () => {
    await host?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits 0 with a note when a projection is behind the store, and compares it with a rebuild to its own checkpoint', async () => {
    const env = { PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent', DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', RATE_LIMIT_MONEY_PER_USER_BURST: '100000', RATE_LIMIT_MONEY_PER_IP_BURST: '100000', ...FAST_ARGON2_ENV };
    host = await startChildHost(env);
    const email = `killed-${randomUUID()}@example.com`;
    expect((await requestHost(host.url, 'POST', '/v1/users', { body: { email, password: 'correct-horse-battery-staple' } })).status).toBe(201);
    const token = (await requestHost(host.url, 'POST', '/v1/auth/login', { body: { email, password: 'correct-horse-battery-staple' } })).body.accessToken as string;
    const opened = await requestHost(host.url, 'POST', '/v1/wallets', { token, body: { currency: 'USD' }, key: randomUUID() });
    expect(opened.status).toBe(201);
    let behind: { checkpoint: bigint; ledgerHead: bigint } | undefined;
    for (let kill = 1; kill <= KILLS_MAX && behind === undefined; kill++) {
      if (kill > 1) host = await startChildHost(env);
      const url = host.url;
      const burst = Array.from({ length: BURST }, () => requestHost(url, 'POST', `/v1/wallets/${opened.body.id}/top-ups`, { token, body: { amount: '100' }, key: randomUUID() }).catch(() => undefined));
      // Killed the moment the files show the projection behind (it applies what the ledger appended a moment later).
      await waitFor('the projection behind the store', () => {
        const state = lag(dataDir);
        return state.checkpoint < state.ledgerHead;
      }, { timeoutMs: 10_000, intervalMs: 1 }).catch(() => undefined);
      await host.kill();
      await Promise.all(burst);
      const state = lag(dataDir);
      if (state.checkpoint < state.ledgerHead) behind = state;
    }
    host = undefined;
    if (behind === undefined) throw new Error(`no kill of ${KILLS_MAX} left the projection behind the store`);
    const result = await verify(dataDir);
    expect({ code: result.code, violations: result.out.match(/^VIOLATION .*$/gm) }).toEqual({ code: 0, violations: null });
    expect(result.out).toMatch(new RegExp(`note: wallet-ledger.sqlite: projection wallet-ledger at position ${behind.checkpoint}, [0-9]+ of its events behind the store`));
    // The host keeps its bus's dead letters in the data dir; the audit knows the file.
    expect(existsSync(join(dataDir, 'dead-letters.sqlite'))).toBe(true);
    expect(result.out).toContain("note: dead-letters.sqlite: the bus's dead letters (messages no consumer could handle), not events, not compared");
    expect(result.out).not.toContain('unknown file');

    // Started again, the runner catches up: nothing left to note.
    host = await startChildHost(env);
    await waitFor('the host to be ready', async () => (await requestHost(host!.url, 'GET', '/readyz')).status === 200, { timeoutMs: 30_000, intervalMs: 50 });
    await host.close();
    host = undefined;
    const after = await verify(dataDir);
    expect({ code: after.code, violations: after.out.match(/^VIOLATION .*$/gm), behind: after.out.match(/^note: .*behind the store.*$/gm) }).toEqual({ code: 0, violations: null, behind: null });
  }, 120_000);

  it('exits 0 on a running host under load: each projection file is read in one snapshot, rows and checkpoint together', async () => {
    const env = { PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent', DATA_DIR: dataDir, SQLITE_SYNCHRONOUS: 'NORMAL', RATE_LIMIT_MONEY_PER_USER_BURST: '100000', RATE_LIMIT_MONEY_PER_IP_BURST: '100000', ...FAST_ARGON2_ENV };
    host = await startChildHost(env);
    const url = host.url;
    const email = `running-${randomUUID()}@example.com`;
    expect((await requestHost(url, 'POST', '/v1/users', { body: { email, password: 'correct-horse-battery-staple' } })).status).toBe(201);
    const token = (await requestHost(url, 'POST', '/v1/auth/login', { body: { email, password: 'correct-horse-battery-staple' } })).body.accessToken as string;
    const opened = await requestHost(url, 'POST', '/v1/wallets', { token, body: { currency: 'USD' }, key: randomUUID() });
    expect(opened.status).toBe(201);
    let loading = true;
    const worker = async () => {
      while (loading) await requestHost(url, 'POST', `/v1/wallets/${opened.body.id}/top-ups`, { token, body: { amount: '100' }, key: randomUUID() });
    };
    const workers = Array.from({ length: 8 }, worker);
    try {
      await waitFor('some load', () => lag(dataDir).ledgerHead > 20n, { timeoutMs: 20_000 });
      const result = await verify(dataDir);
      expect({ code: result.code, violations: result.out.match(/^VIOLATION .*$/gm) }).toEqual({ code: 0, violations: null });
    } finally {
      loading = false;
      await Promise.all(workers);
    }
  }, 120_000);
});
