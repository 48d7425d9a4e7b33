// `npm run bench:http`: transfers/s and p50/p99 through the gateway over HTTP, next to the req/s
// of the bare /healthz endpoint measured in the same run against the same process. The host runs
// in a child process (as `npm start` does), so the load generator has its own core.
import { closedLoop, printResults, startHostProcess } from './http-load';

const PORT = Number(process.env.BENCH_PORT ?? 3977);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WALLETS = 32;

async function main(): Promise<void> {
  const host = await startHostProcess(PORT, {
    RATE_LIMIT_MONEY_PER_USER_BURST: '1000000',
    RATE_LIMIT_MONEY_PER_USER_PER_MINUTE: '1000000',
    RATE_LIMIT_MONEY_PER_IP_BURST: '1000000',
    RATE_LIMIT_MONEY_PER_IP_PER_MINUTE: '1000000',
    TOP_UP_MAX_MINOR_UNITS: '1000000000000',
  });
  try {
    const email = `bench-${Date.now()}@example.test`;
    const password = 'a long bench password 123';
    await host.json('POST', '/v1/users', { body: { email, password } });
    const token = (await host.json('POST', '/v1/auth/login', { body: { email, password } })).body.accessToken as string;
    const wallets: string[] = [];
    for (let i = 0; i < WALLETS; i++) {
      const wallet = await host.json('POST', '/v1/wallets', { token, body: { currency: 'USD' }, key: `open-${i}` });
      wallets.push(wallet.body.id);
      await host.json('POST', `/v1/wallets/${wallet.body.id}/top-ups`, { token, body: { amount: '100000000000' }, key: `fund-${i}` });
    }

    const load = { concurrency: CONCURRENCY, seconds: SECONDS };
    const bare = await closedLoop('GET /healthz (bare)', load, async () => (await fetch(`${host.base}/healthz`).then((r) => r.arrayBuffer().then(() => r.status))) === 200);
    const transfers = await closedLoop('POST /v1/transfers', load, async (i) => {
      const from = wallets[i % WALLETS];
      const to = wallets[(i * 7 + 1) % WALLETS] === from ? wallets[(i + 1) % WALLETS] : wallets[(i * 7 + 1) % WALLETS];
      const reply = await host.json('POST', '/v1/transfers', { token, body: { fromWalletId: from, toWalletId: to, amount: '1' }, key: `t-${i}` });
      return reply.status === 201;
    });

    console.log(`gateway HTTP bench: Node ${process.version}, ${CONCURRENCY} connections in a closed loop, ${SECONDS} s each, host in a child process`);
    printResults([bare, transfers]);
    const ratio = transfers.completed / transfers.seconds / (bare.completed / bare.seconds);
    console.log(`transfers at ${(ratio * 100).toFixed(0)}% of the bare endpoint's rate (target: 50% or better): ${ratio >= 0.5 ? 'MET' : 'MISSED'}`);
  } finally {
    await host.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
