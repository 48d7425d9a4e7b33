// `npm run bench:http`: transfers/s and p50/p99 through the gateway over HTTP, next to the req/s
// of the bare /healthz endpoint measured in the same run against the same process. The host runs
// in a child process (as `npm start` does), so the load generator has its own core.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PORT = Number(process.env.BENCH_PORT ?? 3977);
const BASE = `http://127.0.0.1:${PORT}`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WALLETS = 32;

interface Result {
  readonly name: string;
  readonly completed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
}

async function json(method: string, path: string, options: { token?: string; body?: unknown; key?: string } = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.key) headers['idempotency-key'] = options.key;
  const response = await fetch(`${BASE}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A closed loop: CONCURRENCY workers each send the next request as soon as the last answered. */
async function closedLoop(name: string, request: (i: number) => Promise<boolean>): Promise<Result> {
  const latenciesMs: number[] = [];
  let completed = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        const ok = await request(next++).catch(() => false);
        latenciesMs.push(performance.now() - t0);
        if (ok) completed++;
        else failed++;
      }
    }),
  );
  return { name, completed, failed, seconds: (performance.now() - started) / 1000, latenciesMs };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'http-bench-'));
  // BENCH_HOST_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the host.
  const nodeArgs = (process.env.BENCH_HOST_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const host = spawn(process.execPath, [...nodeArgs, join(__dirname, '../../host/src/main.js')], {
    env: { ...process.env, PORT: String(PORT), DATA_DIR: dataDir, LOG_LEVEL: 'warn', RATE_LIMIT_MONEY_PER_USER_BURST: '1000000', RATE_LIMIT_MONEY_PER_USER_PER_MINUTE: '1000000', RATE_LIMIT_MONEY_PER_IP_BURST: '1000000', RATE_LIMIT_MONEY_PER_IP_PER_MINUTE: '1000000', TOP_UP_MAX_MINOR_UNITS: '1000000000000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await fetch(`${BASE}/readyz`).then((r) => r.status === 200, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error('the host did not become ready within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const email = `bench-${Date.now()}@example.test`;
    const password = 'a long bench password 123';
    await json('POST', '/v1/users', { body: { email, password } });
    const token = (await json('POST', '/v1/auth/login', { body: { email, password } })).body.accessToken as string;
    const wallets: string[] = [];
    for (let i = 0; i < WALLETS; i++) {
      const wallet = await json('POST', '/v1/wallets', { token, body: { currency: 'USD' }, key: `open-${i}` });
      wallets.push(wallet.body.id);
      await json('POST', `/v1/wallets/${wallet.body.id}/top-ups`, { token, body: { amount: '100000000000' }, key: `fund-${i}` });
    }

    const bare = await closedLoop('GET /healthz (bare)', async () => (await fetch(`${BASE}/healthz`).then((r) => r.arrayBuffer().then(() => r.status))) === 200);
    const transfers = await closedLoop('POST /v1/transfers', async (i) => {
      const from = wallets[i % WALLETS];
      const to = wallets[(i * 7 + 1) % WALLETS] === from ? wallets[(i + 1) % WALLETS] : wallets[(i * 7 + 1) % WALLETS];
      const reply = await json('POST', '/v1/transfers', { token, body: { fromWalletId: from, toWalletId: to, amount: '1' }, key: `t-${i}` });
      return reply.status === 201;
    });

    console.log(`gateway HTTP bench: Node ${process.version}, ${CONCURRENCY} connections in a closed loop, ${SECONDS} s each, host in a child process`);
    console.log('route                     req/s     p50 ms   p99 ms   ok        failed');
    for (const result of [bare, transfers]) {
      const sorted = [...result.latenciesMs].sort((a, b) => a - b);
      console.log(
        `${result.name.padEnd(24)}  ${(result.completed / result.seconds).toFixed(0).padStart(7)}  ${percentile(sorted, 50).toFixed(2).padStart(7)}  ${percentile(sorted, 99).toFixed(2).padStart(7)}  ${String(result.completed).padStart(8)}  ${String(result.failed).padStart(6)}`,
      );
    }
    const ratio = transfers.completed / transfers.seconds / (bare.completed / bare.seconds);
    console.log(`transfers at ${(ratio * 100).toFixed(0)}% of the bare endpoint's rate (target: 50% or better): ${ratio >= 0.5 ? 'MET' : 'MISSED'}`);
  } finally {
    host.kill('SIGTERM');
    await new Promise((resolve) => host.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
