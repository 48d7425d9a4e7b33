// Crash safety of the whole host: the real host runs as a child process on a temp DATA_DIR under a
// mixed load over HTTP (top-ups, withdrawals, same- and cross-shard transfers, network
// authorizations, captures, reversals, refunds, retries under the same Idempotency-Key) and is
// SIGKILLed at random moments (users, wallets and cards made under it too; every other time a start
// is killed as well), then started again on the same DATA_DIR. After each restart, before any retry:
// no orphan card hold (card-issuer recovery), each card's open authorizations are its wallet's
// pending, no money in transit, every currency sums to zero, no wallet overdrawn. Then every
// answered request replays its answer under its key, every unanswered one is retried with its key
// to an answer the ledger agrees with (wallet balances are what the answers add up to, each
// answered transaction in its wallets' histories once), and the audit's verify, reading the files
// beside the host at rest, is clean. Seed: SYSTEM_CRASH_SEED (else LEDGER_PROPERTY_SEED).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnTs, waitFor } from '@ledger/contracts/testing';
import { systemAccountIds } from '@ledger/ledger';
import { runCli } from '../../audit/src/cli';
import { FAST_ARGON2_ENV } from '../../identity/src/testing/identity.harness';
import { requestHost, type Answer, type HostRequestOptions } from './testing/host-request';
import { startChildHost, type ChildHost } from './testing/child-host';

const SEED = Number(process.env.SYSTEM_CRASH_SEED ?? process.env.LEDGER_PROPERTY_SEED ?? 42);
const KILLS = Number(process.env.SYSTEM_CRASH_KILLS ?? 4);
/** Clients sending requests at once. */
const WORKERS = 16;
/** The host is killed this long after the load starts: random in this range. */
const KILL_AFTER_MIN_MS = 150;
const KILL_AFTER_MAX_MS = 1_500;
/** A start is killed within this long (a host takes about 1.5 s to listen here). */
const KILL_WHILE_STARTING_MAX_MS = 2_500;
const SHARDS = 4;
/** Idempotency-Key lease of the host under test (more than twice BUS_REQUEST_TIMEOUT_MS, 2 s). */
const LEASE_MS = 4_100;
/** CARD_UPSTREAM_TIMEOUT_MS: recovery takes authorizations requested twice this long ago. */
const UPSTREAM_TIMEOUT_MS = 1_000;
const PASSWORD = 'correct-horse-battery-staple';
const ADMIN = { email: 'crash-admin@example.com', password: 'crash-admin-password-1' };
const MERCHANT = { name: 'Crash Mart', mcc: '5411', country: 'US' };
const CURRENCIES = ['USD', 'EUR'] as const;
const START_BALANCE = 200_000n;
/** The longest page of a card's authorizations (the gateway's AUTHORIZATIONS_PAGE_LIMIT_MAX). */
const AUTHORIZATIONS_LISTED_MAX = 200;

type Currency = (typeof CURRENCIES)[number];

type Kind = 'register' | 'openWallet' | 'issueCard' | 'topUp' | 'withdraw' | 'transfer' | 'authorize' | 'capture' | 'reverse' | 'refund';

interface Sent {
  readonly kind: Kind;
  readonly method: string;
  readonly path: string;
  readonly body: any;
  readonly key: string;
  readonly token?: string;
  readonly network: boolean;
  /** Wallets (indexes) the request names, and the authorization it acts on. */
  readonly from?: number;
  readonly to?: number;
  /** The user (index) a wallet is opened for. */
  readonly owner?: number;
  readonly card?: number;
  readonly authorizationId?: string;
  /** Undefined while no answer was had (cut by a kill): a retry with the key gives it. */
  answer?: Answer;
  /** Its answer's user, wallet, card or approval is taken into the run (set while being taken). */
  adopted?: boolean;
}

interface Wallet {
  readonly id: string;
  readonly owner: number;
  readonly currency: Currency;
}

interface Card {
  readonly id: string;
  readonly wallet: number;
  readonly secrets: { pan: string; cvv: string; expMonth: number; expYear: number };
}

/** A small seeded generator (mulberry32): the run's choices repeat for a seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Starts the host and SIGKILLs it `afterMs` later, whether or not it was listening yet. */
async function killWhileStarting(env: Record<string, string>, afterMs: number): Promise<void> {
  const child = spawnTs(join(__dirname, 'main.ts'), [], { env: { ...process.env, ...env } });
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  const exited = await child.exited;
  if (exited.signal !== 'SIGKILL' && exited.code !== 0) throw new Error(`the host failed to start: ${child.stderr()}`);
}


/** No answer to act on: the request may or may not have run (only a retry with its key tells). */
const unsettled = (answer: Answer) => answer.status === 503 || answer.body?.error?.code === 'idempotency_key_in_use';

async function auditVerify(dataDir: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCli(['verify', '--data-dir', dataDir], { out: async (text) => void (out += text), err: () => undefined, env: {} });
  return { code, out };
}

class World {
  host!: ChildHost;
  readonly tokens: string[] = [];
  readonly wallets: Wallet[] = [];
  readonly cards: Card[] = [];
  readonly sent: Sent[] = [];
  /** Approved authorizations: id, card, amount held at approval. */
  readonly authorizations: { id: string; card: number; held: bigint }[] = [];
  adminToken = '';

  constructor(
    readonly env: Record<string, string>,
    readonly next: () => number,
  ) {}

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  amount(max: number): bigint {
    return BigInt(1 + Math.floor(this.next() * max));
  }

  async start(): Promise<void> {
    this.host = await startChildHost(this.env);
    await waitFor('the host to be ready', async () => (await requestHost(this.host.url, 'GET', '/readyz')).status === 200, { timeoutMs: 30_000, intervalMs: 50 });
  }

  send(method: string, path: string, options: HostRequestOptions = {}): Promise<Answer> {
    return requestHost(this.host.url, method, path, options);
  }

  /** A money request under a fresh key; its answer is kept unless the host died under it (or answered 503). */
  async money(request: Omit<Sent, 'key' | 'answer' | 'adopted'>): Promise<void> {
    const sent: Sent = { ...request, key: randomUUID() };
    this.sent.push(sent);
    let answer: Answer;
    try {
      answer = await this.send(sent.method, sent.path, { token: sent.token, network: sent.network, body: sent.body, key: sent.key });
    } catch {
      return; // the host died under it
    }
    if (answer.status >= 500 && answer.status !== 503) throw new Error(`${sent.method} ${sent.path} ${JSON.stringify(sent.body)}: ${answer.status} ${answer.text}`);
    if (!unsettled(answer)) sent.answer = answer;
  }
}

/** Users, wallets and cards made under the load (and its kills), at most. */
const USERS_MAX = 4;
const WALLETS_MAX = 12;
const CARDS_MAX = 8;

/** One request of the mixed load, chosen at random. */
async function oneRequest(world: World): Promise<void> {
  const { wallets, cards } = world;
  const roll = world.next();
  const walletIndex = Math.floor(world.next() * wallets.length);
  const wallet = wallets[walletIndex];
  const token = world.tokens[wallet.owner];
  const made = (kind: Kind) => world.sent.filter((sent) => sent.kind === kind).length;
  if (roll < 0.01) {
    if (made('register') + 2 >= USERS_MAX) return;
    await world.money({ kind: 'register', method: 'POST', path: '/v1/users', body: { email: `crash-${randomUUID()}@example.com`, password: PASSWORD }, network: false });
  } else if (roll < 0.025) {
    if (made('openWallet') + 6 >= WALLETS_MAX) return;
    const owner = Math.floor(world.next() * world.tokens.length);
    await world.money({ kind: 'openWallet', method: 'POST', path: '/v1/wallets', body: { currency: world.pick(CURRENCIES) }, token: world.tokens[owner], network: false, owner });
  } else if (roll < 0.04) {
    if (made('issueCard') + 4 >= CARDS_MAX) return;
    await world.money({ kind: 'issueCard', method: 'POST', path: '/v1/cards', body: { walletId: wallet.id }, token, network: false, to: walletIndex });
  } else if (roll < 0.14) {
    await world.money({ kind: 'topUp', method: 'POST', path: `/v1/wallets/${wallet.id}/top-ups`, body: { amount: String(world.amount(20_000)) }, token, network: false, to: walletIndex });
  } else if (roll < 0.24) {
    await world.money({ kind: 'withdraw', method: 'POST', path: `/v1/wallets/${wallet.id}/withdrawals`, body: { amount: String(world.amount(15_000)) }, token, network: false, from: walletIndex });
  } else if (roll < 0.48) {
    const others = wallets.map((_, index) => index).filter((index) => index !== walletIndex && wallets[index].currency === wallet.currency);
    const to = world.pick(others);
    const body = { fromWalletId: wallet.id, toWalletId: wallets[to].id, amount: String(world.amount(12_000)) };
    await world.money({ kind: 'transfer', method: 'POST', path: '/v1/transfers', body, token, network: false, from: walletIndex, to });
  } else if (roll < 0.66) {
    const card = Math.floor(world.next() * cards.length);
    const body = { ...cards[card].secrets, amount: String(world.amount(8_000)), currency: wallets[cards[card].wallet].currency, merchant: MERCHANT };
    await world.money({ kind: 'authorize', method: 'POST', path: '/v1/network/authorizations', body, network: true, card });
  } else if (roll < 0.92) {
    if (world.authorizations.length === 0) return;
    const authorization = world.pick(world.authorizations);
    const part = (fraction: number) => String(BigInt(Math.max(1, Math.round(Number(authorization.held) * fraction))));
    const which = world.next();
    if (which < 0.4) {
      await world.money({ kind: 'capture', method: 'POST', path: `/v1/network/authorizations/${authorization.id}/capture`, body: { amount: part(0.3 + world.next() * 0.8) }, network: true, card: authorization.card, authorizationId: authorization.id });
    } else if (which < 0.7) {
      const body = world.next() < 0.5 ? {} : { amount: part(world.next() * 0.6) };
      await world.money({ kind: 'reverse', method: 'POST', path: `/v1/network/authorizations/${authorization.id}/reverse`, body, network: true, card: authorization.card, authorizationId: authorization.id });
    } else {
      // Mostly a captured one (learnt from the answers so far), now and then any.
      const capturedIds = world.sent.filter((sent) => sent.kind === 'capture' && sent.answer?.status === 200).map((sent) => sent.authorizationId!);
      const capturedId = capturedIds.length > 0 && world.next() < 0.8 ? world.pick(capturedIds) : authorization.id;
      const refunded = world.authorizations.find((each) => each.id === capturedId)!;
      const body = { authorizationId: refunded.id, amount: String(BigInt(Math.max(1, Math.round(Number(refunded.held) * world.next() * 0.5)))) };
      await world.money({ kind: 'refund', method: 'POST', path: '/v1/network/refunds', body, network: true, card: refunded.card, authorizationId: refunded.id });
    }
  } else {
    // A retry of an answered request under its key: the same answer, replayed.
    const answered = world.sent.filter((each) => each.answer !== undefined);
    if (answered.length === 0) return;
    await expectReplay(world, world.pick(answered));
  }
}

/** An answered request sent again under its key: its answer, replayed (a kill cannot have lost the record of an answer given). */
async function expectReplay(world: World, sent: Sent): Promise<void> {
  let again: Answer;
  try {
    again = await world.send(sent.method, sent.path, { token: sent.token, network: sent.network, body: sent.body, key: sent.key });
  } catch {
    return; // the host died under it
  }
  if (again.status !== sent.answer!.status || again.text !== sent.answer!.text || again.replayed !== 'true') {
    throw new Error(`a retry of ${sent.method} ${sent.path} ${JSON.stringify(sent.body)} answered ${again.status} ${again.text} (replayed ${again.replayed}), first ${sent.answer!.status} ${sent.answer!.text}`);
  }
}

/**
 * Takes what the answers made into the run: approvals (for captures and the rest), users (logged
 * in), wallets and cards (revealed). A login or reveal cut by a kill is tried again next time.
 */
async function adopt(world: World): Promise<void> {
  for (const sent of world.sent) {
    const body = sent.answer?.body;
    if (sent.adopted === true || body === undefined || sent.answer!.status >= 300) continue;
    sent.adopted = true;
    try {
      if (sent.kind === 'authorize' && body.approved === true) {
        world.authorizations.push({ id: body.id, card: sent.card!, held: BigInt(body.heldAmount) });
      } else if (sent.kind === 'register') {
        const login = await world.send('POST', '/v1/auth/login', { body: sent.body });
        if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
        world.tokens.push(login.body.accessToken);
      } else if (sent.kind === 'openWallet') {
        world.wallets.push({ id: body.id, owner: sent.owner!, currency: body.currency });
      } else if (sent.kind === 'issueCard') {
        const revealed = await world.send('POST', `/v1/cards/${body.id}/reveal`, { token: sent.token, body: { password: PASSWORD } });
        if (revealed.status !== 200) throw new Error(`reveal: ${revealed.status} ${revealed.text}`);
        world.cards.push({ id: body.id, wallet: sent.to!, secrets: revealed.body });
      }
    } catch (error) {
      sent.adopted = false;
      if ((error as { message?: unknown }).message !== 'fetch failed') throw error; // else the host died under it
    }
  }
}

/** Workers send requests until the host is killed, at a random moment. */
async function loadUntilKilled(world: World): Promise<void> {
  let killed = false;
  const killAfterMs = KILL_AFTER_MIN_MS + Math.floor(world.next() * (KILL_AFTER_MAX_MS - KILL_AFTER_MIN_MS));
  const worker = async () => {
    while (!killed) {
      await oneRequest(world);
      await adopt(world);
    }
  };
  const kill = (async () => {
    await new Promise((resolve) => setTimeout(resolve, killAfterMs));
    killed = true;
    await world.host.kill();
  })();
  await Promise.all([...Array.from({ length: WORKERS }, worker), kill]);
}

// ---- checks after a restart ------------------------------------------------------------------

async function ledgerAccount(world: World, accountId: string): Promise<{ debitsPosted: bigint; creditsPosted: bigint; debitsPending: bigint; creditsPending: bigint } | undefined> {
  const answer = await world.send('GET', `/v1/admin/ledger/accounts/${encodeURIComponent(accountId)}`, { token: world.adminToken });
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw new Error(`account ${accountId}: ${answer.status} ${answer.text}`);
  const { debitsPosted, creditsPosted, debitsPending, creditsPending } = answer.body;
  return { debitsPosted: BigInt(debitsPosted), creditsPosted: BigInt(creditsPosted), debitsPending: BigInt(debitsPending), creditsPending: BigInt(creditsPending) };
}

async function walletViews(world: World): Promise<any[]> {
  return Promise.all(world.wallets.map(async (wallet) => (await world.send('GET', `/v1/wallets/${wallet.id}`, { token: world.tokens[wallet.owner] })).body));
}

async function authorizationViews(world: World): Promise<Map<string, any>> {
  const views = new Map<string, any>();
  for (const card of world.cards) {
    // The list has no cursor: a card's whole list fits in its longest page (the run makes far fewer).
    const answer = await world.send('GET', `/v1/cards/${card.id}/authorizations?limit=${AUTHORIZATIONS_LISTED_MAX}`, { token: world.tokens[world.wallets[card.wallet].owner] });
    if (answer.status !== 200) throw new Error(`authorizations of ${card.id}: ${answer.status} ${answer.text}`);
    if (answer.body.items.length >= AUTHORIZATIONS_LISTED_MAX) throw new Error(`card ${card.id} has more authorizations than one page lists`);
    for (const item of answer.body.items) views.set(item.id, item);
  }
  return views;
}

/**
 * What must hold of the ledger alone once the host has settled: every currency sums to zero, no
 * money in transit between shards, nobody overdrawn, and each card's open authorizations are its
 * wallet's pending (a hold nobody answered for is released by recovery). Problems, none when sound.
 */
async function ledgerProblems(world: World): Promise<string[]> {
  const problems: string[] = [];
  for (const currency of CURRENCIES) {
    let posted = 0n;
    let pending = 0n;
    const accounts = [...world.wallets.filter((wallet) => wallet.currency === currency).map((wallet) => wallet.id), ...systemAccountIds(currency, SHARDS)];
    for (const accountId of accounts) {
      const sums = await ledgerAccount(world, accountId);
      if (sums === undefined) continue;
      posted += sums.debitsPosted - sums.creditsPosted;
      pending += sums.debitsPending - sums.creditsPending;
      if (accountId.startsWith('sys:transit-')) {
        // transit-to-{dst} of the source, transit-from-{src} of the destination: their postings cancel once every leg landed.
        const match = /^sys:transit-to-(\d+):([A-Z]{3}):(\d+)$/.exec(accountId);
        if (match !== null) {
          const landed = await ledgerAccount(world, `sys:transit-from-${match[3]}:${match[2]}:${match[1]}`);
          const inFlight = sums.creditsPosted - sums.debitsPosted - ((landed?.debitsPosted ?? 0n) - (landed?.creditsPosted ?? 0n));
          if (inFlight !== 0n) problems.push(`${accountId}: ${inFlight} in flight`);
        }
      }
    }
    if (posted !== 0n || pending !== 0n) problems.push(`${currency} sums to posted ${posted}, pending ${pending}`);
  }
  const views = await walletViews(world);
  const authorizations = await authorizationViews(world);
  const open = new Map<string, bigint>();
  for (const view of authorizations.values()) {
    if (view.status === 'pending') open.set(view.cardId, (open.get(view.cardId) ?? 0n) + BigInt(view.heldAmount));
  }
  for (const [index, wallet] of world.wallets.entries()) {
    const balance = views[index].balance;
    if (BigInt(balance.posted) < 0n || BigInt(balance.available) < 0n) problems.push(`wallet ${index} overdrawn: ${JSON.stringify(balance)}`);
    const cardPending = world.cards.filter((card) => world.wallets[card.wallet] === wallet).reduce((sum, card) => sum + (open.get(card.id) ?? 0n), 0n);
    if (BigInt(balance.pending) !== cardPending) {
      problems.push(`wallet ${index}: pending ${balance.pending}, its cards' open authorizations ${cardPending}${await holdsApart(world, index, authorizations)}`);
    }
  }
  return problems;
}

/** The wallet's pending holds whose authorization the card does not show pending for the same amount, with what was sent about them. */
async function holdsApart(world: World, index: number, authorizations: ReadonlyMap<string, any>): Promise<string> {
  const wallet = world.wallets[index];
  const page = await world.send('GET', `/v1/wallets/${wallet.id}/transactions?limit=200`, { token: world.tokens[wallet.owner] });
  const lines: any[] = page.body?.items ?? [];
  const apart = lines.filter((line: any) => line.status === 'pending' && !(authorizations.get(line.transactionId)?.status === 'pending' && authorizations.get(line.transactionId)?.heldAmount === line.amount));
  const cards = new Set(world.cards.filter((card) => world.wallets[card.wallet] === wallet).map((card) => card.id));
  const unheld = [...authorizations.values()].filter((view) => cards.has(view.cardId) && view.status === 'pending' && !lines.some((line) => line.transactionId === view.id && line.status === 'pending'));
  for (const view of unheld) apart.push({ transactionId: view.id, ledger: lines.filter((line) => line.transactionId === view.id) });
  return apart
    .map((line: any) => {
      const sent = world.sent.filter((each) => each.authorizationId === line.transactionId || each.answer?.body?.id === line.transactionId);
      return `\n  hold ${JSON.stringify(line)}\n  card ${JSON.stringify(authorizations.get(line.transactionId))}\n  sent ${sent.map((each) => `${each.kind} ${JSON.stringify(each.body.amount ?? null)} -> ${each.answer?.status} ${each.answer?.text.slice(0, 200)}`).join('\n    ')}`;
    })
    .join('');
}

async function expectLedgerSettles(world: World, when: string): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor('the ledger to settle', async () => (last = await ledgerProblems(world)).length === 0, { timeoutMs: 6 * UPSTREAM_TIMEOUT_MS + 10_000, intervalMs: 100 });
  } catch {
    throw new Error(`${when}: ${last.join('; ')}`);
  }
}

/** Every answered request replays its answer; every unanswered one is retried with its key until answered. */
async function replayAll(world: World): Promise<void> {
  const queue = [...world.sent];
  const worker = async () => {
    for (let sent = queue.shift(); sent !== undefined; sent = queue.shift()) {
      if (sent.answer !== undefined) {
        await expectReplay(world, sent);
        continue;
      }
      const target = sent;
      let last: Answer | undefined;
      await waitFor(`an answer to ${target.method} ${target.path}`, async () => {
        last = await world.send(target.method, target.path, { token: target.token, network: target.network, body: target.body, key: target.key });
        if (last.status >= 500 && last.status !== 503) throw new Error(`${target.method} ${target.path} ${JSON.stringify(target.body)}: ${last.status} ${last.text}`);
        return !unsettled(last);
      }, { timeoutMs: 3 * LEASE_MS, intervalMs: 100 }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: last ${last?.status} ${last?.text}`);
      });
      target.answer = last;
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  await adopt(world);
}

/**
 * The ledger is what the answers add up to: each wallet's posted balance, each authorization's
 * captured and refunded amounts, and each answered transaction once in its wallets' histories.
 */
async function expectAnswersMatchLedger(world: World, when: string): Promise<void> {
  let last: string[] = [];
  try {
    // The views are projections: a moment behind the last answer.
    await waitFor('the ledger to show what the answers add up to', async () => (last = await answerProblems(world)).length === 0, { timeoutMs: 5_000, intervalMs: 100 });
  } catch {
    throw new Error(`${when}: ${last.join('; ')}`);
  }
}

async function answerProblems(world: World): Promise<string[]> {
  const problems: string[] = [];
  const posted = world.wallets.map(() => 0n);
  const expectedLines = world.wallets.map(() => new Map<string, number>());
  const captured = new Map<string, bigint>();
  const refunded = new Map<string, bigint>();
  const line = (wallet: number, id: string) => expectedLines[wallet].set(id, (expectedLines[wallet].get(id) ?? 0) + 1);
  for (const sent of world.sent) {
    const { status, body } = sent.answer!;
    const amount = BigInt(sent.body.amount ?? 0);
    if (status >= 300) continue;
    switch (sent.kind) {
      case 'topUp':
        posted[sent.to!] += amount;
        line(sent.to!, body.id);
        break;
      case 'withdraw':
        posted[sent.from!] -= amount;
        line(sent.from!, body.id);
        break;
      case 'transfer':
        posted[sent.from!] -= amount;
        posted[sent.to!] += amount;
        line(sent.from!, body.id);
        line(sent.to!, body.id);
        break;
      case 'capture':
        posted[world.cards[sent.card!].wallet] -= amount;
        captured.set(sent.authorizationId!, (captured.get(sent.authorizationId!) ?? 0n) + amount);
        break;
      case 'refund':
        posted[world.cards[sent.card!].wallet] += amount;
        refunded.set(sent.authorizationId!, (refunded.get(sent.authorizationId!) ?? 0n) + amount);
        break;
      default:
        break;
    }
  }
  const views = await walletViews(world);
  for (const [index, view] of views.entries()) {
    if (view.balance.posted !== String(posted[index])) problems.push(`wallet ${index}: posted ${view.balance.posted}, the answers add up to ${posted[index]}`);
  }
  const authorizations = await authorizationViews(world);
  for (const authorization of world.authorizations) {
    const view = authorizations.get(authorization.id);
    const want = { captured: String(captured.get(authorization.id) ?? 0n), refunded: String(refunded.get(authorization.id) ?? 0n) };
    const shown = { captured: view?.capturedAmount, refunded: view?.refundedAmount };
    if (JSON.stringify(shown) !== JSON.stringify(want)) problems.push(`authorization ${authorization.id}: ${JSON.stringify(shown)}, the answers say ${JSON.stringify(want)}`);
  }
  for (const [index, wallet] of world.wallets.entries()) {
    const seen = new Map<string, number>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await world.send('GET', `/v1/wallets/${wallet.id}/transactions?limit=100${query}`, { token: world.tokens[wallet.owner] });
      if (page.status !== 200) throw new Error(`transactions of wallet ${index}: ${page.status} ${page.text}`);
      for (const item of page.body.items) if (['top_up', 'withdrawal', 'transfer'].includes(item.kind)) seen.set(item.transactionId, (seen.get(item.transactionId) ?? 0) + 1);
      cursor = page.body.nextCursor;
    } while (cursor !== null && ++pages < 1_000);
    for (const [id, count] of expectedLines[index]) if (seen.get(id) !== count) problems.push(`wallet ${index}: transaction ${id} listed ${seen.get(id) ?? 0} times, answered ${count}`);
    for (const [id, count] of seen) if (!expectedLines[index].has(id)) problems.push(`wallet ${index}: transaction ${id} listed ${count} times, never answered`);
  }
  return problems;
}

/** How many requests of each kind were answered with each status (and approvals and declines by code). */
function summary(world: World): string {
  const counts = new Map<string, number>();
  for (const sent of world.sent) {
    const code = sent.kind === 'authorize' ? sent.answer?.body?.responseCode : sent.answer?.body?.error?.code;
    const name = `${sent.kind} ${sent.answer?.status}${code === undefined ? '' : ` ${code}`}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].sort().map(([name, count]) => `${name}: ${count}`).join(', ');
}

// ---- the run ----------------------------------------------------------------------------------

async function setUp(world: World): Promise<void> {
  await world.start();
  for (let user = 0; user < 2; user++) {
    const email = `crash-${user}-${randomUUID()}@example.com`;
    expect((await world.send('POST', '/v1/users', { body: { email, password: PASSWORD } })).status).toBe(201);
    const login = await world.send('POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    world.tokens.push(login.body.accessToken);
    // Two USD wallets and one EUR wallet each: six wallets over four shards give same- and cross-shard pairs.
    for (const currency of ['USD', 'USD', 'EUR'] as const) {
      const opened = await world.send('POST', '/v1/wallets', { token: world.tokens[user], body: { currency }, key: randomUUID() });
      expect(opened.status).toBe(201);
      world.wallets.push({ id: opened.body.id, owner: user, currency });
    }
  }
  const admin = await world.send('POST', '/v1/auth/login', { body: ADMIN });
  expect(admin.status).toBe(200);
  world.adminToken = admin.body.accessToken;
  for (const wallet of [0, 1, 2, 3]) {
    const owner = world.tokens[world.wallets[wallet].owner];
    const issued = await world.send('POST', '/v1/cards', { token: owner, body: { walletId: world.wallets[wallet].id }, key: randomUUID() });
    expect(issued.status).toBe(201);
    const revealed = await world.send('POST', `/v1/cards/${issued.body.id}/reveal`, { token: owner, body: { password: PASSWORD } });
    expect(revealed.status).toBe(200);
    world.cards.push({ id: issued.body.id, wallet, secrets: revealed.body });
  }
  for (const [index, wallet] of world.wallets.entries()) {
    await world.money({ kind: 'topUp', method: 'POST', path: `/v1/wallets/${wallet.id}/top-ups`, body: { amount: String(START_BALANCE) }, token: world.tokens[wallet.owner], network: false, to: index });
  }
}

describe('the whole host SIGKILLed under load and started again (crash, e2e)', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-crash-'));
  });

  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`keeps every answer, applies every unanswered request whole or not at all, and leaves the ledger sound, across ${KILLS} kills (seed ${SEED})`, async () => {
    const env = {
      PORT: '0',
      GRPC_PORT: '0',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      LEDGER_SHARDS: String(SHARDS),
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      ...FAST_ARGON2_ENV,
      RATE_LIMIT_MONEY_PER_USER_BURST: '100000',
      RATE_LIMIT_MONEY_PER_IP_BURST: '100000',
      // Every replay of a registration counts against its email's login bucket too.
      RATE_LIMIT_LOGIN_PER_IP_BURST: '1000',
      RATE_LIMIT_LOGIN_PER_USER_BURST: '1000',
      RATE_LIMIT_REVEAL_PER_USER_BURST: '100',
      RATE_LIMIT_REVEAL_PER_IP_BURST: '100',
      SQLITE_SYNCHRONOUS: 'NORMAL',
      BUS_REQUEST_TIMEOUT_MS: '2000',
      IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
      CARD_UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
      CARD_RECOVERY_INTERVAL_MS: '200',
      // Ledger snapshots every few events, so a restart loads one and replays the rest.
      SNAPSHOT_EVERY: '25',
    };
    const world = new World(env, random(SEED));
    try {
      await setUp(world);
      for (let kill = 1; kill <= KILLS; kill++) {
        await loadUntilKilled(world);
        // The killed host's files as they are (projections maybe behind the store): only notes, never a violation.
        const killed = await auditVerify(dataDir);
        expect({ kill, killed: true, code: killed.code, out: killed.code === 0 ? '' : killed.out }).toEqual({ kill, killed: true, code: 0, out: '' });
        // Every other time, killed again while it starts: recovering, catching up, relaying.
        if (kill % 2 === 0) await killWhileStarting(world.env, KILL_WHILE_STARTING_MAX_MS * world.next());
        await world.start();
        const cut = world.sent.filter((sent) => sent.answer === undefined).length;
        await expectLedgerSettles(world, `after kill ${kill} (${cut} requests unanswered)`);
        await replayAll(world);
        await expectLedgerSettles(world, `after kill ${kill}, the unanswered retried`);
        await expectAnswersMatchLedger(world, `after kill ${kill}`);
        if (process.env.SYSTEM_CRASH_VERBOSE === 'true') process.stdout.write(`kill ${kill}: ${cut} of ${world.sent.length} requests unanswered; ${summary(world)}\n`);
        // The host at rest, its projections caught up: the audit reads the same files beside it.
        const audit = await auditVerify(dataDir);
        expect({ kill, code: audit.code, out: audit.code === 0 ? '' : audit.out }).toEqual({ kill, code: 0, out: '' });
      }
      await world.host.close();
      const audit = await auditVerify(dataDir);
      expect({ code: audit.code, out: audit.code === 0 ? '' : audit.out }).toEqual({ code: 0, out: '' });
    } finally {
      await world.host?.kill().catch(() => undefined);
    }
  }, 300_000);
});
