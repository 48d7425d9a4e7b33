// Property test through the transport: random command streams over wallets on four shards
// (cross-shard transfers, a JPY wallet that refuses USD, holds, freezes, closes), with duplicated
// deliveries (one after the other and at once), replays and reused keys, clock steps that
// expire holds (up to more than a day: keys and finished hold ids are new again), restarts on
// the same data dir (some with a command in flight), and writers batching 0 or 2 ms. Every reply
// must match a plain reference model; once the transfer saga has settled, every balance must
// match it, money must sum to zero per currency, nobody may be overdrawn, and the streams in the
// store must fold to exactly what the writers hold in memory.
import fc from 'fast-check';
import { ManualClock, type LedgerCommandMessage, type Reply } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard, globalSums, isOverdrawn, postedBalance, type Account, type LedgerShardState } from '@ledger/ledger';
import { auditLedger, readLedgerStreams } from './testing/ledger-audit';
import { WalletLedgerModel, type ModelOutcome } from './testing/wallet-ledger.model';
import { startHarness, tempDataDir, type Harness } from './testing/wallet-ledger.harness';

const SHARDS = 4;
const RUNS = 25;
const STEPS_MAX = 40;
/** Small, so restarts load a snapshot plus a tail. */
const SNAPSHOT_EVERY = '16';
/** The saga settles in milliseconds; a failing run (and each of its shrinks) waits this long. */
const SETTLE_TIMEOUT_MS = 5_000;
/**
 * A retry's reply is compared in full only where it is built from the first outcome's event
 * alone (transactions, errors). Wallet and hold replies show the state at the time of the retry
 * (see the report: `replyFor` reads the current account and hold), so for those only the fields
 * that cannot change are compared. Set to true to hold the service to "the same body".
 */
const STRICT_REPLAY_BODIES = false;

/** Deterministic wallet ids: the first `${prefix}-${n}` that lands on `shard`. */
function walletIdOnShard(prefix: string, shard: number): string {
  for (let n = 0; ; n++) if (accountShard(`${prefix}-${n}`, SHARDS) === shard) return `${prefix}-${n}`;
}

// Two USD wallets on shard 0 and on shard 3 (transfers within a shard), one on 1 and 2, and a JPY
// wallet on shard 1: a USD transfer to it is refused on shard 1 at once, and across shards by
// the destination, then reversed.
const WALLETS = [
  { id: walletIdOnShard('usd-a', 0), currency: 'USD' },
  { id: walletIdOnShard('usd-b', 0), currency: 'USD' },
  { id: walletIdOnShard('usd-c', 1), currency: 'USD' },
  { id: walletIdOnShard('usd-d', 2), currency: 'USD' },
  { id: walletIdOnShard('usd-e', 3), currency: 'USD' },
  { id: walletIdOnShard('usd-f', 3), currency: 'USD' },
  { id: walletIdOnShard('jpy-a', 1), currency: 'JPY' },
] as const;
/** Opened by an OpenWallet step, if at all: before that, a transfer to one is refused (at once, or by its shard and reversed). */
const LATE_WALLETS = [
  { id: walletIdOnShard('late-a', 0), currency: 'USD' },
  { id: walletIdOnShard('late-b', 2), currency: 'USD' },
] as const;
const HOLDS_PER_WALLET = 3;
const HOUR_MS = 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Steps.

/** A fixed amount, or one at the edge: what the wallet can spend (or the hold holds) plus `edge`. */
type AmountSpec = number | { readonly edge: -1 | 0 | 1 };

type CommandSpec =
  | { type: 'TopUp'; w: number; amount: number }
  | { type: 'Withdraw'; w: number; amount: AmountSpec }
  /** `late`: to a late wallet instead of wallet `to`. */
  | { type: 'Transfer'; from: number; to: number; late: number | null; amount: AmountSpec }
  | { type: 'OpenWallet'; late: number }
  /** `again` picks a hold placed before instead (null: hold `n` of wallet `w`): in use, or free a day after it finished. */
  | { type: 'PlaceHold'; w: number; n: number; again: number | null; amount: AmountSpec; timeoutMs: number | null }
  /** `pick` chooses among the holds placed so far in the run (null: one never placed). */
  | { type: 'CaptureHold'; pick: number | null; amount: AmountSpec }
  | { type: 'ReleaseHold'; pick: number | null; amount: AmountSpec | null }
  | { type: 'FreezeWallet'; w: number }
  /** `pick` chooses among the wallets frozen now (null, or none frozen: wallet `w`). */
  | { type: 'UnfreezeWallet'; pick: number | null; w: number }
  /** `drain`: everything it can spend withdrawn first (once what is in flight to it has landed), so the close can go through. */
  | { type: 'CloseWallet'; w: number; drain: boolean };

type Delivery = 'once' | 'twice' | 'concurrently';

type Step =
  | { kind: 'command'; command: CommandSpec; delivery: Delivery }
  /** Sends an earlier command again with its key. */
  | { kind: 'replay'; pick: number }
  /** Sends a different command under an earlier command's key. */
  | { kind: 'reuse'; pick: number }
  /** Closes and starts the service on the same data dir; with a command sent just before closing. */
  | { kind: 'restart'; inFlight: CommandSpec | null }
  | { kind: 'advance'; ms: number };

const wallet = fc.nat({ max: WALLETS.length - 1 });
const holder = fc.constantFrom(0, 2, 4, 6);
const hold = fc.nat({ max: HOLDS_PER_WALLET - 1 });
const placedHold = fc.option(fc.nat(), { nil: null, freq: 6 });
/** Mostly a random amount up to `max`; sometimes exactly at the edge, where an off-by-one shows. */
const amountUpTo = (max: number): fc.Arbitrary<AmountSpec> =>
  fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max }) }, { weight: 1, arbitrary: fc.record({ edge: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) });
const command: fc.Arbitrary<CommandSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('TopUp' as const), w: wallet, amount: fc.integer({ min: 1, max: 2_000 }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('Withdraw' as const), w: wallet, amount: amountUpTo(2_000) }) },
  {
    weight: 6,
    arbitrary: fc
      .record({ from: wallet, offset: fc.integer({ min: 1, max: WALLETS.length - 1 }), late: fc.option(fc.nat({ max: LATE_WALLETS.length - 1 }), { nil: null, freq: 6 }), amount: amountUpTo(1_200) })
      .map(({ from, offset, late, amount }) => ({ type: 'Transfer' as const, from, to: (from + offset) % WALLETS.length, late, amount })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('PlaceHold' as const),
      w: holder,
      n: hold,
      again: fc.option(fc.nat(), { nil: null, freq: 3 }),
      amount: amountUpTo(300),
      timeoutMs: fc.option(fc.constantFrom(5_000, 30_000, 60_000), { nil: null }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('CaptureHold' as const), pick: placedHold, amount: amountUpTo(300) }) },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('ReleaseHold' as const), pick: placedHold, amount: fc.option(amountUpTo(200), { nil: null }) }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('FreezeWallet' as const), w: wallet }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('UnfreezeWallet' as const), pick: fc.option(fc.nat(), { nil: null, freq: 4 }), w: wallet }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('CloseWallet' as const), w: wallet, drain: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('OpenWallet' as const), late: fc.nat({ max: LATE_WALLETS.length - 1 }) }) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 24,
    arbitrary: fc.record({
      kind: fc.constant('command' as const),
      command,
      delivery: fc.constantFrom<Delivery>('once', 'once', 'once', 'twice', 'concurrently'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuse' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), inFlight: fc.option(command, { nil: null, freq: 2 }) }) },
  // Half a day (the saga's late check) and more than a day (keys and finished holds forgotten) too.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1_000, 30_000, 61_000, 13 * HOUR_MS, 25 * HOUR_MS, 25 * HOUR_MS) }) },
);

function holdId(w: number, n: number): string {
  return `${WALLETS[w].id}:hold-${n}`;
}

function holderOf(id: string): number {
  return WALLETS.findIndex((each) => id.startsWith(`${each.id}:`));
}

/** What a step's spec is resolved against: the run so far, as the model sees it. */
interface Picks {
  /** Ids of the holds placed so far, in order. */
  readonly placed: readonly string[];
  /** Wallets frozen now. */
  readonly frozen: readonly string[];
  /** What a wallet can spend once everything in flight has landed. */
  spendable(walletId: string): bigint;
  /** What a hold still reserves (0 when it is not pending). */
  held(holdId: string): bigint;
}

function amountOf(spec: AmountSpec, edgeOf: () => bigint): string {
  if (typeof spec === 'number') return String(spec);
  const amount = edgeOf() + BigInt(spec.edge);
  return String(amount > 0n ? amount : 1n);
}

function toMessage(spec: CommandSpec, picks: Picks): LedgerCommandMessage {
  switch (spec.type) {
    case 'TopUp':
      return { type: 'TopUp', walletId: WALLETS[spec.w].id, amount: String(spec.amount) };
    case 'Withdraw': {
      const walletId = WALLETS[spec.w].id;
      return { type: 'Withdraw', walletId, amount: amountOf(spec.amount, () => picks.spendable(walletId)) };
    }
    case 'Transfer': {
      const [fromWalletId, toWalletId] = [WALLETS[spec.from].id, spec.late === null ? WALLETS[spec.to].id : LATE_WALLETS[spec.late].id];
      return { type: 'Transfer', fromWalletId, toWalletId, amount: amountOf(spec.amount, () => picks.spendable(fromWalletId)) };
    }
    case 'PlaceHold': {
      const id = spec.again === null || picks.placed.length === 0 ? holdId(spec.w, spec.n) : picks.placed[spec.again % picks.placed.length];
      const walletId = WALLETS[holderOf(id)].id;
      return {
        type: 'PlaceHold',
        holdId: id,
        walletId,
        amount: amountOf(spec.amount, () => picks.spendable(walletId)),
        ...(spec.timeoutMs === null ? {} : { timeoutMs: spec.timeoutMs }),
      };
    }
    case 'CaptureHold':
    case 'ReleaseHold': {
      const { placed } = picks;
      const id = spec.pick === null || placed.length === 0 ? `${WALLETS[0].id}:never-placed` : placed[spec.pick % placed.length];
      const walletId = WALLETS[Math.max(0, holderOf(id))].id;
      const amount = spec.amount === null ? undefined : amountOf(spec.amount, () => picks.held(id));
      if (spec.type === 'CaptureHold') return { type: 'CaptureHold', holdId: id, walletId, amount: amount ?? '1' };
      return { type: 'ReleaseHold', holdId: id, walletId, ...(amount === undefined ? {} : { amount }) };
    }
    case 'FreezeWallet':
      return { type: 'FreezeWallet', walletId: WALLETS[spec.w].id };
    case 'CloseWallet':
      return { type: 'CloseWallet', walletId: WALLETS[spec.w].id };
    case 'OpenWallet': {
      const { id, currency } = LATE_WALLETS[spec.late];
      return { type: 'OpenWallet', walletId: id, ownerId: `owner-${id}`, currency };
    }
    case 'UnfreezeWallet': {
      const { frozen } = picks;
      return { type: 'UnfreezeWallet', walletId: spec.pick === null || frozen.length === 0 ? WALLETS[spec.w].id : frozen[spec.pick % frozen.length] };
    }
  }
}

/** Another command for the same shard under the same key: a reused key, not a retry. */
function altered(message: LedgerCommandMessage): LedgerCommandMessage {
  switch (message.type) {
    case 'FreezeWallet':
    case 'CloseWallet':
      return { type: 'UnfreezeWallet', walletId: message.walletId };
    case 'OpenWallet':
      return { ...message, ownerId: `${message.ownerId}-other` };
    case 'UnfreezeWallet':
      return { type: 'FreezeWallet', walletId: message.walletId };
    case 'ReleaseHold':
      return { ...message, amount: String(BigInt(message.amount ?? '0') + 1n) };
    case 'TopUp':
    case 'Withdraw':
    case 'Transfer':
    case 'PlaceHold':
    case 'CaptureHold':
      return { ...message, amount: String(BigInt(message.amount) + 1n) };
    default:
      throw new Error(`not generated: ${message.type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// What the replies and the state must look like.

function outcomeOfReply(reply: Reply<unknown>): ModelOutcome {
  return reply.ok ? { ok: true } : { ok: false, code: reply.error.code };
}

/** The part of a reply a retry must repeat (all of it when STRICT_REPLAY_BODIES). */
function repeatable(reply: Reply<unknown>): unknown {
  if (STRICT_REPLAY_BODIES || !reply.ok) return reply;
  const value = reply.value as Record<string, unknown>;
  // Transactions and holds are built from the first event alone: all of it.
  if ('kind' in value || 'holdId' in value) return reply;
  // A wallet reply: its status is the first outcome's; a freeze, unfreeze or close shows the balance as it is now.
  return { ok: true, wallet: [value.id, value.ownerId, value.currency, value.status, value.createdAt] };
}

function states(h: Harness): LedgerShardState[] {
  return Array.from({ length: SHARDS }, (_, shard) => h.ledger.service.writer(shard)!.currentState);
}

function account(h: Harness, walletId: string): Account {
  const found = h.ledger.service.writer(accountShard(walletId, SHARDS))!.currentState.accounts.get(walletId);
  if (found === undefined) throw new Error(`no wallet ${walletId} in the service`);
  return found;
}

/** Which paths the runs went through, so a pass means something. */
const tally = new Map<string, number>();
const count = (name: string) => tally.set(name, (tally.get(name) ?? 0) + 1);

// ---------------------------------------------------------------------------------------------

class Run {
  private h!: Harness;
  private readonly clock = new ManualClock();
  private readonly dataDir = tempDataDir();
  private readonly model = new WalletLedgerModel(this.clock.nowMs());

  /** `batchWaitMs`: the writers' BATCH_WAIT_MS, so concurrent commands share a batch. */
  constructor(private readonly batchWaitMs: number) {}
  private readonly history: { message: LedgerCommandMessage; key: string }[] = [];
  private readonly firstReplies = new Map<string, Reply<unknown>>();
  private keys = 0;

  async start(): Promise<void> {
    this.h = await this.startService();
    for (const [index, { id, currency }] of WALLETS.entries()) {
      const reply = await this.h.send({ type: 'OpenWallet', walletId: id, ownerId: `owner-${index}`, currency }, `open-${id}`);
      expect(reply).toMatchObject({ ok: true });
      this.model.openWallet(id, currency, accountShard(id, SHARDS));
      // Some money to start with, so most debits in the sequence go through.
      await this.execute({ type: 'TopUp', walletId: id, amount: '1000' }, `seed-${id}`, 'once', 'seeding');
    }
    for (const { id, currency } of LATE_WALLETS) this.model.openWallet(id, currency, accountShard(id, SHARDS), 'unopened');
  }

  async close(): Promise<void> {
    await this.h?.close({ remove: true });
  }

  async step(index: number, step: Step): Promise<void> {
    const where = `step ${index} (${JSON.stringify(step)})`;
    switch (step.kind) {
      case 'command':
        if (step.command.type === 'CloseWallet' && step.command.drain) await this.drain(WALLETS[step.command.w].id, where);
        // A transfer to it still in flight would land or come back depending on when its in leg comes: let them all land first.
        if (step.command.type === 'OpenWallet') for (const walletId of this.model.wallets.keys()) await this.settleWallet(walletId, where);
        await this.execute(toMessage(step.command, this.picks()), `key-${++this.keys}`, step.delivery, where);
        break;
      case 'replay': {
        if (this.history.length === 0) return;
        const { message, key } = this.history[step.pick % this.history.length];
        count('replayed');
        await this.execute(message, key, 'once', `${where} replaying ${key}`);
        break;
      }
      case 'reuse': {
        if (this.history.length === 0) return;
        const { message, key } = this.history[step.pick % this.history.length];
        await this.execute(altered(message), key, 'once', `${where} reusing ${key}`);
        break;
      }
      case 'restart':
        await this.restart(step.inFlight === null ? undefined : toMessage(step.inFlight, this.picks()), where);
        break;
      case 'advance': {
        this.clock.advance(step.ms);
        const expired = this.model.advance(step.ms);
        if (expired.length > 0) count('holds expired');
        await waitFor(`${where}: holds ${expired.join(', ')} expired by the sweep`, () =>
          expired.every((id) => this.h.ledger.service.writer(accountShard(this.model.holds.get(id)!.walletId, SHARDS))!.currentState.holds.get(id)?.status === 'expired'),
        );
        break;
      }
    }
    this.expectBalancesWithinFlight(where);
  }

  private picks(): Picks {
    const { model } = this;
    return {
      placed: [...model.holds.keys()],
      frozen: [...model.wallets.values()].filter((each) => each.status === 'frozen').map((each) => each.id),
      spendable: (walletId) => model.wallet(walletId).posted - model.wallet(walletId).pending,
      held: (id) => model.holds.get(id)?.held ?? 0n,
    };
  }

  /** Sends a command as the model says it must come out, with the delivery's duplicates. */
  private async execute(message: LedgerCommandMessage, key: string, delivery: Delivery, where: string): Promise<void> {
    await this.settleIfAmbiguous(message, key, where);
    // A key a day old is new again: its reply is a new command's, not the first one's.
    if (!this.model.remembers(message, key) && this.firstReplies.delete(`${this.model.wallet(primaryWallet(message)).shard}|${key}`)) count('key new again a day later');
    if (message.type === 'PlaceHold' && this.model.holds.has(message.holdId) && this.model.knownHold(message.holdId) === undefined) count('hold id placed again a day after it finished');
    const expected = this.model.apply(message, key);
    const send = () => this.h.send(message, key);
    const replies = delivery === 'once' ? [await send()] : delivery === 'twice' ? [await send(), await send()] : await Promise.all([send(), send()]);
    if (delivery !== 'once') count(`delivered ${delivery}`);
    this.check(message, key, expected, replies, where, this.model.remembers(message, key));
  }

  /** `recorded`: the outcome is the key's first (an unrecorded refusal is none: a retry is decided anew). */
  private check(message: LedgerCommandMessage, key: string, expected: ModelOutcome, replies: Reply<unknown>[], where: string, recorded: boolean): void {
    for (const reply of replies) {
      if (!reply.ok && reply.error.code === 'unavailable') throw new Error(`${where}: unavailable: ${reply.error.message}`);
      expect({ where, outcome: outcomeOfReply(reply) }).toEqual({ where, outcome: expected });
    }
    count(`${message.type} ${expected.ok ? 'ok' : expected.code}`);
    if (message.type === 'Transfer' && expected.ok) {
      const [from, to] = [this.model.wallet(message.fromWalletId), this.model.wallet(message.toWalletId)];
      count(from.shard === to.shard ? 'transfer within a shard' : from.currency === to.currency ? 'transfer across shards' : 'transfer across shards and currencies, reversed');
    }
    for (const reply of replies.slice(1)) expect({ where, duplicate: repeatable(reply) }).toEqual({ where, duplicate: repeatable(replies[0]) });
    const slot = `${this.model.wallet(primaryWallet(message)).shard}|${key}`;
    const first = this.firstReplies.get(slot);
    if (!recorded) {
      this.history.push({ message, key });
    } else if (first === undefined) {
      this.firstReplies.set(slot, replies[0]);
      this.history.push({ message, key });
    } else if (!(expected.ok === false && expected.code === 'idempotency_key_reuse')) {
      expect({ where, retry: repeatable(replies[0]) }).toEqual({ where, retry: repeatable(first) });
    }
  }

  /** Withdraws what the wallet can spend, once what is in flight to it has landed. */
  private async drain(walletId: string, where: string): Promise<void> {
    await this.settleWallet(walletId, where);
    const spendable = this.picks().spendable(walletId);
    if (spendable > 0n) await this.execute({ type: 'Withdraw', walletId, amount: String(spendable) }, `key-${++this.keys}`, 'once', `${where} draining`);
  }

  /** A debit whose outcome depends on money still in flight waits until the wallet has it all. */
  private async settleIfAmbiguous(message: LedgerCommandMessage, key: string, where: string): Promise<void> {
    const walletId = this.model.debitedWallet(message);
    if (walletId === undefined || !this.model.isAmbiguous(message, key)) return;
    count('waited for money in flight');
    await this.settleWallet(walletId, where);
  }

  private async settleWallet(walletId: string, where: string): Promise<void> {
    if (this.model.wallet(walletId).status === 'unopened') return; // nothing lands on it: what was sent to it comes back
    const expected = this.model.wallet(walletId).posted;
    await waitFor(`${where}: wallet ${walletId} receiving what is in flight to it (${expected})`, () => postedBalance(account(this.h, walletId)) === expected, {
      timeoutMs: SETTLE_TIMEOUT_MS,
    });
    this.model.landed(walletId);
  }

  private async restart(inFlight: LedgerCommandMessage | undefined, where: string): Promise<void> {
    let pending: Promise<unknown> | undefined;
    let key = '';
    if (inFlight !== undefined) {
      key = `key-${++this.keys}`;
      await this.settleIfAmbiguous(inFlight, key, where);
      // Sent, not awaited: closing answers it with an error or lets it through; the client
      // cannot tell, so it retries with the same key after the restart.
      pending = this.h.send(inFlight, key).catch((error: unknown) => error);
    }
    await this.h.close();
    await pending;
    this.h = await this.startService();
    count(inFlight === undefined ? 'restarted' : 'restarted with a command in flight');
    if (inFlight !== undefined) await this.execute(inFlight, key, 'once', `${where} retried after the restart`);
  }

  private startService(): Promise<Harness> {
    return startHarness({ dataDir: this.dataDir, clock: this.clock, env: { SNAPSHOT_EVERY, BATCH_WAIT_MS: String(this.batchWaitMs) } });
  }

  /** Pending exact; posted between "nothing in flight landed" and "everything landed". */
  private expectBalancesWithinFlight(where: string): void {
    for (const modelled of this.model.wallets.values()) {
      if (modelled.status === 'unopened') continue;
      const actual = account(this.h, modelled.id);
      const posted = postedBalance(actual);
      const landedAtLeast = modelled.posted - modelled.incoming;
      expect({ where, wallet: modelled.id, pending: actual.debitsPending, postedInRange: posted >= landedAtLeast && posted <= modelled.posted }).toEqual({
        where,
        wallet: modelled.id,
        pending: modelled.pending,
        postedInRange: true,
      });
    }
  }

  /** After the sequence: the saga settles, then balances, statuses and holds equal the model's. */
  async finish(): Promise<void> {
    for (const walletId of this.model.wallets.keys()) await this.settleWallet(walletId, 'after the sequence');
    for (const { id } of LATE_WALLETS) if (this.model.wallet(id).status === 'unopened') expect(states(this.h)[accountShard(id, SHARDS)].accounts.has(id)).toBe(false);
    await waitFor('every transit pair netted out', () => this.inFlight().every(([, amount]) => amount === 0n), { timeoutMs: SETTLE_TIMEOUT_MS });

    for (const modelled of this.model.wallets.values()) {
      if (modelled.status === 'unopened') continue;
      const actual = account(this.h, modelled.id);
      expect({ wallet: modelled.id, posted: postedBalance(actual), pending: actual.debitsPending, status: actual.status }).toEqual({
        wallet: modelled.id,
        posted: modelled.posted,
        pending: modelled.pending,
        status: modelled.status,
      });
    }
    for (const modelled of this.model.holds.values()) {
      // One finished a day ago is forgotten by the service as later events come.
      if (this.model.knownHold(modelled.id) === undefined) continue;
      const actual = this.h.ledger.service.writer(accountShard(modelled.walletId, SHARDS))!.currentState.holds.get(modelled.id);
      expect({ hold: modelled.id, status: actual?.status, held: actual?.heldAmount }).toEqual({ hold: modelled.id, status: modelled.status, held: modelled.held });
    }

    // Invariants over the whole service: per currency, debits equal credits (posted and pending).
    const totals = new Map<string, { posted: bigint; pending: bigint }>();
    for (const state of states(this.h)) {
      for (const [currency, sums] of globalSums(state)) {
        const total = totals.get(currency) ?? { posted: 0n, pending: 0n };
        totals.set(currency, { posted: total.posted + sums.posted, pending: total.pending + sums.pending });
      }
      for (const acc of state.accounts.values()) expect({ account: acc.id, overdrawn: isOverdrawn(acc) }).toEqual({ account: acc.id, overdrawn: false });
    }
    for (const [currency, total] of totals) expect({ currency, ...total }).toEqual({ currency, posted: 0n, pending: 0n });

    // The store says the same as memory once the writers' last commits land (a writer's state runs
    // ahead of its append on the store's writer thread): the streams fold to the states, audit clean.
    await waitFor(
      'the store to fold to the writers\' states',
      async () => {
        const audit = auditLedger(await readLedgerStreams(this.h.store, SHARDS));
        expect(audit.problems).toEqual([]);
        expect(audit.unsettledOutLegs.size).toBe(0);
        audit.states.forEach((folded, shard) => expect(folded).toEqual(states(this.h)[shard]));
      },
      { timeoutMs: SETTLE_TIMEOUT_MS },
    );
  }

  private inFlight(): [string, bigint][] {
    const pairs: [string, bigint][] = [];
    states(this.h).forEach((state, src) => {
      for (const acc of state.accounts.values()) {
        const match = /^sys:transit-to-(\d+):([A-Z]{3}):(\d+)$/.exec(acc.id);
        if (!match) continue;
        const dst = Number(match[1]);
        const landed = states(this.h)[dst].accounts.get(`sys:transit-from-${src}:${match[2]}:${dst}`);
        pairs.push([acc.id, postedBalance(acc) - (landed === undefined ? 0n : postedBalance(landed))]);
      }
    });
    return pairs;
  }
}

function primaryWallet(message: LedgerCommandMessage): string {
  if (message.type === 'Transfer') return message.fromWalletId;
  if ('walletId' in message) return message.walletId;
  throw new Error(`not generated: ${message.type}`);
}

const PROPERTY_SEED = Number(process.env.LEDGER_PROPERTY_SEED ?? 4);

describe(`wallet-ledger through the transport, over ${RUNS} random command streams across ${SHARDS} shards`, () => {
  it('answers as the reference model, and settles to its balances with zero global sums and nobody overdrawn', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: STEPS_MAX, size: 'max' }), fc.constantFrom(0, 0, 2), async (steps, batchWaitMs) => {
        const run = new Run(batchWaitMs);
        try {
          await run.start();
          for (const [index, each] of steps.entries()) await run.step(index, each);
          await run.finish();
        } finally {
          await run.close();
        }
      }),
      // A failure is shrunk for at most about a minute, then reported as far as it got. The seed is
      // fixed so the coverage check below is stable; LEDGER_PROPERTY_SEED explores other streams.
      { numRuns: RUNS, interruptAfterTimeLimit: 60_000, seed: PROPERTY_SEED },
    );

    const unreached = [
      'TopUp ok',
      'Withdraw ok',
      'Withdraw insufficient_funds',
      'Withdraw wallet_not_active',
      'Transfer ok',
      'Transfer insufficient_funds',
      'Transfer currency_mismatch',
      'Transfer wallet_not_active',
      'PlaceHold ok',
      'PlaceHold validation_failed',
      'CaptureHold ok',
      'CaptureHold not_found',
      'CaptureHold amount_exceeds_hold',
      'CaptureHold hold_not_pending',
      'ReleaseHold ok',
      'FreezeWallet ok',
      'FreezeWallet wallet_not_active',
      'UnfreezeWallet ok',
      'UnfreezeWallet validation_failed',
      'CloseWallet ok',
      'OpenWallet ok',
      'OpenWallet account_exists',
      'Transfer not_found',
      'CloseWallet balance_not_zero',
      'replayed',
      'delivered twice',
      'delivered concurrently',
      'restarted',
      'restarted with a command in flight',
      'holds expired',
      'key new again a day later',
      'hold id placed again a day after it finished',
      'waited for money in flight',
      'transfer within a shard',
      'transfer across shards',
      'transfer across shards and currencies, reversed',
    ].filter((name) => !tally.has(name));
    if (process.env.LEDGER_PROPERTY_TALLY) console.log([...tally].sort().map(([name, n]) => `${name}: ${n}`).join('\n'));
    // Coverage is the default seed's: another seed's 25 streams may miss a rare outcome (a same-shard currency mismatch) with nothing wrong.
    if (process.env.LEDGER_PROPERTY_SEED !== undefined) return;
    expect(unreached).toEqual([]);
    expect([...tally.keys()].some((name) => name.endsWith('idempotency_key_reuse'))).toBe(true);
  }, 120_000);
});
