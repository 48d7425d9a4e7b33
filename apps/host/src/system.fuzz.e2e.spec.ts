// A fuzz test of the whole embedded host over HTTP, hunting for money bugs: a fast-check model of
// users, wallets in two currencies, top-ups, withdrawals, same- and cross-shard transfers, cards
// and the network's authorizations, captures, reversals and refunds, freezes, card cancels,
// retries with the same Idempotency-Key and host restarts on the same DATA_DIR. After every step
// each wallet's balance must equal the model's; after each run every currency sums to zero over
// all ledger accounts, no wallet is overdrawn, each card's pending authorizations are its wallet's
// pending, and the audit's `verify` finds nothing. Seed: SYSTEM_FUZZ_SEED (else LEDGER_PROPERTY_SEED).
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { waitFor } from '@ledger/contracts/testing';
import { systemAccountIds } from '@ledger/ledger';
import { runCli } from '../../audit/src/cli';
import { FAST_ARGON2_ENV } from '../../identity/src/testing/identity.harness';
import { startHost, type RunningHost } from './host';
import { requestHost, type Answer, type HostRequestOptions } from './testing/host-request';
import { startChildHost } from './testing/child-host';

const SEED = Number(process.env.SYSTEM_FUZZ_SEED ?? process.env.LEDGER_PROPERTY_SEED ?? 42);
const RUNS = Number(process.env.SYSTEM_FUZZ_RUNS ?? 2);
const STEPS = Number(process.env.SYSTEM_FUZZ_STEPS ?? 60);
/** The run with the host a child process killed with SIGKILL: fewer steps, each start costs a process. */
const KILL_RUNS = Number(process.env.SYSTEM_FUZZ_KILL_RUNS ?? 1);
const KILL_STEPS = Number(process.env.SYSTEM_FUZZ_KILL_STEPS ?? 40);
/** The run with holds expiring after 1.5 s. */
const EXPIRY_RUNS = Number(process.env.SYSTEM_FUZZ_EXPIRY_RUNS ?? 1);
const EXPIRY_STEPS = Number(process.env.SYSTEM_FUZZ_EXPIRY_STEPS ?? 40);
const SHARDS = 4;
/** Idempotency-Key lease of the host under test (more than twice BUS_REQUEST_TIMEOUT_MS, 2 s). */
const LEASE_MS = 4_100;
/** How long a request cut by a restart is retried with its key. */
const RETRY_DEADLINE_MS = 4 * LEASE_MS;
const PASSWORD = 'correct-horse-battery-staple';
const ADMIN = { email: 'fuzz-admin@example.com', password: 'fuzz-admin-password-1' };
const MERCHANT = { name: 'Fuzz Mart', mcc: '5411', country: 'US' };
const CURRENCIES = ['USD', 'EUR'] as const;
/** Per-authorization limit of the cards issued with one (decline 61 above it). */
const PER_AUTH_LIMIT = 4_000n;
/** Daily limit of the card issued with one: approved holds and captures, less reversals (decline 61 above it). */
const DAILY_LIMIT = 9_000n;
/** TOP_UP_MAX_MINOR_UNITS of the host under test: above it a top-up is 422 limit_exceeded. */
const TOP_UP_MAX = 100_000_000n;

type Currency = (typeof CURRENCIES)[number];

interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
  readonly key: string;
  readonly token?: string;
  readonly network: boolean;
  readonly answer: Answer;
}

interface WalletModel {
  readonly id: string;
  readonly owner: number;
  readonly currency: Currency;
  posted: bigint;
  pending: bigint;
  frozen: boolean;
}

interface CardModel {
  readonly id: string;
  readonly wallet: number;
  readonly perAuthorization?: bigint;
  readonly daily?: bigint;
  status: 'active' | 'frozen' | 'canceled';
  secrets: { pan: string; cvv: string; expMonth: number; expYear: number };
}

interface AuthorizationModel {
  readonly id: string;
  readonly card: number;
  held: bigint;
  captured: bigint;
  refunded: bigint;
  status: 'pending' | 'captured' | 'reversed';
}

/** The host under test: in this process (startHost), or a child process (main.ts) that can be killed. */
interface HostHandle {
  readonly url: string;
  close(): Promise<void>;
  /** SIGKILL: requests in flight are cut wherever they are (only a child process has it). */
  kill?(): Promise<void>;
}

async function inProcessHost(env: Record<string, string>): Promise<HostHandle> {
  const host: RunningHost = await startHost(env);
  let closing: Promise<void> | undefined;
  return { url: host.url, close: () => (closing ??= host.close()) };
}

interface World {
  host: HostHandle;
  readonly start: () => Promise<HostHandle>;
  readonly env: Record<string, string>;
  readonly tokens: string[];
  readonly wallets: WalletModel[];
  readonly cards: CardModel[];
  readonly authorizations: AuthorizationModel[];
  /** Every answered money request, for retries with the same key. */
  readonly sent: SentRequest[];
  readonly log: string[];
  /** Holds expire while the run goes on: every outcome that depends on a hold or on funds is taken as given. */
  readonly expiring: boolean;
  /** Copies of each money request sent at once under the same key (one runs; the others replay or wait). */
  copies: number;
  /** Set while a host restart runs under requests in flight: they retry their key on the new host. */
  restarting?: Promise<void>;
}

function send(world: World, method: string, path: string, options: HostRequestOptions = {}): Promise<Answer> {
  return requestHost(world.host.url, method, path, options);
}

/**
 * The request, sent `world.copies` times at once under one key: the key's first holder runs it, the
 * others answer 409 idempotency_key_in_use or replay it; every answer given must be the same.
 */
async function sendCopies(world: World, method: string, path: string, options: { token?: string; body?: unknown; key: string; network?: boolean }): Promise<Answer> {
  if (world.copies === 1) return send(world, method, path, options);
  const answers = await Promise.all(Array.from({ length: world.copies }, () => send(world, method, path, options)));
  const given = answers.filter((answer) => !unsettled(answer));
  if (given.length === 0) return answers[0];
  if (given.some((answer) => answer.status !== given[0].status || answer.text !== given[0].text)) {
    throw new Error(`copies of ${method} ${path} under one key answered differently: ${given.map((answer) => `${answer.status} ${answer.text}`).join(' | ')}`);
  }
  // Invalid input (a transfer to itself) is not kept for its key: each copy may run it again, moving nothing.
  const kept = given[0].body?.error?.code !== 'validation_failed';
  if (kept && given.filter((answer) => answer.replayed !== 'true').length > 1) throw new Error(`copies of ${method} ${path} under one key ran ${given.length} times: ${given[0].text}`);
  return given.find((answer) => answer.replayed !== 'true') ?? given[0];
}

/** No answer to act on: the request may or may not have run, so only a retry with its key tells. */
const unsettled = (answer: Answer | undefined) => answer === undefined || answer.status >= 500 || answer.body?.error?.code === 'idempotency_key_in_use';

/**
 * A money-moving request under a fresh key, remembered for retries. A 5xx fails the run at once,
 * unless a restart is under way: then it is retried with its key on the new host until answered.
 */
async function moneyRequest(world: World, method: string, path: string, body: unknown, who: { token?: string; network?: boolean }): Promise<Answer> {
  const key = randomUUID();
  let answer: Answer | undefined;
  let tries = 0;
  const deadline = Date.now() + RETRY_DEADLINE_MS;
  for (;;) {
    const restarting = world.restarting;
    try {
      answer = await sendCopies(world, method, path, { ...who, body, key });
    } catch (error) {
      if (restarting === undefined) throw error;
      answer = undefined;
    }
    if (answer !== undefined && !unsettled(answer)) break;
    tries++;
    // Holds expiring under the run: a capture or reversal racing the ledger's expiry is answered 503 until the card records it.
    const racingExpiry = world.expiring && answer?.status === 503 && answer.body?.error?.code === 'unavailable';
    if ((restarting === undefined && !racingExpiry) || Date.now() > deadline) throw new Error(`no answer: ${method} ${path} ${answer?.status} ${answer?.text}`);
    if (racingExpiry) await new Promise((resolve) => setTimeout(resolve, 50));
    await restarting;
    // A key reserved by a request the old host dropped is held until its lease ends (IDEMPOTENCY_LEASE_MS).
    if (answer?.status === 409) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  world.log.push(`${method} ${path} ${JSON.stringify(body)} -> ${answer.status} ${answer.text.slice(0, 300)}${tries > 0 ? ` (after ${tries} retries)` : ''}`);
  world.sent.push({ method, path, body, key, token: who.token, network: who.network === true, answer });
  return answer;
}

function expectOneOf(answer: Answer, allowed: readonly (readonly [number, string?])[], what: string): void {
  const ok = allowed.some(([status, code]) => answer.status === status && (code === undefined || answer.body?.error?.code === code));
  if (!ok) throw new Error(`${what}: got ${answer.status} ${answer.text}, expected one of ${JSON.stringify(allowed)}`);
}

const available = (wallet: WalletModel) => wallet.posted - wallet.pending;

// ---- commands -------------------------------------------------------------------------------

type Command =
  | { kind: 'topUp'; wallet: number; amount: bigint }
  | { kind: 'withdraw'; wallet: number; amount: bigint }
  | { kind: 'transfer'; from: number; to: number; amount: bigint; anyCurrency: boolean }
  | { kind: 'freezeWallet'; wallet: number; freeze: boolean }
  | { kind: 'cardStatus'; card: number; action: 'freeze' | 'unfreeze' | 'cancel' }
  | { kind: 'authorize'; card: number; amount: bigint; otherCurrency: boolean }
  | { kind: 'capture'; authorization: number; fraction: number }
  | { kind: 'reverse'; authorization: number; fraction: number | null }
  | { kind: 'refund'; authorization: number; fraction: number }
  | { kind: 'retry'; request: number; otherBody: boolean }
  | { kind: 'restart' }
  | { kind: 'together'; commands: Command[]; restartAfterMs: number | null }
  | { kind: 'twice'; command: Command };

/** True one time in ten. */
const rarely = fc.nat({ max: 9 }).map((n) => n === 0);
/** Mostly small; now and then far beyond any balance or cap, up to API.md's 30 digits. */
const amountArb = fc.oneof({ weight: 30, arbitrary: fc.bigInt({ min: 1n, max: 6_000n }) }, { weight: 1, arbitrary: fc.bigInt({ min: 10n ** 8n, max: 10n ** 30n - 1n }) });
const indexArb = fc.nat({ max: 1_000 });
const fractionArb = fc.double({ min: 0.05, max: 1.2, noNaN: true });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('topUp' as const), wallet: indexArb, amount: fc.oneof({ weight: 30, arbitrary: fc.bigInt({ min: 1n, max: 20_000n }) }, { weight: 1, arbitrary: fc.bigInt({ min: TOP_UP_MAX - 2n, max: 10n ** 30n - 1n }) }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), wallet: indexArb, amount: amountArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('transfer' as const), from: indexArb, to: indexArb, amount: amountArb, anyCurrency: rarely }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('freezeWallet' as const), wallet: indexArb, freeze: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cardStatus' as const), card: indexArb, action: fc.constantFrom('freeze' as const, 'unfreeze' as const, 'unfreeze' as const, 'cancel' as const) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('authorize' as const), card: indexArb, amount: amountArb, otherCurrency: rarely }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), authorization: indexArb, fraction: fractionArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reverse' as const), authorization: indexArb, fraction: fc.option(fractionArb, { nil: null }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refund' as const), authorization: indexArb, fraction: fractionArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('retry' as const), request: indexArb, otherBody: rarely }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

/** Money commands only: their outcomes can be taken as given (a freeze in flight would make the model guess). */
const moneyCommandArb = commandArb.filter((command) => !['freezeWallet', 'cardStatus', 'retry', 'restart'].includes(command.kind));

/** Two to five money commands in flight at once, now and then with the host restarted under them. */
const togetherArb: fc.Arbitrary<Command> = fc.record({
  kind: fc.constant('together' as const),
  commands: fc.array(moneyCommandArb, { minLength: 2, maxLength: 5 }),
  restartAfterMs: fc.option(fc.nat({ max: 40 }), { nil: null, freq: 3 }),
});

/** A money command whose request goes out twice at once under the same key. */
const twiceArb: fc.Arbitrary<Command> = fc.record({ kind: fc.constant('twice' as const), command: moneyCommandArb });

const stepArb: fc.Arbitrary<Command> = fc.oneof({ weight: 6, arbitrary: commandArb }, { weight: 1, arbitrary: togetherArb }, { weight: 1, arbitrary: twiceArb });

const partOf = (amount: bigint, fraction: number) => {
  const part = (amount * BigInt(Math.round(fraction * 1000))) / 1000n;
  return part < 1n ? 1n : part;
};

/**
 * Runs one command and checks its answer against the model. `strict`: nothing else runs, so the
 * model knows the outcome; otherwise (commands in flight together) an answer that depends on the
 * order (funds, a hold's state) is taken as given and its effect applied, and the balances after
 * the lot must still match.
 */
async function run(world: World, command: Command, strict = true): Promise<void> {
  const { wallets, cards, authorizations } = world;
  switch (command.kind) {
    case 'topUp': {
      const wallet = wallets[command.wallet % wallets.length];
      const answer = await moneyRequest(world, 'POST', `/v1/wallets/${wallet.id}/top-ups`, { amount: String(command.amount) }, { token: world.tokens[wallet.owner] });
      if (command.amount > TOP_UP_MAX) return expectOneOf(answer, [[422, 'limit_exceeded']], 'top-up over the cap');
      expectOneOf(answer, [[201]], 'top-up');
      wallet.posted += command.amount;
      return;
    }
    case 'withdraw': {
      const wallet = wallets[command.wallet % wallets.length];
      const answer = await moneyRequest(world, 'POST', `/v1/wallets/${wallet.id}/withdrawals`, { amount: String(command.amount) }, { token: world.tokens[wallet.owner] });
      if (wallet.frozen) return expectOneOf(answer, [[409, 'wallet_not_active']], 'withdrawal from a frozen wallet');
      if (available(wallet) < command.amount) return expectOneOf(answer, [[422, 'insufficient_funds']], 'withdrawal over available');
      expectOneOf(answer, strict ? [[201]] : [[201], [422, 'insufficient_funds']], 'withdrawal');
      if (answer.status !== 201) return;
      wallet.posted -= command.amount;
      return;
    }
    case 'transfer': {
      const from = wallets[command.from % wallets.length];
      // Mostly another wallet of the same currency (of either user), now and then any wallet, itself included.
      const candidates = command.anyCurrency ? wallets : wallets.filter((wallet) => wallet.currency === from.currency && wallet !== from);
      const to = candidates[command.to % candidates.length];
      const answer = await moneyRequest(world, 'POST', '/v1/transfers', { fromWalletId: from.id, toWalletId: to.id, amount: String(command.amount) }, { token: world.tokens[from.owner] });
      if (from === to) return expectOneOf(answer, [[400, 'validation_failed']], 'transfer to itself');
      const refusals: [number, string][] = [];
      if (from.currency !== to.currency) refusals.push([422, 'currency_mismatch']);
      if (from.frozen) refusals.push([409, 'wallet_not_active']);
      if (available(from) < command.amount) refusals.push([422, 'insufficient_funds']);
      if (refusals.length > 0) return expectOneOf(answer, refusals, 'refused transfer');
      expectOneOf(answer, strict ? [[201]] : [[201], [422, 'insufficient_funds']], 'transfer');
      if (answer.status !== 201) return;
      from.posted -= command.amount;
      to.posted += command.amount;
      return;
    }
    case 'freezeWallet': {
      const wallet = wallets[command.wallet % wallets.length];
      const answer = await send(world, 'POST', `/v1/wallets/${wallet.id}/${command.freeze ? 'freeze' : 'unfreeze'}`, { token: world.tokens[wallet.owner], body: {} });
      world.log.push(`${command.freeze ? 'freeze' : 'unfreeze'} wallet ${command.wallet % wallets.length} -> ${answer.status}`);
      expectOneOf(answer, [[200]], 'wallet freeze/unfreeze');
      wallet.frozen = command.freeze;
      return;
    }
    case 'cardStatus': {
      const card = cards[command.card % cards.length];
      const owner = world.tokens[wallets[card.wallet].owner];
      const answer = await send(world, 'POST', `/v1/cards/${card.id}/${command.action}`, { token: owner, body: {} });
      world.log.push(`${command.action} card ${command.card % cards.length} -> ${answer.status}`);
      if (card.status === 'canceled' && command.action !== 'cancel') return expectOneOf(answer, [[409, 'card_not_active']], 'canceled card');
      expectOneOf(answer, [[200]], 'card status');
      card.status = command.action === 'freeze' ? 'frozen' : command.action === 'unfreeze' ? 'active' : 'canceled';
      return;
    }
    case 'authorize': {
      const cardIndex = command.card % cards.length;
      const card = cards[cardIndex];
      const wallet = wallets[card.wallet];
      const currency = command.otherCurrency ? CURRENCIES.find((other) => other !== wallet.currency)! : wallet.currency;
      const answer = await moneyRequest(world, 'POST', '/v1/network/authorizations', { ...card.secrets, amount: String(command.amount), currency, merchant: MERCHANT }, { network: true });
      expectOneOf(answer, [[200]], 'authorization');
      const spent = authorizations.filter((each) => each.card === cardIndex).reduce((sum, each) => sum + each.held + each.captured, 0n);
      const overLimit = (card.perAuthorization !== undefined && command.amount > card.perAuthorization) || (card.daily !== undefined && spent + command.amount > card.daily);
      const declined = card.status !== 'active' || wallet.frozen || command.otherCurrency || available(wallet) < command.amount || overLimit;
      if (declined) {
        if (answer.body.approved !== false) throw new Error(`authorization approved, expected a decline: ${answer.text}`);
        if (card.status !== 'active' && answer.body.responseCode !== '62') throw new Error(`a ${card.status} card declined ${answer.body.responseCode}, not 62`);
        return;
      }
      if (!strict && answer.body.approved === false && ['51', '61'].includes(answer.body.responseCode)) return;
      if (answer.body.approved !== true) throw new Error(`authorization declined, expected an approval: ${answer.text}`);
      if (answer.body.heldAmount !== String(command.amount)) throw new Error(`held ${answer.body.heldAmount}, asked ${command.amount}`);
      wallet.pending += command.amount;
      authorizations.push({ id: answer.body.id, card: cardIndex, held: command.amount, captured: 0n, refunded: 0n, status: 'pending' });
      return;
    }
    case 'capture': {
      if (authorizations.length === 0) return;
      const authorization = authorizations[command.authorization % authorizations.length];
      const wallet = wallets[cards[authorization.card].wallet];
      const amount = partOf(authorization.held === 0n ? 100n : authorization.held, command.fraction);
      const answer = await moneyRequest(world, 'POST', `/v1/network/authorizations/${authorization.id}/capture`, { amount: String(amount) }, { network: true });
      if (!strict) {
        expectOneOf(answer, [[200], [409, 'hold_not_pending'], [422, 'amount_exceeds_hold']], 'capture in flight with others');
        if (answer.status !== 200) return;
        if (answer.body.capturedAmount !== String(amount)) throw new Error(`capture of ${amount} answered ${answer.text}`);
        // The hold's rest is released: its pending is taken from the card-issuer after the lot (syncAuthorizations).
        wallet.posted -= amount;
        authorization.captured += amount;
        return;
      }
      if (authorization.status !== 'pending') return expectOneOf(answer, [[409, 'hold_not_pending']], 'capture of a finished hold');
      if (amount > authorization.held) return expectOneOf(answer, [[422, 'amount_exceeds_hold']], 'capture over the hold');
      expectOneOf(answer, [[200]], 'capture');
      if (answer.body.status !== 'captured' || answer.body.capturedAmount !== String(amount)) throw new Error(`capture answered ${answer.text}`);
      wallet.pending -= authorization.held;
      wallet.posted -= amount;
      authorization.captured = amount;
      authorization.held = 0n;
      authorization.status = 'captured';
      return;
    }
    case 'reverse': {
      if (authorizations.length === 0) return;
      const authorization = authorizations[command.authorization % authorizations.length];
      const wallet = wallets[cards[authorization.card].wallet];
      const amount = command.fraction === null ? undefined : partOf(authorization.held === 0n ? 100n : authorization.held, command.fraction);
      const answer = await moneyRequest(world, 'POST', `/v1/network/authorizations/${authorization.id}/reverse`, amount === undefined ? {} : { amount: String(amount) }, { network: true });
      if (!strict) return expectOneOf(answer, [[200], [409, 'hold_not_pending'], [422, 'amount_exceeds_hold']], 'reversal in flight with others');
      if (authorization.status !== 'pending') return expectOneOf(answer, [[409, 'hold_not_pending']], 'reversal of a finished hold');
      if (amount !== undefined && amount > authorization.held) return expectOneOf(answer, [[422, 'amount_exceeds_hold'], [200]], 'reversal over the hold');
      expectOneOf(answer, [[200]], 'reversal');
      const released = amount === undefined || amount >= authorization.held ? authorization.held : amount;
      wallet.pending -= released;
      authorization.held -= released;
      if (authorization.held === 0n) authorization.status = 'reversed';
      if (answer.body.status !== authorization.status || answer.body.heldAmount !== String(authorization.held)) {
        throw new Error(`reversal answered ${answer.text}, model ${authorization.status} held ${authorization.held}`);
      }
      return;
    }
    case 'refund': {
      if (authorizations.length === 0) return;
      const authorization = authorizations[command.authorization % authorizations.length];
      const wallet = wallets[cards[authorization.card].wallet];
      const amount = partOf(authorization.captured === 0n ? 100n : authorization.captured, command.fraction);
      const answer = await moneyRequest(world, 'POST', '/v1/network/refunds', { authorizationId: authorization.id, amount: String(amount) }, { network: true });
      if (!strict) {
        expectOneOf(answer, [[201], [409, 'hold_not_pending'], [422, 'amount_exceeds_hold']], 'refund in flight with others');
        if (answer.status !== 201) return;
        authorization.refunded += amount;
        wallet.posted += amount;
        return;
      }
      if (authorization.status !== 'captured' || amount > authorization.captured - authorization.refunded) {
        return expectOneOf(answer, [[422, 'amount_exceeds_hold'], [409, 'hold_not_pending']], 'refund over the capture');
      }
      expectOneOf(answer, [[201]], 'refund');
      authorization.refunded += amount;
      wallet.posted += amount;
      return;
    }
    case 'retry': {
      if (world.sent.length === 0) return;
      const first = world.sent[command.request % world.sent.length];
      // Invalid input (a transfer to itself) is not kept for its key: a retry runs it again, unreplayed.
      const invalidInput = first.answer.body?.error?.code === 'validation_failed';
      if (command.otherBody) {
        // The same key with another body: 422 idempotency_key_reuse, nothing moves (the balances are checked after).
        const changed = { ...(first.body as object), amount: '1' };
        const reused = await send(world, first.method, first.path, { token: first.token, network: first.network, body: changed, key: first.key });
        world.log.push(`reuse key of ${first.method} ${first.path} -> ${reused.status}`);
        // A key whose request was invalid input is free: the other body runs (a transfer to itself stays one: 400 again).
        const refusal: [number, string] = invalidInput ? [400, 'validation_failed'] : [422, 'idempotency_key_reuse'];
        if (JSON.stringify(changed) !== JSON.stringify(first.body)) expectOneOf(reused, [refusal], 'a key reused with another body');
        return;
      }
      const again = await send(world, first.method, first.path, { token: first.token, network: first.network, body: first.body, key: first.key });
      world.log.push(`retry ${first.method} ${first.path} -> ${again.status} replayed=${again.replayed}`);
      if (again.status !== first.answer.status || again.text !== first.answer.text || again.replayed !== (invalidInput ? null : 'true')) {
        throw new Error(`retry of ${first.method} ${first.path} ${JSON.stringify(first.body)} answered ${again.status} ${again.text} (replayed ${again.replayed}), first ${first.answer.status} ${first.answer.text}`);
      }
      return;
    }
    case 'restart': {
      world.log.push('restart');
      await world.host.close();
      world.host = await world.start();
      return;
    }
    case 'twice': {
      world.copies = 2;
      try {
        await run(world, command.command);
      } finally {
        world.copies = 1;
      }
      return;
    }
    case 'together': {
      world.log.push(`together (restart after ${command.restartAfterMs} ms):`);
      if (command.restartAfterMs !== null) {
        const delayMs = command.restartAfterMs;
        world.restarting = (async () => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          world.log.push(`${world.host.kill === undefined ? 'restart' : 'kill -9 and restart'} under requests in flight`);
          await (world.host.kill ?? world.host.close)();
          world.host = await world.start();
        })();
      }
      try {
        const outcomes = await Promise.allSettled([...command.commands.map((each) => run(world, each, false)), world.restarting]);
        const failure = outcomes.find((outcome) => outcome.status === 'rejected');
        if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
      } finally {
        world.restarting = undefined;
      }
      await syncAuthorizations(world);
      world.log.push('together: done');
      return;
    }
  }
}

/**
 * After commands in flight together: each authorization's hold as the card-issuer shows it (which
 * of a capture and a reversal won), checked against what the answers said; wallets' pending follow.
 */
async function syncAuthorizations(world: World): Promise<void> {
  const views = new Map<string, any>();
  for (const card of world.cards) {
    const answer = await send(world, 'GET', `/v1/cards/${card.id}/authorizations`, { token: world.tokens[world.wallets[card.wallet].owner] });
    if (answer.status !== 200) throw new Error(`authorizations of ${card.id}: ${answer.status} ${answer.text}`);
    for (const item of answer.body.items) views.set(item.id, item);
  }
  for (const authorization of world.authorizations) {
    const view = views.get(authorization.id);
    if (view === undefined) throw new Error(`authorization ${authorization.id} is not listed`);
    const shown = { captured: view.capturedAmount, refunded: view.refundedAmount };
    const model = { captured: String(authorization.captured), refunded: String(authorization.refunded) };
    if (JSON.stringify(shown) !== JSON.stringify(model)) throw new Error(`authorization ${authorization.id}: ${JSON.stringify(view)}, answers said ${JSON.stringify(model)}`);
    const held = BigInt(view.heldAmount);
    if (!['pending', 'captured', 'reversed', 'expired'].includes(view.status) || held > authorization.held || (view.status !== 'pending' && held !== 0n && view.status !== 'reversed')) {
      throw new Error(`authorization ${authorization.id}: ${JSON.stringify(view)}, model held ${authorization.held} ${authorization.status}`);
    }
    authorization.status = view.status === 'expired' ? 'reversed' : view.status;
    authorization.held = view.status === 'pending' ? held : 0n;
  }
  for (const wallet of world.wallets) wallet.pending = 0n;
  for (const authorization of world.authorizations) world.wallets[world.cards[authorization.card].wallet].pending += authorization.held;
}

// ---- checks ---------------------------------------------------------------------------------

async function walletViews(world: World): Promise<any[]> {
  return Promise.all(world.wallets.map(async (wallet) => (await send(world, 'GET', `/v1/wallets/${wallet.id}`, { token: world.tokens[wallet.owner] })).body));
}

function differences(world: World, views: readonly any[]): string[] {
  return world.wallets.flatMap((wallet, index) => {
    const balance = views[index]?.balance;
    const want = { posted: String(wallet.posted), pending: String(wallet.pending), available: String(available(wallet)) };
    const status = wallet.frozen ? 'frozen' : 'active';
    return JSON.stringify(balance) === JSON.stringify(want) && views[index].status === status
      ? []
      : [`wallet ${index} (${wallet.currency}, owner ${wallet.owner}): ${views[index]?.status} ${JSON.stringify(balance)}, model ${status} ${JSON.stringify(want)}`];
  });
}

/** Each wallet shows the model's balance (a cross-shard transfer's in leg may land a moment later). */
async function expectBalances(world: World, step: string): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor('balances as the model', async () => {
      // Expiring holds: the card-issuer's word on each hold, asked again until it and the ledger agree with the model.
      if (world.expiring) await syncAuthorizations(world);
      last = differences(world, await walletViews(world));
      return last.length === 0;
    }, { timeoutMs: 5_000, intervalMs: 25 });
  } catch {
    throw new Error(`after ${step}: ${last.join('; ')}`);
  }
}

function accountIds(world: World, currency: Currency): string[] {
  return [...world.wallets.filter((wallet) => wallet.currency === currency).map((wallet) => wallet.id), ...systemAccountIds(currency, SHARDS)];
}

async function expectLedgerSumsZero(world: World, adminToken: string): Promise<void> {
  for (const currency of CURRENCIES) {
    let posted = 0n;
    let pending = 0n;
    for (const accountId of accountIds(world, currency)) {
      const answer = await send(world, 'GET', `/v1/admin/ledger/accounts/${encodeURIComponent(accountId)}`, { token: adminToken });
      if (answer.status === 404) continue;
      if (answer.status !== 200) throw new Error(`account ${accountId}: ${answer.status} ${answer.text}`);
      posted += BigInt(answer.body.debitsPosted) - BigInt(answer.body.creditsPosted);
      pending += BigInt(answer.body.debitsPending) - BigInt(answer.body.creditsPending);
    }
    expect({ currency, posted, pending }).toEqual({ currency, posted: 0n, pending: 0n });
  }
}

async function expectCardsMatchPending(world: World): Promise<void> {
  const pendingByWallet = new Map<string, bigint>();
  for (const card of world.cards) {
    const wallet = world.wallets[card.wallet];
    const answer = await send(world, 'GET', `/v1/cards/${card.id}/authorizations`, { token: world.tokens[wallet.owner] });
    expect(answer.status).toBe(200);
    for (const item of answer.body.items) {
      if (item.status === 'pending') pendingByWallet.set(wallet.id, (pendingByWallet.get(wallet.id) ?? 0n) + BigInt(item.heldAmount));
    }
  }
  const views = await walletViews(world);
  const shown = world.wallets.map((wallet, index) => ({ wallet: index, pending: views[index].balance.pending, posted: BigInt(views[index].balance.posted) >= 0n, available: BigInt(views[index].balance.available) >= 0n }));
  const wanted = world.wallets.map((wallet, index) => ({ wallet: index, pending: String(pendingByWallet.get(wallet.id) ?? 0n), posted: true, available: true }));
  expect(shown).toEqual(wanted);
}

/**
 * Each wallet's transaction lines add up to its balance: posted lines to posted (each one's
 * balanceAfter the running sum), pending card_hold lines to pending; the wallet list agrees too.
 */
async function expectHistories(world: World): Promise<void> {
  const problems: string[] = [];
  const listed = new Map<string, any>();
  for (const token of world.tokens) {
    const answer = await send(world, 'GET', '/v1/wallets', { token });
    for (const item of answer.body.items) listed.set(item.id, item);
  }
  const views = await walletViews(world);
  for (const [index, wallet] of world.wallets.entries()) {
    if (JSON.stringify(listed.get(wallet.id)) !== JSON.stringify(views[index])) problems.push(`wallet ${index}: listed ${JSON.stringify(listed.get(wallet.id))}, read ${JSON.stringify(views[index])}`);
    const lines: any[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const page = await send(world, 'GET', `/v1/wallets/${wallet.id}/transactions?limit=50${query}`, { token: world.tokens[wallet.owner] });
      if (page.status !== 200) throw new Error(`transactions of wallet ${index}: ${page.status} ${page.text}`);
      lines.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null && lines.length < 10_000);
    let posted = 0n;
    let pending = 0n;
    for (const line of [...lines].reverse()) {
      const amount = BigInt(line.amount) * (line.direction === 'credit' ? 1n : -1n);
      if (line.status === 'posted') {
        posted += amount;
        if (line.balanceAfter !== String(posted)) problems.push(`wallet ${index}: line ${JSON.stringify(line)} after ${posted}`);
      } else if (line.status === 'pending') pending -= amount;
    }
    if (posted !== wallet.posted || pending !== wallet.pending) problems.push(`wallet ${index}: lines add up to posted ${posted}, pending ${pending}; model ${wallet.posted}, ${wallet.pending}`);
  }
  expect(problems).toEqual([]);
}

const balanceText = (wallet: WalletModel) => JSON.stringify({ posted: String(wallet.posted), pending: String(wallet.pending), available: String(available(wallet)) });

/** GET /v1/wallets/{id}/balance?at= answers the balances the wallets had then. */
async function expectBalancesAt(world: World, at: string, balances: readonly string[]): Promise<void> {
  const shown = await Promise.all(
    world.wallets.map(async (wallet) => {
      const answer = await send(world, 'GET', `/v1/wallets/${wallet.id}/balance?at=${encodeURIComponent(at)}`, { token: world.tokens[wallet.owner] });
      return answer.status === 200 ? JSON.stringify({ posted: answer.body.posted, pending: answer.body.pending, available: answer.body.available }) : `${answer.status} ${answer.text}`;
    }),
  );
  expect({ at, shown }).toEqual({ at, shown: balances });
}

async function auditVerify(dataDir: string): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCli(['verify', '--data-dir', dataDir], {
    out: async (text) => {
      out += text;
    },
    err: () => undefined,
    env: {},
  });
  return { code, out };
}

// ---- the run --------------------------------------------------------------------------------

async function setUp(dataDir: string, startWith: (env: Record<string, string>) => Promise<HostHandle>, extraEnv: Record<string, string>): Promise<World> {
  const env = {
    PORT: '0',
    GRPC_PORT: '0',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    TOP_UP_MAX_MINOR_UNITS: String(TOP_UP_MAX),
    LEDGER_SHARDS: String(SHARDS),
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    ...FAST_ARGON2_ENV,
    RATE_LIMIT_MONEY_PER_USER_BURST: '100000',
    RATE_LIMIT_MONEY_PER_IP_BURST: '100000',
    RATE_LIMIT_REVEAL_PER_USER_BURST: '100',
    RATE_LIMIT_REVEAL_PER_IP_BURST: '100',
    SQLITE_SYNCHRONOUS: 'NORMAL',
    // A key a killed host reserved is taken over after the lease: short, so the retries need not wait 30 s.
    BUS_REQUEST_TIMEOUT_MS: '2000',
    IDEMPOTENCY_LEASE_MS: String(LEASE_MS),
    ...extraEnv,
  };
  const start = () => startWith(env);
  const world: World = { expiring: extraEnv.HOLD_TIMEOUT_MS !== undefined, copies: 1, host: await start(), start, env, tokens: [], wallets: [], cards: [], authorizations: [], sent: [], log: [] };
  for (let user = 0; user < 2; user++) {
    const email = `fuzz-${user}-${randomUUID()}@example.com`;
    expect((await send(world, 'POST', '/v1/users', { body: { email, password: PASSWORD } })).status).toBe(201);
    const login = await send(world, 'POST', '/v1/auth/login', { body: { email, password: PASSWORD } });
    expect(login.status).toBe(200);
    world.tokens.push(login.body.accessToken);
    // Two USD wallets and one EUR wallet each: six wallets over four shards give same- and cross-shard pairs.
    for (const currency of ['USD', 'USD', 'EUR'] as const) {
      const opened = await send(world, 'POST', '/v1/wallets', { token: world.tokens[user], body: { currency }, key: randomUUID() });
      expect(opened.status).toBe(201);
      world.wallets.push({ id: opened.body.id, owner: user, currency, posted: 0n, pending: 0n, frozen: false });
    }
  }
  // A card on four of the wallets, one with a per-authorization limit, one with a daily one.
  const controls = [{}, { perAuthorization: PER_AUTH_LIMIT }, { daily: DAILY_LIMIT }, {}] as const;
  for (const [wallet, { perAuthorization, daily }] of controls.map((each, index) => [index, each as { perAuthorization?: bigint; daily?: bigint }] as const)) {
    const owner = world.tokens[world.wallets[wallet].owner];
    const spendingControls = { ...(perAuthorization === undefined ? {} : { perAuthorization: String(perAuthorization) }), ...(daily === undefined ? {} : { daily: String(daily) }) };
    const body = { walletId: world.wallets[wallet].id, spendingControls };
    const issued = await send(world, 'POST', '/v1/cards', { token: owner, body, key: randomUUID() });
    expect(issued.status).toBe(201);
    const revealed = await send(world, 'POST', `/v1/cards/${issued.body.id}/reveal`, { token: owner, body: { password: PASSWORD } });
    expect(revealed.status).toBe(200);
    world.cards.push({ id: issued.body.id, wallet, perAuthorization, daily, status: 'active', secrets: revealed.body });
  }
  return world;
}

async function fuzz(startWith: (env: Record<string, string>) => Promise<HostHandle>, runs: number, steps: number, dirs: string[], extraEnv: Record<string, string> = {}): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: steps, maxLength: steps }), async (commands) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'ledger-fuzz-'));
      dirs.push(dataDir);
      const world = await setUp(dataDir, startWith, extraEnv);
      try {
        /** Balances at rest halfway through, for `?at=` at the end. */
        let halfway: { at: string; balances: string[] } | undefined;
        for (const [step, command] of commands.entries()) {
          await run(world, command, !world.expiring);
          await expectBalances(world, `step ${step} ${JSON.stringify(command, (_, value) => (typeof value === 'bigint' ? String(value) : value))}`);
          if (step === Math.floor(commands.length / 2) && !world.expiring) {
            halfway = { at: new Date().toISOString(), balances: world.wallets.map(balanceText) };
            // The next event is recorded in a later millisecond than `at`.
            await waitFor('the clock to pass halfway', () => Date.now() > Date.parse(halfway!.at) + 1);
          }
        }
        if (halfway !== undefined) await expectBalancesAt(world, halfway.at, halfway.balances);
        if (world.expiring) {
          // Every hold ends by itself: the checks below then read a system at rest.
          await waitFor('every hold to expire', async () => {
            await syncAuthorizations(world);
            return world.authorizations.every((authorization) => authorization.status !== 'pending');
          }, { timeoutMs: 15_000, intervalMs: 50 });
          await expectBalances(world, 'every hold ended');
        }
        if (process.env.SYSTEM_FUZZ_VERBOSE === 'true') process.stdout.write(`${commands.length} steps:\n${world.log.join('\n')}\n`);
        const admin = await send(world, 'POST', '/v1/auth/login', { body: ADMIN });
        expect(admin.status).toBe(200);
        await expectLedgerSumsZero(world, admin.body.accessToken);
        await expectCardsMatchPending(world);
        await expectHistories(world);
        await world.host.close();
        const audit = await auditVerify(dataDir);
        expect({ code: audit.code, out: audit.code === 0 ? '' : audit.out }).toEqual({ code: 0, out: '' });
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- log ---\n${world.log.join('\n')}`);
      } finally {
        await world.host.close().catch(() => undefined);
      }
    }),
    { seed: SEED, numRuns: runs, endOnFailure: process.env.SYSTEM_FUZZ_SHRINK !== 'true' },
  );
}

describe('the whole system under a random model of money traffic (fuzz, e2e)', () => {
  const dirs: string[] = [];

  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it(`keeps every wallet equal to the model, every currency summing to zero and the audit clean (seed ${SEED})`, async () => {
    await fuzz(inProcessHost, RUNS, STEPS, dirs);
  }, 600_000);

  it(`does so with the host a process killed (SIGKILL) under requests in flight and started again (seed ${SEED})`, async () => {
    // Ledger snapshots every few events, so a restart loads one and replays the rest.
    await fuzz(startChildHost, KILL_RUNS, KILL_STEPS, dirs, { SNAPSHOT_EVERY: '5' });
  }, 600_000);

  it(`does so with holds expiring while the network captures, reverses and refunds them (seed ${SEED})`, async () => {
    await fuzz(inProcessHost, EXPIRY_RUNS, EXPIRY_STEPS, dirs, { HOLD_TIMEOUT_MS: '1500', HOLD_SWEEP_INTERVAL_MS: '50' });
  }, 600_000);
});
