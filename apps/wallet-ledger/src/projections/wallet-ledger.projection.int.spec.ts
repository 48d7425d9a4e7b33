import type Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openProjectionDb, projectionApplier, ProjectionRunner, SqliteEventStore } from '@ledger/event-store';
import { availableBalance, type Account, type LedgerCommand } from '@ledger/ledger';
import { entry, LedgerHistory, openSystem, openWallet, type TestClock } from './testing/ledger-history';
import { shardOfStream, walletLedgerProjection } from './wallet-ledger.projection';
import { getAccountSums, getWallet, listTransactions, TRANSACTIONS_PAGE_LIMIT_MAX, type TransactionLineView } from './wallet-ledger.queries';

const WAIT_MS = 10_000;
const T0 = Date.UTC(2026, 0, 1);
const SHARDS = 2;
const WALLETS = 8;
const ROUNDS = 6;
const OPERATIONS_PER_ROUND = 40;
const PROJECTION_TABLES = ['account_balances_history', 'accounts', 'checkpoints', 'transaction_lines'];

/** A seeded pseudo-random generator (mulberry32), so a failure replays the same history. */
function seededRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min: number, max: number): number => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)],
  };
}

/** Every table of a projection database, every row, in a fixed order. */
function dump(db: Database.Database): Record<string, unknown[]> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
  const result: Record<string, unknown[]> = {};
  for (const table of tables) {
    const columns = (db.prepare(`PRAGMA table_info("${table}")`).all() as unknown[]).length;
    const orderBy = Array.from({ length: columns }, (_, index) => index + 1).join(', ');
    result[table] = db.prepare(`SELECT * FROM "${table}" ORDER BY ${orderBy}`).safeIntegers(true).all();
  }
  return result;
}

function allLines(db: Database.Database, walletId: string): TransactionLineView[] {
  const items: TransactionLineView[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = listTransactions(db, walletId, { limit: TRANSACTIONS_PAGE_LIMIT_MAX, cursor });
    if (!page.ok) throw new Error(JSON.stringify(page.error));
    items.push(...page.value.items);
    if (page.value.nextCursor === null) return items;
    cursor = page.value.nextCursor;
  }
}

const wallets = Array.from({ length: WALLETS }, (_, index) => ({ id: `wallet-${index}`, shard: index % SHARDS, ownerId: `user-${index % 3}` }));
const funding = (shard: number) => `sys:funding:USD:${shard}`;
const withdrawals = (shard: number) => `sys:withdrawals:USD:${shard}`;
const clearing = (shard: number) => `sys:card-clearing:USD:${shard}`;
const transitTo = (destination: number, source: number) => `sys:transit-to-${destination}:USD:${source}`;
const transitFrom = (source: number, destination: number) => `sys:transit-from-${source}:USD:${destination}`;

/**
 * Random but valid-or-rejected traffic through the real decider: top-ups, withdrawals, transfers
 * on one shard and across shards (out leg, then in leg), holds placed, captured, released in
 * part or whole and expired, freezes and unfreezes; rejected commands are recorded as the
 * writer records them.
 */
class Traffic {
  private sequence = 0;
  private readonly random = seededRandom(20_260_101);

  constructor(
    private readonly history: LedgerHistory,
    private readonly clock: TestClock,
  ) {}

  async open(): Promise<void> {
    for (let shard = 0; shard < SHARDS; shard++) {
      const other = (shard + 1) % SHARDS;
      const system = [funding(shard), withdrawals(shard), clearing(shard), transitTo(other, shard), transitFrom(other, shard)].map(openSystem);
      const own = wallets.filter((wallet) => wallet.shard === shard).map((wallet) => openWallet(wallet.id, wallet.ownerId));
      await this.history.run(shard, [...system, ...own]);
    }
  }

  async round(operations: number): Promise<void> {
    for (let index = 0; index < operations; index++) {
      this.clock.ms += this.random.int(1, 90) * 1_000;
      await this.operation();
    }
  }

  /** Ends the history with a hold still open, so a pending line is among the rows compared. */
  async holdStillPending(): Promise<void> {
    const wallet = wallets.find((candidate) => {
      const account = this.history.state(candidate.shard).accounts.get(candidate.id) as Account;
      return account.status === 'active' && availableBalance(account) > 0n;
    });
    if (wallet === undefined) throw new Error('no wallet can hold');
    const holdId = this.key('hold');
    const expiresAtMs = this.clock.ms + 60 * 60 * 1_000;
    await this.history.run(wallet.shard, [
      { type: 'PlaceHold', idempotencyKey: holdId, holdId, debitAccountId: wallet.id, creditAccountId: clearing(wallet.shard), amount: 1n, expiresAtMs },
    ]);
  }

  private key(name: string): string {
    this.sequence += 1;
    return `${name}-${this.sequence}`;
  }

  private available(walletId: string, shard: number): bigint {
    return availableBalance(this.history.state(shard).accounts.get(walletId) as Account);
  }

  private async operation(): Promise<void> {
    const { random } = this;
    const wallet = random.pick(wallets);
    const { shard } = wallet;
    const run = (commands: LedgerCommand[]) => this.history.run(shard, commands, { rejections: 'append' });
    const amount = BigInt(random.int(1, 4_000));
    switch (random.int(0, 9)) {
      case 0:
      case 1: {
        const id = this.key('top-up');
        await run([entry(id, id, 'top_up', funding(shard), wallet.id, amount, { reference: `ref-${id}` })]);
        return;
      }
      case 2: {
        const id = this.key('withdrawal');
        await run([entry(id, id, 'withdrawal', wallet.id, withdrawals(shard), amount)]); // may be refused: insufficient funds, frozen
        return;
      }
      case 3: {
        const to = random.pick(wallets.filter((other) => other.shard === shard && other.id !== wallet.id));
        const id = this.key('transfer');
        await run([entry(id, id, 'transfer', wallet.id, to.id, amount, { transferId: id, fromWalletId: wallet.id, toWalletId: to.id })]);
        return;
      }
      case 4: {
        const to = random.pick(wallets.filter((other) => other.shard !== shard));
        const available = this.available(wallet.id, shard);
        if (available === 0n || this.history.state(shard).accounts.get(wallet.id)?.status !== 'active') return;
        const moved = amount > available ? available : amount;
        const id = this.key('cross');
        const references = { transferId: id, fromWalletId: wallet.id, toWalletId: to.id };
        await this.history.run(shard, [entry(`${id}:out`, id, 'transfer', wallet.id, transitTo(to.shard, shard), moved, { ...references, leg: 'out' })]);
        await this.history.run(to.shard, [entry(`${id}:in`, id, 'transfer', transitFrom(shard, to.shard), to.id, moved, { ...references, leg: 'in' })]);
        return;
      }
      case 5: {
        const holdId = this.key('hold');
        const expiresAtMs = this.clock.ms + random.int(30, 300) * 1_000;
        await run([{ type: 'PlaceHold', idempotencyKey: holdId, holdId, debitAccountId: wallet.id, creditAccountId: clearing(shard), amount, expiresAtMs }]);
        return;
      }
      default: {
        const pending = [...this.history.state(shard).holds.values()].filter((hold) => hold.status === 'pending');
        if (pending.length === 0) {
          const frozen = this.history.state(shard).accounts.get(wallet.id)?.status === 'frozen';
          const key = this.key('status');
          await run([{ type: frozen ? 'UnfreezeAccount' : 'FreezeAccount', idempotencyKey: key, accountId: wallet.id }]);
          return;
        }
        const action = random.int(0, 3);
        const expired = pending.filter((hold) => hold.expiresAtMs <= this.clock.ms);
        const hold = action === 3 && expired.length > 0 ? random.pick(expired) : random.pick(pending);
        const key = this.key(`settle-${hold.id}`);
        const part = BigInt(random.int(1, Number(hold.heldAmount)));
        switch (action) {
          case 0:
            return void (await run([{ type: 'CaptureHold', idempotencyKey: key, holdId: hold.id, amount: part }]));
          case 1:
            return void (await run([{ type: 'ReleaseHold', idempotencyKey: key, holdId: hold.id, amount: part }]));
          case 2:
            return void (await run([{ type: 'ReleaseHold', idempotencyKey: key, holdId: hold.id }]));
          default:
            return void (await run([{ type: 'ExpireHold', idempotencyKey: key, holdId: hold.id }])); // refused before its time
        }
      }
    }
  }
}

describe('wallet-ledger projection: rebuild', () => {
  let dir: string;
  let store: SqliteEventStore;
  const dbs: Database.Database[] = [];
  const runners: ProjectionRunner[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wallet-ledger-rebuild-'));
  });

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
    await store.close();
    for (const db of dbs.splice(0)) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function project(name: string, batchMax?: number) {
    const db = openProjectionDb(join(dir, name));
    dbs.push(db);
    const runner = new ProjectionRunner({ store, db, projection: walletLedgerProjection, batchMax });
    runners.push(runner);
    await runner.start();
    return { db, runner };
  }

  it('from position 0 equals, row for row, the projection built while the events were appended', async () => {
    const clock: TestClock = { ms: T0 };
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), nowMs: () => clock.ms });
    const history = new LedgerHistory(store, clock);
    const traffic = new Traffic(history, clock);
    // Small batches, live from the first event, sometimes waited for and sometimes not.
    const live = await project('live.sqlite', 7);
    await traffic.open();
    for (let round = 0; round < ROUNDS; round++) {
      await traffic.round(OPERATIONS_PER_ROUND);
      if (round % 2 === 0) expect(await live.runner.waitUntil(await store.headPosition(), WAIT_MS)).toBe(true);
    }
    await traffic.holdStillPending();
    const head = await store.headPosition();
    expect(await live.runner.waitUntil(head, WAIT_MS)).toBe(true);

    const rebuilt = await project('rebuilt.sqlite');
    expect(await rebuilt.runner.waitUntil(head, WAIT_MS)).toBe(true);
    // One event per batch: what `apply` alone leaves, against which the page-at-once path is held.
    const single = await project('single.sqlite', 1);
    expect(await single.runner.waitUntil(head, WAIT_MS)).toBe(true);

    const liveRows = dump(live.db);
    expect(Object.keys(liveRows)).toEqual(PROJECTION_TABLES);
    for (const table of PROJECTION_TABLES) expect(liveRows[table].length).toBeGreaterThan(0);
    expect(dump(rebuilt.db)).toEqual(liveRows);
    expect(dump(single.db)).toEqual(liveRows);
    expect(rebuilt.runner.position()).toBe(head); // the last event is a ledger event

    // The history exercised what the rules are about.
    const statuses = live.db.prepare('SELECT DISTINCT kind || \':\' || status FROM transaction_lines ORDER BY 1').pluck().all();
    expect(statuses).toEqual(expect.arrayContaining(['card_capture:posted', 'card_hold:pending', 'card_hold:voided', 'top_up:posted', 'transfer:posted', 'withdrawal:posted']));
    const events = await store.readAll({ maxCount: 1_000 });
    expect(events.length).toBeLessThan(1_000);
    expect(new Set(events.map((event) => event.type))).toEqual(
      new Set(['AccountOpened', 'EntryPosted', 'HoldPlaced', 'HoldCaptured', 'HoldReleased', 'HoldExpired', 'AccountFrozen', 'AccountUnfrozen', 'CommandRejected'].map((name) => `ledger.${name}.v1`)),
    );
    const releases = events.filter((event) => event.type === 'ledger.HoldReleased.v1').map((event) => (event.data as { heldAmount: string }).heldAmount);
    expect(releases).toContain('0');
    expect(releases.some((held) => held !== '0')).toBe(true);
    expect(events.some((event) => (event.data as { references?: { leg?: string } }).references?.leg === 'in')).toBe(true);

    // And it agrees with the decider, and each wallet's lines add up to its balance.
    for (let shard = 0; shard < SHARDS; shard++) {
      for (const account of history.state(shard).accounts.values()) {
        expect(getAccountSums(rebuilt.db, account.id)).toMatchObject({
          debitsPosted: account.debitsPosted.toString(),
          creditsPosted: account.creditsPosted.toString(),
          debitsPending: account.debitsPending.toString(),
          creditsPending: account.creditsPending.toString(),
        });
      }
    }
    for (const wallet of wallets) {
      const view = getWallet(rebuilt.db, wallet.id);
      const lines = allLines(rebuilt.db, wallet.id);
      const signed = (line: TransactionLineView) => (line.direction === 'credit' ? BigInt(line.amount) : -BigInt(line.amount));
      const posted = lines.filter((line) => line.status === 'posted').reduce((sum, line) => sum + signed(line), 0n);
      const pending = lines.filter((line) => line.status === 'pending').reduce((sum, line) => sum - signed(line), 0n);
      expect({ wallet: wallet.id, posted: posted.toString(), pending: pending.toString() }).toEqual({
        wallet: wallet.id,
        posted: view?.balance.posted,
        pending: view?.balance.pending,
      });
      const newestPosted = lines.find((line) => line.status === 'posted');
      if (newestPosted !== undefined) expect(newestPosted.balanceAfter).toBe(view?.balance.posted);
    }
  });
});

describe('wallet-ledger projection: a page rolled back after it was applied', () => {
  it('leaves nothing of it in memory: applied again, the rows equal a clean rebuild', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wallet-ledger-rollback-'));
    const clock: TestClock = { ms: T0 };
    const store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), nowMs: () => clock.ms });
    const dbs: Database.Database[] = [];
    try {
      const traffic = new Traffic(new LedgerHistory(store, clock), clock);
      await traffic.open();
      await traffic.round(OPERATIONS_PER_ROUND);
      const events = (await store.readAll({ maxCount: 1_000 })).filter((event) => event.streamId.startsWith('ledger-'));
      const half = Math.floor(events.length / 2);
      const [db, clean] = ['rolled-back.sqlite', 'clean.sqlite'].map((name) => openProjectionDb(join(dir, name)));
      dbs.push(db, clean);
      projectionApplier(clean, walletLedgerProjection).applyBatch(events);

      const applier = projectionApplier(db, walletLedgerProjection);
      applier.applyBatch(events.slice(0, half));
      // The page applies, then its checkpoint cannot be written: the whole page rolls back.
      db.exec("CREATE TEMP TRIGGER checkpoint_fails BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoint write failed'); END");
      expect(() => applier.applyBatch(events.slice(half))).toThrow('checkpoint write failed');
      db.exec('DROP TRIGGER checkpoint_fails');
      applier.applyBatch(events.slice(half));
      expect(dump(db)).toEqual(dump(clean));
    } finally {
      for (const db of dbs) db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shardOfStream', () => {
  it('reads the shard of ledger-{n} and nothing else', () => {
    expect(shardOfStream('ledger-0')).toBe(0);
    expect(shardOfStream('ledger-17')).toBe(17);
    for (const streamId of ['ledger-meta', 'ledger-', 'ledger-01', 'ledger-1x', 'ledgers-1', 'user-1']) expect(shardOfStream(streamId)).toBeUndefined();
  });
});
