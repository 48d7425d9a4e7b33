// `npm run bench:auth`: card authorizations over HTTP through the real host (gateway ->
// card-issuer -> wallet-ledger hold), as the card network sends them: authorizations/s and p50/p99
// decision latency at a fixed offered load (open loop, default 1,000/s), at a light one (100/s) and at
// saturation (closed loop), printed in one run. Target: p99 at most 10 ms at 1,000/s. Prints figures; never fails a build.
import { closedLoop, openLoop, printResults, startHostProcess, summarize, withHostCpu, type HostProcess } from './http-load';

const PORT = Number(process.env.BENCH_PORT ?? 3978);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE_PER_S = Number(process.env.BENCH_RATE ?? 1_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** A light load beside the target's: what a decision costs with next to no queueing (its durable commits, mostly). */
const LIGHT_RATE_PER_S = Number(process.env.BENCH_LIGHT_RATE ?? 100);
const P99_TARGET_MS = 10;
/** Cards authorized round robin: many (each over its own wallet), so the run is not 32 hot cards' locks. */
const CARDS = Number(process.env.BENCH_CARDS ?? 1_000);
const CARDS_PER_USER = Number(process.env.BENCH_CARDS_PER_USER ?? 20);
/** Set-up requests (open, fund, issue, reveal) in flight at once. */
const SETUP_CONCURRENCY = Number(process.env.BENCH_SETUP_CONCURRENCY ?? 8);
const NETWORK_KEY = 'bench-network-key-0123456789';
const MERCHANT = { name: 'Bench Coffee', mcc: '5814', country: 'US' };
const UNLIMITED = '10000000';

interface Card {
  readonly pan: string;
  readonly cvv: string;
  readonly expMonth: number;
  readonly expYear: number;
}

/** CARDS funded wallets with a card each, CARDS_PER_USER per user, and the cards' details (revealed as the owner would). */
async function cardsOf(host: HostProcess): Promise<Card[]> {
  const password = 'a long bench password 123';
  const users = Math.ceil(CARDS / CARDS_PER_USER);
  const tokens: string[] = [];
  for (let u = 0; u < users; u++) {
    const email = `auth-bench-${Date.now()}-${u}@example.test`;
    const user = await host.json('POST', '/v1/users', { body: { email, password } });
    if (user.status !== 201) throw new Error(`sign up: ${user.status} ${JSON.stringify(user.body)}`);
    const login = await host.json('POST', '/v1/auth/login', { body: { email, password } });
    if (login.status !== 200) throw new Error(`log in: ${login.status} ${JSON.stringify(login.body)}`);
    tokens.push(login.body.accessToken as string);
  }
  const cards: Card[] = new Array(CARDS);
  let next = 0;
  const issueOne = async (i: number) => {
    const token = tokens[Math.floor(i / CARDS_PER_USER)];
    const wallet = await host.json('POST', '/v1/wallets', { token, body: { currency: 'USD' }, key: `open-${i}` });
    await host.json('POST', `/v1/wallets/${wallet.body.id}/top-ups`, { token, body: { amount: '100000000000' }, key: `fund-${i}` });
    const card = await host.json('POST', '/v1/cards', { token, body: { walletId: wallet.body.id }, key: `card-${i}` });
    if (card.status !== 201) throw new Error(`issue card: ${card.status} ${JSON.stringify(card.body)}`);
    const revealed = await host.json('POST', `/v1/cards/${card.body.id}/reveal`, { token, body: { password } });
    if (revealed.status !== 200) throw new Error(`reveal: ${revealed.status} ${JSON.stringify(revealed.body)}`);
    cards[i] = revealed.body as Card;
  };
  await Promise.all(
    Array.from({ length: SETUP_CONCURRENCY }, async () => {
      for (let i = next++; i < CARDS; i = next++) await issueOne(i);
    }),
  );
  return cards;
}

/** The gateway's own histogram of a bus request type: sum / count, over the whole run. */
async function meanBusMs(host: HostProcess, type: string): Promise<string> {
  const text = await (await fetch(`${host.base}/metrics`)).text();
  const value = (suffix: string) => Number(new RegExp(`gateway_bus_request_duration_seconds_${suffix}\\{[^}]*type="${type}"[^}]*\\} ([0-9.e+-]+)`).exec(text)?.[1] ?? NaN);
  return ((value('sum') / value('count')) * 1000).toFixed(2);
}

async function main(): Promise<void> {
  const host = await startHostProcess(PORT, {
    NETWORK_API_KEY: NETWORK_KEY,
    RATE_LIMIT_NETWORK_PER_IP_BURST: UNLIMITED,
    RATE_LIMIT_NETWORK_PER_IP_PER_MINUTE: UNLIMITED,
    RATE_LIMIT_REVEAL_PER_USER_BURST: String(CARDS_PER_USER),
    RATE_LIMIT_REVEAL_PER_IP_BURST: String(CARDS),
    RATE_LIMIT_MONEY_PER_USER_BURST: String(CARDS_PER_USER * 2),
    RATE_LIMIT_MONEY_PER_IP_BURST: String(CARDS * 2),
    RATE_LIMIT_WRITE_PER_USER_BURST: String(CARDS_PER_USER * 2), // a wallet and a card each
    RATE_LIMIT_WRITE_PER_IP_BURST: String(CARDS * 2),
    RATE_LIMIT_LOGIN_PER_IP_BURST: String(Math.ceil(CARDS / CARDS_PER_USER) * 2), // sign-ups count here too
    TOP_UP_MAX_MINOR_UNITS: '1000000000000',
  });
  try {
    const cards = await cardsOf(host);
    let declined = 0;
    const authorize = (run: string) => async (i: number) => {
      const card = cards[i % CARDS];
      const reply = await host.json('POST', '/v1/network/authorizations', {
        key: `${run}-${i}`,
        headers: { 'x-network-key': NETWORK_KEY },
        body: { ...card, amount: '1', currency: 'USD', merchant: MERCHANT },
      });
      if (reply.status === 200 && reply.body.approved !== true) declined++;
      return reply.status === 200 && reply.body.approved === true;
    };
    await closedLoop('warm-up', { concurrency: 8, seconds: 2 }, authorize('warm-up'));
    declined = 0;
    const light = await withHostCpu(host, () => openLoop(`authorizations at ${LIGHT_RATE_PER_S}/s offered`, { ratePerS: LIGHT_RATE_PER_S, seconds: SECONDS }, authorize('light')));
    const offered = await withHostCpu(host, () => openLoop(`authorizations at ${RATE_PER_S}/s offered`, { ratePerS: RATE_PER_S, seconds: SECONDS }, authorize('open')));
    const saturated = await withHostCpu(host, () => closedLoop(`authorizations, ${CONCURRENCY} in flight`, { concurrency: CONCURRENCY, seconds: SECONDS }, authorize('closed')));

    console.log(`card authorization bench: Node ${process.version}, POST /v1/network/authorizations over HTTP, ${SECONDS} s each, host in a child process, ${CARDS} cards on ${CARDS} wallets of ${Math.ceil(CARDS / CARDS_PER_USER)} users, round robin`);
    console.log('(ok = approved with a hold on the wallet; latency from when a request was due, for the open loop)');
    printResults([light, offered, saturated]);
    if (declined > 0) console.log(`declined (not counted as ok): ${declined}`);
    console.log(`mean time on the bus per Authorize (card-issuer and its ledger hold, from the gateway's /metrics): ${await meanBusMs(host, 'Authorize')} ms`);
    const { p99Ms } = summarize(offered);
    const met = p99Ms <= P99_TARGET_MS && offered.failed === 0;
    console.log(`p99 at ${RATE_PER_S}/s offered: ${p99Ms.toFixed(2)} ms, ${offered.failed} failed (target: ${P99_TARGET_MS} ms or less, none failed): ${met ? 'MET' : 'MISSED'}`);
  } finally {
    await host.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
