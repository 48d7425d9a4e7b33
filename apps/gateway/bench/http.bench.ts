// `npm run bench:http`: transfers/s and p50/p99 through the gateway over HTTP, next to the req/s
// of the bare /healthz endpoint measured in the same run against the same process. The host runs
// in a child process (as `npm start` does), so the load generator has its own core.
import { closedLoop, openFundedWallets, printResults, startHostProcess, TRANSFER_BENCH_ENV, withHostCpu } from './http-load';

const PORT = Number(process.env.BENCH_PORT ?? 3977);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WALLETS = 32;

async function main(): Promise<void> {
  const host = await startHostProcess(PORT, TRANSFER_BENCH_ENV);
  try {
    const { token, pair } = await openFundedWallets(host, WALLETS);

    const load = { concurrency: CONCURRENCY, seconds: SECONDS };
    const bare = await withHostCpu(host, () =>
      closedLoop('GET /healthz (bare)', load, async () => (await fetch(`${host.base}/healthz`).then((r) => r.arrayBuffer().then(() => r.status))) === 200),
    );
    const transfers = await withHostCpu(host, () =>
      closedLoop('POST /v1/transfers', load, async (i) => (await host.json('POST', '/v1/transfers', { token, body: pair(i), key: `t-${i}` })).status === 201),
    );

    console.log(`gateway HTTP bench: Node ${process.version}, ${CONCURRENCY} connections in a closed loop, ${SECONDS} s each, host in a child process`);
    printResults([bare, transfers]);
    const ratio = transfers.completed / transfers.seconds / (bare.completed / bare.seconds);
    console.log(`transfers at ${(ratio * 100).toFixed(0)}% of the bare endpoint's rate (target: 50% or better): ${ratio >= 0.5 ? 'MET' : 'MISSED'}`);
    if (bare.hostCpuMs !== undefined && transfers.hostCpuMs !== undefined) {
      // On a CPU-bound host the rates follow the CPU per request: 50% needs a transfer within twice a bare request's.
      const cost = transfers.hostCpuMs / transfers.completed / (bare.hostCpuMs / bare.completed);
      console.log(`a transfer costs the host ${cost.toFixed(1)}x the CPU of a bare request (50% of the rate needs 2.0x or less)`);
    }
  } finally {
    await host.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
