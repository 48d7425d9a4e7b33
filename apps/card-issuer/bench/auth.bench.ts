// Authorizations through the bus (the card-issuer with the real wallet-ledger and identity,
// SQLite synchronous=FULL in a temp dir): authorizations/s and decision latency p50/p99 at a fixed
// offered load (open loop) and at saturation (closed loop). Prints figures; never fails a build.
// Run: npm run bench:cards (BENCH_AUTH_RATE_PER_S, BENCH_AUTH_MS, BENCH_AUTH_IN_FLIGHT, BENCH_AUTH_CARDS).
import type { AuthorizationView, Reply } from '@ledger/contracts';
import { authorizeMessage, cardholder } from '../src/testing/card-fixtures';
import { startCardHarness } from '../src/testing/card-issuer.harness';

const RATE_PER_S = Number(process.env.BENCH_AUTH_RATE_PER_S ?? 1_000);
const WINDOW_MS = Number(process.env.BENCH_AUTH_MS ?? 5_000);
const IN_FLIGHT = Number(process.env.BENCH_AUTH_IN_FLIGHT ?? 128);
const CARDS = Number(process.env.BENCH_AUTH_CARDS ?? 50);

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const h = await startCardHarness({ env: { CARD_HOLD_TIMEOUT_MS: String(60 * 60 * 1000) } });
  try {
    const holders: Awaited<ReturnType<typeof cardholder>>[] = [];
    for (let i = 0; i < CARDS; i++) holders.push(await cardholder(h, { topUp: '1000000000' }));
    let sequence = 0;
    const one = async (startedMs: number): Promise<number> => {
      const { secrets } = holders[sequence++ % holders.length];
      const reply: Reply<AuthorizationView> = await h.send(authorizeMessage(secrets, { amount: '1' }));
      if (!reply.ok || !reply.value.approved) throw new Error(`authorization failed: ${JSON.stringify(reply.ok ? reply.value.reason : reply.error.code)}`);
      return performance.now() - startedMs;
    };
    for (let i = 0; i < 200; i++) await one(performance.now()); // warm-up

    const open = await openLoop(one);
    const closed = await closedLoop(one);
    const rows = [
      [`open loop, ${RATE_PER_S}/s offered`, open],
      [`closed loop, ${IN_FLIGHT} in flight`, closed],
    ] as const;
    console.log(`card-issuer authorizations through the bus (${CARDS} cards, SQLite FULL)`);
    for (const [label, result] of rows) {
      const sorted = [...result.latenciesMs].sort((a, b) => a - b);
      console.log(
        `${label.padEnd(32)} ${Math.round(result.latenciesMs.length / result.seconds).toString().padStart(6)} authorizations/s   p50 ${percentile(sorted, 50).toFixed(2)} ms   p99 ${percentile(sorted, 99).toFixed(2)} ms`,
      );
    }
  } finally {
    await h.close({ remove: true });
  }

  /** Request i is due at start + i/rate whatever happened to the others; latency counts from when it was due. */
  async function openLoop(one: (startedMs: number) => Promise<number>) {
    const total = Math.round((RATE_PER_S * WINDOW_MS) / 1000);
    const latenciesMs: number[] = [];
    const pending: Promise<void>[] = [];
    const startedMs = performance.now();
    for (let sent = 0; sent < total; ) {
      const due = Math.min(total, Math.floor(((performance.now() - startedMs) * RATE_PER_S) / 1000) + 1);
      for (; sent < due; sent++) pending.push(one(startedMs + (sent * 1000) / RATE_PER_S).then((ms) => void latenciesMs.push(ms)));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(pending);
    return { latenciesMs, seconds: (performance.now() - startedMs) / 1000 };
  }

  /** IN_FLIGHT clients, each sending its next authorization when the last is answered. */
  async function closedLoop(one: (startedMs: number) => Promise<number>) {
    const latenciesMs: number[] = [];
    const startedMs = performance.now();
    const stopMs = startedMs + WINDOW_MS;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() < stopMs) latenciesMs.push(await one(performance.now()));
      }),
    );
    return { latenciesMs, seconds: (performance.now() - startedMs) / 1000 };
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
