import type Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toIsoTime, uuidv7 } from '@ledger/contracts';
import { expectedState, openProjectionDb, ProjectionRunner, SqliteEventStore } from '@ledger/event-store';
import type { CaptureHold, ExpireHold, FreezeAccount, PlaceHold, ReleaseHold } from '@ledger/ledger';
import { IDEMPOTENCY_WINDOW_MS } from '@ledger/ledger';
import { entry, LedgerHistory, openSystem, openWallet, type TestClock } from './testing/ledger-history';
import { transferReversalId } from '../domain/wallet-commands';
import { walletLedgerProjection } from './wallet-ledger.projection';
import {
  getAccountSums,
  getBalanceAt,
  getWallet,
  isTransferSettled,
  listTransactions,
  listWallets,
  TRANSACTIONS_PAGE_LIMIT_MAX,
  type TransactionLineView,
} from './wallet-ledger.queries';

const WAIT_MS = 10_000;
const T0 = Date.UTC(2026, 0, 1);
const MINUTE_MS = 60_000;
const at = (minutes: number): number => T0 + minutes * MINUTE_MS;
const iso = (minutes: number): string => toIsoTime(at(minutes));

const FUNDING = 'sys:funding:USD:0';
const WITHDRAWALS = 'sys:withdrawals:USD:0';
const CLEARING = 'sys:card-clearing:USD:0';
const TRANSIT_TO_1 = 'sys:transit-to-1:USD:0';
const TRANSIT_FROM_0 = 'sys:transit-from-0:USD:1';

const placeHold = (key: string, holdId: string, walletId: string, amount: bigint, expiresAtMs: number): PlaceHold => ({
  type: 'PlaceHold',
  idempotencyKey: key,
  holdId,
  debitAccountId: walletId,
  creditAccountId: CLEARING,
  amount,
  expiresAtMs,
});
const capture = (key: string, holdId: string, amount: bigint): CaptureHold => ({ type: 'CaptureHold', idempotencyKey: key, holdId, amount });
const release = (key: string, holdId: string, amount?: bigint): ReleaseHold =>
  amount === undefined ? { type: 'ReleaseHold', idempotencyKey: key, holdId } : { type: 'ReleaseHold', idempotencyKey: key, holdId, amount };
const expire = (key: string, holdId: string): ExpireHold => ({ type: 'ExpireHold', idempotencyKey: key, holdId });
const freeze = (key: string, accountId: string): FreezeAccount => ({ type: 'FreezeAccount', idempotencyKey: key, accountId });
const transferRefs = (transferId: string, from: string, to: string, leg?: string) => ({
  transferId,
  fromWalletId: from,
  toWalletId: to,
  ...(leg === undefined ? {} : { leg }),
});

/** A store, a projection database and a running projection in a temp directory. */
async function openProjected() {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-ledger-queries-'));
  const clock: TestClock = { ms: T0 };
  const store = new SqliteEventStore({ file: join(dir, 'events.sqlite'), nowMs: () => clock.ms });
  const db = openProjectionDb(join(dir, 'wallet-ledger.sqlite'));
  const runner = new ProjectionRunner({ store, db, projection: walletLedgerProjection });
  await runner.start();
  const history = new LedgerHistory(store, clock);
  return {
    clock,
    store,
    db,
    runner,
    history,
    async caughtUp(): Promise<void> {
      expect(await runner.waitUntil(await store.headPosition(), WAIT_MS)).toBe(true);
    },
    async close(): Promise<void> {
      await runner.stop();
      await store.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Projected = Awaited<ReturnType<typeof openProjected>>;

function lines(db: Database.Database, walletId: string, limit = TRANSACTIONS_PAGE_LIMIT_MAX): TransactionLineView[] {
  const page = listTransactions(db, walletId, { limit });
  if (!page.ok) throw new Error(JSON.stringify(page.error));
  return page.value.items;
}

describe('wallet-ledger projection and queries: one history on two shards', () => {
  let projected: Projected;
  let db: Database.Database;

  beforeAll(async () => {
    projected = await openProjected();
    ({ db } = projected);
    const { clock, history, store } = projected;
    clock.ms = at(0);
    await history.run(0, [
      openSystem(FUNDING),
      openSystem(WITHDRAWALS),
      openSystem(CLEARING),
      openSystem(TRANSIT_TO_1),
      openWallet('alice', 'user-a'),
      openWallet('alice-eur', 'user-a', 'EUR'),
      openWallet('bob', 'user-b'),
    ]);
    await history.run(1, [openSystem(TRANSIT_FROM_0), openWallet('carol', 'user-c')]);
    // Another stream under the prefix that holds no accounts: passed over.
    const meta = { eventId: uuidv7.next(), type: 'ledger.ShardsConfigured.v1', schemaVersion: 1, data: { shards: 2 } };
    await store.append('ledger-meta', [{ ...meta, metadata: { correlationId: 'c', causationId: 'c', actor: 'test', occurredAt: iso(0) } }], expectedState.any);
    clock.ms = at(1);
    await history.run(0, [entry('k-top-up', 'top-up-1', 'top_up', FUNDING, 'alice', 10_000n, { reference: 'ref-1' })]);
    clock.ms = at(2);
    await history.run(0, [entry('k-tr-1', 'tr-1', 'transfer', 'alice', 'bob', 2_500n, transferRefs('tr-1', 'alice', 'bob'))]);
    clock.ms = at(3);
    await history.run(0, [entry('k-tr-2-out', 'tr-2', 'transfer', 'alice', TRANSIT_TO_1, 1_000n, transferRefs('tr-2', 'alice', 'carol', 'out'))]);
    await history.run(1, [entry('k-tr-2-in', 'tr-2', 'transfer', TRANSIT_FROM_0, 'carol', 1_000n, transferRefs('tr-2', 'alice', 'carol', 'in'))]);
    clock.ms = at(4);
    await history.run(0, [placeHold('k-h1', 'h1', 'alice', 3_000n, at(60))]);
    clock.ms = at(5);
    await history.run(0, [capture('k-h1-capture', 'h1', 2_000n)]);
    clock.ms = at(6);
    await history.run(0, [placeHold('k-h2', 'h2', 'bob', 500n, at(10))]);
    clock.ms = at(7);
    await history.run(0, [release('k-h2-release', 'h2', 200n)]);
    clock.ms = at(8);
    await history.run(0, [placeHold('k-h3', 'h3', 'alice', 400n, at(60))]);
    clock.ms = at(9);
    await history.run(0, [release('k-h3-release', 'h3')]);
    clock.ms = at(11);
    await history.run(0, [expire('k-h2-expire', 'h2')]);
    clock.ms = at(12);
    await history.run(
      0,
      [entry('k-wd-1', 'wd-1', 'withdrawal', 'bob', WITHDRAWALS, 100n), entry('k-wd-2', 'wd-2', 'withdrawal', 'alice', WITHDRAWALS, 1_000_000n)],
      { rejections: 'append' },
    );
    clock.ms = at(13);
    await history.run(0, [freeze('k-freeze-bob', 'bob')]);
    await projected.caughtUp();
  });

  afterAll(async () => {
    await projected.close();
  });

  it('shows each wallet with its posted, pending and available balance and its status', () => {
    expect(getWallet(db, 'alice')).toEqual({
      id: 'alice',
      ownerId: 'user-a',
      currency: 'USD',
      status: 'active',
      balance: { posted: '4500', pending: '0', available: '4500' },
      createdAt: iso(0),
    });
    expect(getWallet(db, 'bob')).toEqual({
      id: 'bob',
      ownerId: 'user-b',
      currency: 'USD',
      status: 'frozen',
      balance: { posted: '2400', pending: '0', available: '2400' },
      createdAt: iso(0),
    });
    expect(getWallet(db, 'carol')?.balance).toEqual({ posted: '1000', pending: '0', available: '1000' });
    expect(getWallet(db, 'alice-eur')?.balance).toEqual({ posted: '0', pending: '0', available: '0' });
  });

  it('has no wallet for a system account or an unknown id', () => {
    expect(getWallet(db, FUNDING)).toBeUndefined();
    expect(getWallet(db, 'nobody')).toBeUndefined();
  });

  it("lists an owner's wallets in the order they were opened", () => {
    expect(listWallets(db, 'user-a').map((wallet) => [wallet.id, wallet.currency])).toEqual([
      ['alice', 'USD'],
      ['alice-eur', 'EUR'],
    ]);
    expect(listWallets(db, 'user-c').map((wallet) => wallet.id)).toEqual(['carol']);
    expect(listWallets(db, 'nobody')).toEqual([]);
  });

  it('gives the four sums of every account, system accounts on both shards included', () => {
    expect(getAccountSums(db, FUNDING)).toEqual({
      accountId: FUNDING,
      currency: 'USD',
      debitsPosted: '10000',
      creditsPosted: '0',
      debitsPending: '0',
      creditsPending: '0',
    });
    expect(getAccountSums(db, CLEARING)).toMatchObject({ creditsPosted: '2000', creditsPending: '0' });
    expect(getAccountSums(db, TRANSIT_TO_1)).toMatchObject({ creditsPosted: '1000' });
    expect(getAccountSums(db, TRANSIT_FROM_0)).toMatchObject({ debitsPosted: '1000' });
    expect(getAccountSums(db, WITHDRAWALS)).toMatchObject({ creditsPosted: '100' });
    expect(getAccountSums(db, 'nobody')).toBeUndefined();
  });

  it('agrees with the decider on every account of every shard', () => {
    for (const shard of [0, 1]) {
      for (const account of projected.history.state(shard).accounts.values()) {
        expect(getAccountSums(db, account.id)).toEqual({
          accountId: account.id,
          currency: account.currency,
          debitsPosted: account.debitsPosted.toString(),
          creditsPosted: account.creditsPosted.toString(),
          debitsPending: account.debitsPending.toString(),
          creditsPending: account.creditsPending.toString(),
        });
        if (account.kind === 'wallet') expect(getWallet(db, account.id)?.status).toBe(account.status);
      }
    }
  });

  it("lists a wallet's lines newest first: entries, the capture of a hold, and voided holds", () => {
    expect(lines(db, 'alice')).toEqual([
      { transactionId: 'h3', kind: 'card_hold', amount: '400', direction: 'debit', status: 'voided', balanceAfter: '4500', createdAt: iso(8) },
      { transactionId: 'h1', kind: 'card_capture', amount: '2000', direction: 'debit', status: 'posted', balanceAfter: '4500', createdAt: iso(5) },
      { transactionId: 'h1', kind: 'card_hold', amount: '3000', direction: 'debit', status: 'voided', balanceAfter: '6500', createdAt: iso(4) },
      {
        transactionId: 'tr-2',
        kind: 'transfer',
        amount: '1000',
        direction: 'debit',
        status: 'posted',
        balanceAfter: '6500',
        counterpartyWalletId: 'carol',
        createdAt: iso(3),
      },
      {
        transactionId: 'tr-1',
        kind: 'transfer',
        amount: '2500',
        direction: 'debit',
        status: 'posted',
        balanceAfter: '7500',
        counterpartyWalletId: 'bob',
        createdAt: iso(2),
      },
      { transactionId: 'top-up-1', kind: 'top_up', amount: '10000', direction: 'credit', status: 'posted', balanceAfter: '10000', createdAt: iso(1) },
    ]);
  });

  it('keeps a partly released, then expired hold at what it last held, voided; the other shard shows the in leg', () => {
    expect(lines(db, 'bob')).toEqual([
      { transactionId: 'wd-1', kind: 'withdrawal', amount: '100', direction: 'debit', status: 'posted', balanceAfter: '2400', createdAt: iso(12) },
      { transactionId: 'h2', kind: 'card_hold', amount: '300', direction: 'debit', status: 'voided', balanceAfter: '2500', createdAt: iso(6) },
      {
        transactionId: 'tr-1',
        kind: 'transfer',
        amount: '2500',
        direction: 'credit',
        status: 'posted',
        balanceAfter: '2500',
        counterpartyWalletId: 'alice',
        createdAt: iso(2),
      },
    ]);
    expect(lines(db, 'carol')).toEqual([
      {
        transactionId: 'tr-2',
        kind: 'transfer',
        amount: '1000',
        direction: 'credit',
        status: 'posted',
        balanceAfter: '1000',
        counterpartyWalletId: 'alice',
        createdAt: iso(3),
      },
    ]);
    expect(lines(db, 'alice-eur')).toEqual([]);
    expect(lines(db, FUNDING)).toEqual([]); // system accounts have no lines
  });

  it('pages newest first with an opaque cursor, null after the last page', () => {
    const all = lines(db, 'alice');
    const seen: TransactionLineView[] = [];
    let cursor: string | undefined;
    const cursors: (string | null)[] = [];
    for (let pageCount = 0; pageCount < 10; pageCount++) {
      const page = listTransactions(db, 'alice', { limit: 4, cursor });
      if (!page.ok) throw new Error(JSON.stringify(page.error));
      seen.push(...page.value.items);
      cursors.push(page.value.nextCursor);
      if (page.value.nextCursor === null) break;
      expect(page.value.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
      cursor = page.value.nextCursor;
    }
    expect(cursors).toEqual([expect.any(String), null]);
    expect(seen).toEqual(all);
    // A page that ends exactly at the last line still says so.
    const exact = listTransactions(db, 'alice', { limit: all.length });
    expect(exact.ok && exact.value.nextCursor).toBeNull();
    const defaulted = listTransactions(db, 'alice');
    expect(defaulted.ok && defaulted.value.items).toEqual(all);
  });

  it('refuses a bad limit or cursor with validation_failed, as a value', () => {
    for (const limit of [0, -1, 1.5, TRANSACTIONS_PAGE_LIMIT_MAX + 1, Number.NaN]) {
      expect(listTransactions(db, 'alice', { limit })).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'validation_failed', details: expect.objectContaining({ field: 'limit' }) }),
      });
    }
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    for (const cursor of ['', 'not a cursor!', b64('1:2:3'), b64('01:0'), b64('-1:0'), b64('99999999999999999999:0'), 'A'.repeat(100), `${b64('5:0')}=`]) {
      expect(listTransactions(db, 'alice', { cursor })).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'validation_failed', details: expect.objectContaining({ field: 'cursor', reason: 'invalid_cursor' }) }),
      });
    }
    expect(listTransactions(db, 'alice', { limit: TRANSACTIONS_PAGE_LIMIT_MAX }).ok).toBe(true);
  });

  it('answers the balance as of any time by the store clock (recordedAt)', () => {
    const balanceAt = (walletId: string, time: string) => getBalanceAt(db, walletId, time);
    expect(balanceAt('alice', toIsoTime(at(0) - 1))).toEqual({ ok: true, value: { posted: '0', pending: '0', available: '0', asOf: toIsoTime(at(0) - 1) } });
    expect(balanceAt('alice', iso(0))).toEqual({ ok: true, value: { posted: '0', pending: '0', available: '0', asOf: iso(0) } });
    expect(balanceAt('alice', toIsoTime(at(1.5)))).toEqual({ ok: true, value: { posted: '10000', pending: '0', available: '10000', asOf: toIsoTime(at(1.5)) } });
    expect(balanceAt('alice', iso(2))).toMatchObject({ ok: true, value: { posted: '7500' } }); // recorded at exactly T: included
    expect(balanceAt('alice', toIsoTime(at(4.5)))).toMatchObject({ ok: true, value: { posted: '6500', pending: '3000', available: '3500' } });
    expect(balanceAt('bob', toIsoTime(at(7.5)))).toMatchObject({ ok: true, value: { posted: '2500', pending: '300', available: '2200' } });
    expect(balanceAt('bob', iso(100))).toMatchObject({ ok: true, value: { posted: '2400', pending: '0', available: '2400' } });
    // Any zone is read, and the answer says the instant in UTC.
    expect(balanceAt('alice', '2026-01-01T01:01:30+01:00')).toEqual({ ok: true, value: { posted: '10000', pending: '0', available: '10000', asOf: toIsoTime(at(1.5)) } });
  });

  it('refuses a time that is not ISO 8601, and answers not_found for what is not a wallet', () => {
    for (const time of ['yesterday', '2026-01-01', '2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '1767225600000', '']) {
      expect(getBalanceAt(db, 'alice', time)).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'validation_failed', details: expect.objectContaining({ field: 'at' }) }),
      });
    }
    expect(getBalanceAt(db, 'nobody', iso(5))).toEqual({ ok: false, error: expect.objectContaining({ code: 'not_found' }) });
    expect(getBalanceAt(db, FUNDING, iso(5))).toEqual({ ok: false, error: expect.objectContaining({ code: 'not_found' }) });
  });
});

describe('wallet-ledger projection, live', () => {
  let projected: Projected;

  beforeEach(async () => {
    projected = await openProjected();
    await projected.history.run(0, [openSystem(FUNDING), openSystem(CLEARING), openWallet('dana', 'user-d')]);
    projected.clock.ms = at(1);
    await projected.history.run(0, [entry('k-top-up', 'top-up-1', 'top_up', FUNDING, 'dana', 1_000n)]);
  });

  afterEach(async () => {
    await projected.close();
  });

  /** Runs commands on shard 0 and waits for the projection to show them (read-your-writes). */
  async function runAndRead(minutes: number, ...commands: Parameters<LedgerHistory['run']>[1]): Promise<void> {
    projected.clock.ms = at(minutes);
    const position = await projected.history.run(0, commands);
    expect(await projected.runner.waitUntil(position, WAIT_MS)).toBe(true);
  }

  it('shows a hold pending, shrinks it on a partial release, then voids it on capture', async () => {
    const { db } = projected;
    await runAndRead(2, placeHold('k-h', 'h', 'dana', 600n, at(60)));
    expect(getWallet(db, 'dana')?.balance).toEqual({ posted: '1000', pending: '600', available: '400' });
    expect(lines(db, 'dana')[0]).toEqual({
      transactionId: 'h',
      kind: 'card_hold',
      amount: '600',
      direction: 'debit',
      status: 'pending',
      balanceAfter: '1000', // posted: a hold changes what is available, not what is posted
      createdAt: iso(2),
    });

    await runAndRead(3, release('k-h-release', 'h', 250n));
    expect(getWallet(db, 'dana')?.balance).toEqual({ posted: '1000', pending: '350', available: '650' });
    expect(lines(db, 'dana')[0]).toMatchObject({ transactionId: 'h', kind: 'card_hold', amount: '350', status: 'pending', createdAt: iso(2) });

    await runAndRead(4, capture('k-h-capture', 'h', 300n));
    expect(getWallet(db, 'dana')?.balance).toEqual({ posted: '700', pending: '0', available: '700' });
    expect(lines(db, 'dana').slice(0, 2)).toEqual([
      { transactionId: 'h', kind: 'card_capture', amount: '300', direction: 'debit', status: 'posted', balanceAfter: '700', createdAt: iso(4) },
      { transactionId: 'h', kind: 'card_hold', amount: '350', direction: 'debit', status: 'voided', balanceAfter: '1000', createdAt: iso(2) },
    ]);
  });

  it('keeps a cursor stable while new lines arrive: the next page continues where the last one ended', async () => {
    const { db } = projected;
    for (let n = 2; n <= 6; n++) await runAndRead(n, entry(`k-top-up-${n}`, `top-up-${n}`, 'top_up', FUNDING, 'dana', BigInt(n)));
    const first = listTransactions(db, 'dana', { limit: 3 });
    if (!first.ok || first.value.nextCursor === null) throw new Error('expected a first page with a cursor');
    expect(first.value.items.map((line) => line.transactionId)).toEqual(['top-up-6', 'top-up-5', 'top-up-4']);

    await runAndRead(7, entry('k-top-up-7', 'top-up-7', 'top_up', FUNDING, 'dana', 7n));
    const second = listTransactions(db, 'dana', { limit: 3, cursor: first.value.nextCursor });
    expect(second).toEqual({ ok: true, value: { items: expect.any(Array), nextCursor: null } });
    expect(second.ok && second.value.items.map((line) => line.transactionId)).toEqual(['top-up-3', 'top-up-2', 'top-up-1']);
    expect(lines(db, 'dana')[0]).toMatchObject({ transactionId: 'top-up-7', balanceAfter: String(1_000 + 2 + 3 + 4 + 5 + 6 + 7) });
  });
});

describe("wallet-ledger queries: a transfer's settlement (asked of out legs older than the shards' keys)", () => {
  it('counts only the in leg or the reversal, not another entry that took the transfer id', async () => {
    const projected = await openProjected();
    try {
      const { db, history, clock } = projected;
      await history.run(0, [openSystem(FUNDING), openSystem(TRANSIT_TO_1), openWallet('alice', 'user-a')]);
      await history.run(1, [openSystem('sys:fees:USD:1'), openSystem('sys:funding:USD:1'), openWallet('carol', 'user-c')]);
      await history.run(0, [entry('k-top-up', 'top-up-1', 'top_up', FUNDING, 'alice', 1_000n)]);
      await history.run(0, [entry('k-t-out', 't-1', 'transfer', 'alice', TRANSIT_TO_1, 400n, transferRefs('t-1', 'alice', 'carol', 'out'))]);
      // An internal entry under the transfer's id (entry ids are the caller's) paying carol 1: the saga took the 400 as delivered and left it in transit.
      await history.run(1, [entry('k-fee', 't-1', 'fee', 'sys:funding:USD:1', 'carol', 1n)]);
      await history.run(0, [entry('k-refund', transferReversalId('t-1'), 'fee', FUNDING, 'alice', 1n)]);
      await projected.caughtUp();
      expect(isTransferSettled(db, { transferId: 't-1', fromWalletId: 'alice', toWalletId: 'carol' })).toBe(false);
      // A shard keeps an entry id for a day (an in leg under it within the day is refused: entry_exists); the writer looks up only internal entries' older ones.
      clock.ms += IDEMPOTENCY_WINDOW_MS;
      await history.run(1, [openSystem(TRANSIT_FROM_0), entry('k-t-in', 't-1', 'transfer', TRANSIT_FROM_0, 'carol', 400n, transferRefs('t-1', 'alice', 'carol', 'in'))]);
      await projected.caughtUp();
      expect(isTransferSettled(db, { transferId: 't-1', fromWalletId: 'alice', toWalletId: 'carol' })).toBe(true);
    } finally {
      await projected.close();
    }
  });
});
