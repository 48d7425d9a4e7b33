// The HTTP benchmarks' load generator, shared by bench:http and bench:auth: the embedded host in a
// child process (as `npm start` runs it, so the generator has its own core), JSON requests, an
// open loop at a fixed offered rate and a closed loop at saturation, percentiles and one table.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly name: string;
  readonly completed: number;
  readonly failed: number;
  /** Open loop only: requests due while `inFlightMax` were outstanding, counted as failed and never sent. */
  readonly shed?: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
  /** CPU time the host process spent during the run (all its threads), when the OS tells it. */
  readonly hostCpuMs?: number;
  /** CPU time of the host's busiest threads as shares of the run's wall time, busiest first (the main thread, the gateway's, the store writer's...). */
  readonly hostThreadsBusy?: readonly number[];
}

export interface HostProcess {
  readonly base: string;
  json(method: string, path: string, options?: JsonRequest): Promise<{ status: number; body: any }>;
  /** CPU time (user + system, all threads) the host process has used so far; undefined where /proc is missing. */
  cpuMs(): number | undefined;
  /** CPU time each thread of the host has used so far, by thread id; undefined where /proc is missing. */
  threadCpuMs(): ReadonlyMap<string, number> | undefined;
  close(): Promise<void>;
}

/** Linux's fixed USER_HZ: /proc reports CPU times in 1/100 s. */
const PROC_TICKS_PER_S = 100;

/** Threads of the host shown in the table, busiest first. */
const THREADS_SHOWN = 3;

/** utime + stime from a /proc `stat` file (a process's or one thread's), in ms; undefined when it cannot be read. */
function statCpuMs(statFile: string): number | undefined {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(statFile, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / PROC_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

function threadsCpuMs(pid: number | undefined): Map<string, number> | undefined {
  if (pid === undefined) return undefined;
  try {
    const threads = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) threads.set(tid, statCpuMs(`/proc/${pid}/task/${tid}/stat`) ?? 0);
    return threads;
  } catch {
    return undefined;
  }
}

/** Runs `load` and adds the host's CPU time, and its busiest threads' shares, over it to its result. */
export async function withHostCpu(host: HostProcess, load: () => Promise<LoadResult>): Promise<LoadResult> {
  const threadsBefore = host.threadCpuMs();
  const before = host.cpuMs();
  const result = await load();
  const after = host.cpuMs();
  const threadsAfter = host.threadCpuMs();
  const busy =
    threadsBefore === undefined || threadsAfter === undefined
      ? undefined
      : [...threadsAfter]
          .map(([tid, ms]) => (ms - (threadsBefore.get(tid) ?? 0)) / (result.seconds * 1000))
          .sort((a, b) => b - a)
          .slice(0, THREADS_SHOWN);
  return {
    ...result,
    ...(before === undefined || after === undefined ? {} : { hostCpuMs: after - before }),
    ...(busy === undefined ? {} : { hostThreadsBusy: busy }),
  };
}

export interface JsonRequest {
  readonly token?: string;
  readonly body?: unknown;
  readonly key?: string;
  readonly headers?: Record<string, string>;
}

const READY_TIMEOUT_MS = 60_000;

/** Starts `npm start`'s host on `port` with a fresh DATA_DIR and `env` on top; resolves once /readyz answers 200. */
export async function startHostProcess(port: number, env: Record<string, string>): Promise<HostProcess> {
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'http-bench-'));
  // BENCH_HOST_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the host.
  const nodeArgs = (process.env.BENCH_HOST_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const host = spawn(process.execPath, [...nodeArgs, join(__dirname, '../../host/src/main.js')], {
    // GRPC_PORT 0: a bench never collides with a host already serving gRPC on 50051.
    env: { ...process.env, PORT: String(port), GRPC_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => host.once('exit', resolve));
  const close = async () => {
    host.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline || host.exitCode !== null) {
      const exited = host.exitCode !== null;
      await close();
      throw new Error(exited ? 'the host exited before it was ready (see its output above)' : `the host did not become ready within ${READY_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    base,
    async json(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.key) headers['idempotency-key'] = options.key;
      const response = await fetch(`${base}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    cpuMs: () => (host.pid === undefined ? undefined : statCpuMs(`/proc/${host.pid}/stat`)),
    threadCpuMs: () => threadsCpuMs(host.pid),
    close,
  };
}

/** A transfer bench's host settings: money and write (wallet opening) rate limits out of the way, top-ups big enough to fund the run. */
export const TRANSFER_BENCH_ENV: Readonly<Record<string, string>> = {
  RATE_LIMIT_MONEY_PER_USER_BURST: '1000000',
  RATE_LIMIT_MONEY_PER_USER_PER_MINUTE: '1000000',
  RATE_LIMIT_MONEY_PER_IP_BURST: '1000000',
  RATE_LIMIT_MONEY_PER_IP_PER_MINUTE: '1000000',
  RATE_LIMIT_WRITE_PER_USER_BURST: '1000000',
  RATE_LIMIT_WRITE_PER_IP_BURST: '1000000',
  TOP_UP_MAX_MINOR_UNITS: '1000000000000',
};

export interface FundedWallets {
  readonly token: string;
  /** The i-th transfer's body: one minor unit between two distinct wallets, spread over all of them. */
  pair(i: number): { fromWalletId: string; toWalletId: string; amount: string };
}

/** Signs a fresh user up and opens `count` funded USD wallets for transfer benches to move money between. */
export async function openFundedWallets(host: HostProcess, count: number): Promise<FundedWallets> {
  const email = `bench-${Date.now()}@example.test`;
  const password = 'a long bench password 123';
  await host.json('POST', '/v1/users', { body: { email, password } });
  const token = (await host.json('POST', '/v1/auth/login', { body: { email, password } })).body.accessToken as string;
  const wallets: string[] = [];
  for (let i = 0; i < count; i++) {
    const wallet = await host.json('POST', '/v1/wallets', { token, body: { currency: 'USD' }, key: `open-${i}` });
    wallets.push(wallet.body.id);
    await host.json('POST', `/v1/wallets/${wallet.body.id}/top-ups`, { token, body: { amount: '100000000000' }, key: `fund-${i}` });
  }
  const pair = (i: number) => {
    const from = wallets[i % count];
    const to = wallets[(i * 7 + 1) % count] === from ? wallets[(i + 1) % count] : wallets[(i * 7 + 1) % count];
    return { fromWalletId: from, toWalletId: to, amount: '1' };
  };
  return { token, pair };
}

/** A closed loop: `concurrency` workers each send the next request as soon as the last answered. */
export async function closedLoop(name: string, options: { concurrency: number; seconds: number }, request: (i: number) => Promise<boolean>): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let completed = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const until = started + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
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

/**
 * An open loop: request i is due at start + i/rate whatever happened to the others, and its
 * latency counts from when it was due (so a stall shows in the percentiles, not as a lower rate).
 * Beyond `inFlightMax` outstanding requests a due request is shed (failed, not sent), so an
 * overloaded server ends the run on time instead of a backlog of sockets.
 */
export async function openLoop(
  name: string,
  options: { ratePerS: number; seconds: number; inFlightMax?: number },
  request: (i: number) => Promise<boolean>,
): Promise<LoadResult> {
  const total = Math.round(options.ratePerS * options.seconds);
  const inFlightMax = options.inFlightMax ?? 1_024;
  const latenciesMs: number[] = [];
  const pending: Promise<void>[] = [];
  let completed = 0;
  let failed = 0;
  let shed = 0;
  let inFlight = 0;
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * options.ratePerS) / 1000) + 1);
    for (; sent < due; sent++) {
      const dueMs = started + (sent * 1000) / options.ratePerS;
      if (inFlight >= inFlightMax) {
        shed++;
        failed++;
        continue;
      }
      inFlight++;
      pending.push(
        request(sent)
          .catch(() => false)
          .then((ok) => {
            inFlight--;
            latenciesMs.push(performance.now() - dueMs);
            if (ok) completed++;
            else failed++;
          }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  return { name, completed, failed, shed, seconds: (performance.now() - started) / 1000, latenciesMs };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export interface LoadSummary {
  readonly ratePerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export function summarize(result: LoadResult): LoadSummary {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  return { ratePerS: result.completed / result.seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/**
 * One table: a row per result, req/s of the successful ones, p50/p99 over all, and the host's CPU
 * time per request answered (all its threads; the figure that decides throughput on a busy host),
 * and how busy its busiest threads were (one near 100%: requests queue for it).
 */
export function printResults(results: readonly LoadResult[]): void {
  const width = Math.max(24, ...results.map((result) => result.name.length));
  console.log(`${'route'.padEnd(width)}  req/s     p50 ms   p99 ms   ok        failed  host CPU ms/req  busiest threads`);
  for (const result of results) {
    const { ratePerS, p50Ms, p99Ms } = summarize(result);
    const shed = result.shed ? ` (${result.shed} shed, not sent)` : '';
    const answered = result.completed + result.failed - (result.shed ?? 0);
    const cpu = result.hostCpuMs === undefined || answered === 0 ? '-' : (result.hostCpuMs / answered).toFixed(3);
    const busy = result.hostThreadsBusy === undefined ? '-' : result.hostThreadsBusy.map((share) => `${(100 * share).toFixed(0)}%`).join(' ');
    console.log(
      `${result.name.padEnd(width)}  ${ratePerS.toFixed(0).padStart(7)}  ${p50Ms.toFixed(2).padStart(7)}  ${p99Ms.toFixed(2).padStart(7)}  ${String(result.completed).padStart(8)}  ${String(result.failed).padStart(6)}  ${cpu.padStart(15)}  ${busy.padStart(15)}${shed}`,
    );
  }
}
