// Hundreds of transfers and withdrawals at once over HTTP (some sent twice with one
// Idempotency-Key), then the books: no money made or lost anywhere (wallets plus every system
// account, read through the admin route), every duplicate ran once, and no wallet overdrawn.
import type { Currency } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { systemAccountIds } from '@ledger/ledger';
import { newKey, SHARDS, startGatewaySystem, type GatewaySystem, type HttpAnswer, type TestUser } from './testing/gateway.harness';

const USERS = 8;
const WALLETS_PER_USER = 2;
const OPENING_BALANCE = 10_000n;
const TRANSFERS = 300;
const WITHDRAWALS = 100;
/** Of each kind, this many are sent twice at once with the same Idempotency-Key. */
const DUPLICATED = 40;

interface Sums {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

/** A small deterministic generator, so a failure replays. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function systemAccounts(currency: Currency): string[] {
  return systemAccountIds(currency, SHARDS);
}

describe('concurrent money movement over HTTP (e2e)', () => {
  let s: GatewaySystem;

  beforeAll(async () => {
    s = await startGatewaySystem();
  });

  afterAll(async () => {
    await s?.close();
  });

  it('conserves money and never overdraws a wallet', async () => {
    const next = random(20260101);
    const users: TestUser[] = [];
    for (let i = 0; i < USERS; i++) users.push(await s.register(`concurrent-${i}`));
    const wallets: { id: string; owner: TestUser }[] = [];
    for (const owner of users) {
      for (let i = 0; i < WALLETS_PER_USER; i++) wallets.push({ id: await s.openWallet(owner, 'USD', OPENING_BALANCE.toString()), owner });
    }
    const pick = () => wallets[Math.floor(next() * wallets.length)];

    interface Operation {
      readonly kind: 'transfer' | 'withdrawal';
      readonly key: string;
      readonly amount: bigint;
      send(): Promise<HttpAnswer>;
    }
    const operations: Operation[] = [];
    for (let i = 0; i < TRANSFERS; i++) {
      const from = pick();
      let to = pick();
      while (to.id === from.id) to = pick();
      const amount = BigInt(1 + Math.floor(next() * 2_000));
      const key = newKey('concurrent-transfer');
      const body = { fromWalletId: from.id, toWalletId: to.id, amount: amount.toString() };
      operations.push({ kind: 'transfer', key, amount, send: () => s.request('POST', '/v1/transfers', { token: from.owner.token, key, body }) });
    }
    for (let i = 0; i < WITHDRAWALS; i++) {
      const from = pick();
      const amount = BigInt(1 + Math.floor(next() * 3_000));
      const key = newKey('concurrent-withdrawal');
      const path = `/v1/wallets/${from.id}/withdrawals`;
      operations.push({ kind: 'withdrawal', key, amount, send: () => s.request('POST', path, { token: from.owner.token, key, body: { amount: amount.toString() } }) });
    }
    const sends: { operation: Operation; answer: Promise<HttpAnswer> }[] = [];
    operations.forEach((operation, index) => {
      sends.push({ operation, answer: operation.send() });
      const duplicated = operation.kind === 'transfer' ? index < DUPLICATED : index - TRANSFERS < DUPLICATED;
      if (duplicated) sends.push({ operation, answer: operation.send() });
    });
    const answers = await Promise.all(sends.map(async ({ operation, answer }) => ({ operation, answer: await answer })));

    // Every answer is a success, a refusal for lack of funds, or a duplicate told to wait: never a 5xx.
    const statuses = new Map<string, number>();
    for (const { answer } of answers) {
      const label = answer.status === 201 ? '201' : `${answer.status} ${answer.body?.error?.code}`;
      statuses.set(label, (statuses.get(label) ?? 0) + 1);
    }
    expect([...statuses.keys()].every((label) => ['201', '422 insufficient_funds', '409 idempotency_key_in_use'].includes(label))).toBe(true);
    expect(statuses.get('201')).toBeGreaterThan(TRANSFERS / 2);

    // A duplicate never ran twice: per key, at most one fresh success, and the replays carry its body.
    const byKey = new Map<string, HttpAnswer[]>();
    for (const { operation, answer } of answers) byKey.set(operation.key, [...(byKey.get(operation.key) ?? []), answer]);
    let withdrawn = 0n;
    for (const operation of operations) {
      const forKey = byKey.get(operation.key)!;
      const fresh = forKey.filter((answer) => answer.status === 201 && answer.headers.get('idempotent-replayed') === null);
      expect(fresh.length).toBeLessThanOrEqual(1);
      for (const answer of forKey.filter((candidate) => candidate.status === 201)) expect(answer.body).toEqual(fresh[0]?.body);
      if (operation.kind === 'withdrawal' && fresh.length === 1) withdrawn += operation.amount;
    }
    // A key answered only with 409 was still run by its twin, or by nobody: the ledger's sums decide below.

    const admin = await s.admin();
    const sumsOf = async (accountId: string): Promise<Sums | undefined> => {
      const answer = await s.request('GET', `/v1/admin/ledger/accounts/${accountId}`, { token: admin.token });
      if (answer.status === 404) return undefined;
      expect(answer.status).toBe(200);
      return {
        debitsPosted: BigInt(answer.body.debitsPosted),
        creditsPosted: BigInt(answer.body.creditsPosted),
        debitsPending: BigInt(answer.body.debitsPending),
        creditsPending: BigInt(answer.body.creditsPending),
      };
    };

    // Cross-shard transfers settle through transit accounts: wait until every leg has landed.
    await waitFor(
      'every cross-shard transfer to land',
      async () => {
        for (let source = 0; source < SHARDS; source++) {
          for (let destination = 0; destination < SHARDS; destination++) {
            if (source === destination) continue;
            const out = await sumsOf(`sys:transit-to-${destination}:USD:${source}`);
            const inward = await sumsOf(`sys:transit-from-${source}:USD:${destination}`);
            const sent = out === undefined ? 0n : out.creditsPosted - out.debitsPosted;
            const received = inward === undefined ? 0n : inward.debitsPosted - inward.creditsPosted;
            expect(received).toBe(sent);
          }
        }
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );

    let walletTotal = 0n;
    let everyAccount = 0n;
    for (const wallet of wallets) {
      const sums = (await sumsOf(wallet.id))!;
      const posted = sums.creditsPosted - sums.debitsPosted;
      expect(posted).toBeGreaterThanOrEqual(0n); // never overdrawn
      expect(posted - sums.debitsPending).toBeGreaterThanOrEqual(0n);
      const view = await s.request('GET', `/v1/wallets/${wallet.id}`, { token: wallet.owner.token });
      expect(view.body.balance).toEqual({ posted: posted.toString(), pending: '0', available: posted.toString() });
      walletTotal += posted;
      everyAccount += sums.creditsPosted - sums.debitsPosted;
    }
    let fundedTotal = 0n;
    let withdrawalsTotal = 0n;
    for (const accountId of systemAccounts('USD')) {
      const sums = await sumsOf(accountId);
      if (sums === undefined) continue;
      expect(sums.debitsPending).toBe(0n);
      expect(sums.creditsPending).toBe(0n);
      everyAccount += sums.creditsPosted - sums.debitsPosted;
      if (accountId.startsWith('sys:funding:')) fundedTotal += sums.debitsPosted - sums.creditsPosted;
      if (accountId.startsWith('sys:withdrawals:')) withdrawalsTotal += sums.creditsPosted - sums.debitsPosted;
    }

    // Double entry: every debit has its credit, across every account of every shard.
    expect(everyAccount).toBe(0n);
    // What came in, less what went out, is what the wallets hold.
    expect(fundedTotal).toBe(OPENING_BALANCE * BigInt(wallets.length));
    expect(withdrawalsTotal).toBe(withdrawn);
    expect(walletTotal).toBe(fundedTotal - withdrawalsTotal);
  }, 120_000);
});
