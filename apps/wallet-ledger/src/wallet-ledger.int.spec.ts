// The wallet-ledger through the transport: every command, its errors, idempotency, the
// cross-shard saga, hold expiry and restarts.
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { idFromKey, UuidV7Generator, uuidv7, type HoldView, type TransactionView, type WalletView } from '@ledger/contracts';
import { SqliteEventStore } from '@ledger/event-store';
import { EventStoreCheckpointStore } from '@ledger/messaging';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard, availableBalance, globalSums, postedBalance, type LedgerShardState } from '@ledger/ledger';
import { TRANSFER_SAGA_CHECKPOINT } from './application/transfer-saga';
import { transferSagaKeys } from './domain/wallet-commands';
import { startHarness, type Harness } from './testing/wallet-ledger.harness';
import { WALLETS_PER_OWNER_MAX } from './projections/wallet-ledger.queries';

const SHARDS = 4;

/** A fresh wallet id on the given shard. */
function walletOnShard(shard: number): string {
  for (;;) {
    const id = uuidv7.next();
    if (accountShard(id, SHARDS) === shard) return id;
  }
}

function states(h: Harness): LedgerShardState[] {
  return Array.from({ length: SHARDS }, (_, shard) => h.ledger.service.writer(shard)!.currentState);
}

function balanceOf(h: Harness, walletId: string): bigint {
  const account = h.ledger.service.writer(accountShard(walletId, SHARDS))!.currentState.accounts.get(walletId);
  if (!account) throw new Error(`no wallet ${walletId}`);
  return postedBalance(account);
}

/** Per currency, across every shard: posted and pending debits minus credits. */
function worldSums(h: Harness): Record<string, { posted: bigint; pending: bigint }> {
  const total: Record<string, { posted: bigint; pending: bigint }> = {};
  for (const state of states(h)) {
    for (const [currency, sums] of globalSums(state)) {
      const t = (total[currency] ??= { posted: 0n, pending: 0n });
      t.posted += sums.posted;
      t.pending += sums.pending;
    }
  }
  return total;
}

describe('wallet-ledger through the transport', () => {
  let h: Harness;
  let keys = 0;
  const key = (label: string) => `${label}-${++keys}`;

  async function openWallet(shard: number, currency = 'USD', ownerId = 'user-1'): Promise<string> {
    const walletId = walletOnShard(shard);
    const reply = await h.send<WalletView>({ type: 'OpenWallet', walletId, ownerId, currency }, key('open'));
    expect(reply).toMatchObject({ ok: true, value: { id: walletId, ownerId, currency, status: 'active' } });
    return walletId;
  }

  async function topUp(walletId: string, amount: string): Promise<void> {
    expect(await h.send({ type: 'TopUp', walletId, amount }, key('top-up'))).toMatchObject({ ok: true });
  }

  beforeEach(async () => {
    h = await startHarness();
  });

  afterEach(async () => {
    await h.close({ remove: true });
  });

  it('opens a wallet with zero balances, and answers a retry with the first outcome', async () => {
    const walletId = walletOnShard(1);
    const first = await h.send<WalletView>({ type: 'OpenWallet', walletId, ownerId: 'u', currency: 'EUR' }, 'open-once');
    expect(first).toEqual({
      ok: true,
      value: { id: walletId, ownerId: 'u', currency: 'EUR', status: 'active', balance: { posted: '0', pending: '0', available: '0' }, createdAt: expect.any(String) },
    });
    expect(await h.send({ type: 'OpenWallet', walletId, ownerId: 'u', currency: 'EUR' }, 'open-once')).toEqual(first);
    expect(await h.send({ type: 'OpenWallet', walletId, ownerId: 'u', currency: 'USD' }, 'open-once')).toMatchObject({
      ok: false,
      error: { code: 'idempotency_key_reuse' },
    });
    expect(await h.send({ type: 'OpenWallet', walletId, ownerId: 'u', currency: 'EUR' }, 'open-again')).toMatchObject({
      ok: false,
      error: { code: 'account_exists' },
    });
    expect(await h.send({ type: 'OpenWallet', walletId: walletOnShard(1), ownerId: 'u', currency: 'XXX' }, key('open'))).toMatchObject({
      ok: false,
      error: { code: 'validation_failed' },
    });
  });

  it('opens at most WALLETS_PER_OWNER_MAX wallets per owner, also when asked at once (ListWallets shows them all), still replaying a retry', async () => {
    const asked = Array.from({ length: WALLETS_PER_OWNER_MAX + 5 }, (_, index) => ({ walletId: walletOnShard(index % SHARDS), key: key('open') }));
    const replies = await Promise.all(asked.map(({ walletId, key: k }) => h.send({ type: 'OpenWallet', walletId, ownerId: 'owner-many', currency: 'USD' }, k)));
    const opened = asked.filter((_, index) => replies[index].ok);
    expect(opened).toHaveLength(WALLETS_PER_OWNER_MAX);
    for (const reply of replies.filter((each) => !each.ok)) {
      expect(reply).toMatchObject({ ok: false, error: { code: 'limit_exceeded', details: { limit: 'wallets_per_owner', max: WALLETS_PER_OWNER_MAX } } });
    }
    // A retry of an opening that happened (its reply lost) is the first outcome, not a refusal.
    const { walletId, key: openedKey } = opened[opened.length - 1];
    expect(await h.send({ type: 'OpenWallet', walletId, ownerId: 'owner-many', currency: 'USD' }, openedKey)).toMatchObject({ ok: true, value: { id: walletId } });
    const listed = await h.client.query<{ items: { id: string }[] }>({ type: 'ListWallets', ownerId: 'owner-many' });
    expect(listed.ok && listed.value.items.map((wallet) => wallet.id).sort()).toEqual(opened.map((each) => each.walletId).sort());
    await openWallet(2, 'USD', 'owner-few'); // another owner is not counted against this one
  });

  it('tops up and withdraws with balanced entries, refusing overdrafts', async () => {
    const walletId = await openWallet(2);
    const topUpReply = await h.send<TransactionView>({ type: 'TopUp', walletId, amount: '1050', reference: 'card-xyz' }, 'top-1');
    expect(topUpReply).toEqual({
      ok: true,
      value: { id: expect.any(String), kind: 'top_up', status: 'posted', amount: '1050', currency: 'USD', toWalletId: walletId, createdAt: expect.any(String) },
    });
    expect(await h.send({ type: 'TopUp', walletId, amount: '1050', reference: 'card-xyz' }, 'top-1')).toEqual(topUpReply);
    expect(await h.send({ type: 'Withdraw', walletId, amount: '50' }, key('withdraw'))).toMatchObject({ ok: true, value: { kind: 'withdrawal', amount: '50' } });
    expect(await h.send({ type: 'Withdraw', walletId, amount: '1001' }, 'too-much')).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    await topUp(walletId, '5000');
    // The first outcome stands, even though the money is there now.
    expect(await h.send({ type: 'Withdraw', walletId, amount: '1001' }, 'too-much')).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    expect(balanceOf(h, walletId)).toBe(6000n);
    for (const [amount, reason] of [['0', 'not_positive'], ['-1', 'not_a_digit_string'], ['1.5', 'not_a_digit_string'], ['1'.repeat(31), 'too_many_digits']]) {
      expect(await h.send({ type: 'TopUp', walletId, amount }, key('bad'))).toMatchObject({
        ok: false,
        error: { code: 'validation_failed', details: { fields: [{ field: 'amount', reason }] } },
      });
    }
    expect(await h.send({ type: 'TopUp', walletId: walletOnShard(2), amount: '1' }, key('ghost'))).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(worldSums(h)).toEqual({ USD: { posted: 0n, pending: 0n } });
  });

  it('takes a key again as a new command a day after its first use, though its shard was idle since', async () => {
    const walletId = await openWallet(2);
    const first = await h.send<TransactionView>({ type: 'TopUp', walletId, amount: '100' }, 'monthly-top-up');
    expect(await h.send({ type: 'TopUp', walletId, amount: '100' }, 'monthly-top-up')).toEqual(first);
    // Nothing else on shard 2 for a day: the record was not forgotten yet, so the top-up was answered with the old one and moved no money.
    h.clock.advance(24 * 60 * 60 * 1000);
    expect(await h.send<TransactionView>({ type: 'TopUp', walletId, amount: '100' }, 'monthly-top-up')).toMatchObject({ ok: true, value: { amount: '100', createdAt: new Date(h.clock.nowMs()).toISOString() } });
    expect(balanceOf(h, walletId)).toBe(200n);
  });

  it('transfers on one shard at once, and refuses another currency', async () => {
    const from = await openWallet(0);
    const to = await openWallet(0);
    const yen = await openWallet(0, 'JPY');
    await topUp(from, '1000');
    expect(await h.send<TransactionView>({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '300', memo: 'rent' }, 't-1')).toMatchObject({
      ok: true,
      value: { kind: 'transfer', amount: '300', fromWalletId: from, toWalletId: to, status: 'posted' },
    });
    expect(balanceOf(h, from)).toBe(700n);
    expect(balanceOf(h, to)).toBe(300n);
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: yen, amount: '1' }, key('t'))).toMatchObject({ ok: false, error: { code: 'currency_mismatch' } });
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: from, amount: '1' }, key('t'))).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '701' }, key('t'))).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
  });

  it('moves money across shards through transit exactly once, and reverses what the destination refuses', async () => {
    const from = await openWallet(0);
    const to = await openWallet(3);
    const yen = await openWallet(3, 'JPY');
    await topUp(from, '1000');

    const reply = await h.send<TransactionView>({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '400' }, 'x-1');
    expect(reply).toMatchObject({ ok: true, value: { kind: 'transfer', amount: '400', fromWalletId: from, toWalletId: to } });
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '400' }, 'x-1')).toEqual(reply);
    expect(balanceOf(h, from)).toBe(600n);
    await waitFor('the destination credited', () => balanceOf(h, to) === 400n);

    // Refused at the destination (another currency): the source gets its money back.
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: yen, amount: '100' }, 'x-2')).toMatchObject({ ok: true });
    expect(balanceOf(h, from)).toBe(500n);
    await waitFor('the reversal', () => balanceOf(h, from) === 600n);
    expect(balanceOf(h, yen)).toBe(0n);

    await waitFor('transit settled', () => {
      const transitOut = h.ledger.service.writer(0)!.currentState.accounts.get('sys:transit-to-3:USD:0')!;
      const transitIn = h.ledger.service.writer(3)!.currentState.accounts.get('sys:transit-from-0:USD:3')!;
      // In flight = credited on the source transit less debited on the destination transit.
      return postedBalance(transitOut) === 400n && transitIn.debitsPosted === 400n;
    });
    expect(worldSums(h)).toEqual({ USD: { posted: 0n, pending: 0n }, JPY: { posted: 0n, pending: 0n } });
  });

  it('brings a refused cross-shard transfer back to its source wallet closed in the meantime, out of transit, once', async () => {
    const from = await openWallet(0);
    const yen = await openWallet(3, 'JPY');
    await topUp(from, '100');
    // Closed in the same batch as its out leg (its balance then zero): the reversal was refused and the 100 stayed in transit for good.
    const [sent, closed] = await Promise.all([
      h.send<TransactionView>({ type: 'Transfer', fromWalletId: from, toWalletId: yen, amount: '100' }, key('transfer')),
      h.send<WalletView>({ type: 'CloseWallet', walletId: from }, key('close')),
    ]);
    expect([sent, closed]).toMatchObject([{ ok: true }, { ok: true, value: { status: 'closed' } }]);
    const transferId = sent.ok ? sent.value.id : '';
    await waitFor('the reversal decided', () => h.ledger.service.writer(0)!.currentState.idempotency.has(transferSagaKeys.reverse(transferId)));
    expect(h.ledger.service.writer(0)!.currentState.idempotency.get(transferSagaKeys.reverse(transferId))).toMatchObject({ outcome: { ok: true } });
    expect(balanceOf(h, from)).toBe(100n);
    expect(postedBalance(h.ledger.service.writer(0)!.currentState.accounts.get('sys:transit-to-3:USD:0')!)).toBe(0n);
    // Still closed: it takes no other money and sends none.
    expect(await h.send({ type: 'TopUp', walletId: from, amount: '1' }, key('top-up'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
    expect(await h.send({ type: 'Withdraw', walletId: from, amount: '1' }, key('withdraw'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
    expect(worldSums(h)).toEqual({ USD: { posted: 0n, pending: 0n }, JPY: { posted: 0n, pending: 0n } });
  });

  it('credits a cross-shard transfer once when the saga replays its out leg more than a day later', async () => {
    const from = await openWallet(0);
    const to = await openWallet(3);
    const yen = await openWallet(3, 'JPY');
    await topUp(from, '1000');
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '400' }, 'late-in')).toMatchObject({ ok: true });
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: yen, amount: '100' }, 'late-refused')).toMatchObject({ ok: true });
    await waitFor('both settled', () => balanceOf(h, to) === 400n && balanceOf(h, from) === 600n);
    const { dataDir, clock } = h;
    await h.close();
    // A day later, later commands on both shards age the saga's keys out of the shards' idempotency records.
    clock.advance(25 * 60 * 60 * 1000);
    h = await startHarness({ dataDir, clock });
    await openWallet(0);
    await openWallet(3);
    await h.close();
    // As after a crash: the saga's checkpoint is older than the out legs, so it relays them again.
    const store = new SqliteEventStore({ file: join(dataDir, 'events.sqlite'), nowMs: () => clock.nowMs() });
    await new EventStoreCheckpointStore(store, new UuidV7Generator(() => clock.nowMs()), () => clock.nowMs()).save(TRANSFER_SAGA_CHECKPOINT, 0n);
    await store.close();
    h = await startHarness({ dataDir, clock });
    const lastLedgerPosition = async () => {
      let last = 0n;
      for (let shard = 0; shard < SHARDS; shard++) {
        const revision = await h.store.streamRevision(`ledger-${shard}`);
        if (revision === undefined) continue;
        const [event] = await h.store.readStream(`ledger-${shard}`, { fromRevision: revision, maxCount: 1 });
        if (event.position > last) last = event.position;
      }
      return last;
    };
    await waitFor('the saga to pass the out legs again', async () => h.ledger.saga.position() >= (await lastLedgerPosition()));
    expect({ from: balanceOf(h, from), to: balanceOf(h, to), yen: balanceOf(h, yen) }).toEqual({ from: 600n, to: 400n, yen: 0n });
    expect(worldSums(h)).toEqual({ USD: { posted: 0n, pending: 0n }, JPY: { posted: 0n, pending: 0n } });
  });

  it('credits a transfer under a key reused after its day though the saga relays its out leg half a day late', async () => {
    const from = await openWallet(0);
    const to = await openWallet(3);
    await topUp(from, '1000');
    const first = await h.send<TransactionView>({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '400' }, 'reused-after-a-day');
    await waitFor('the first credited', () => balanceOf(h, to) === 400n);
    const { dataDir, clock } = h;
    await h.close();
    clock.advance(25 * 60 * 60 * 1000);
    h = await startHarness({ dataDir, clock });
    // The saga down (a crash) when the second transfer's out leg is posted, and for half a day after.
    await h.ledger.saga.stop();
    const second = await h.send<TransactionView>({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '400' }, 'reused-after-a-day');
    expect(second).toMatchObject({ ok: true, value: { amount: '400' } });
    // A new transfer, not a replay of the first: its own id.
    expect(second.ok && first.ok && second.value.id !== first.value.id).toBe(true);
    await h.close();
    clock.advance(13 * 60 * 60 * 1000);
    h = await startHarness({ dataDir, clock });
    await waitFor('the second credited', () => balanceOf(h, to) === 800n);
    expect(balanceOf(h, from)).toBe(200n);
    expect(postedBalance(h.ledger.service.writer(0)!.currentState.accounts.get('sys:transit-to-3:USD:0')!)).toBe(800n);
  });

  it('remembers an in leg refused for an unknown destination: a wallet opened later under that id is not credited by a replay', async () => {
    // As a replay after a crash would send it again: the reversal already gave the source its money back.
    const toWalletId = walletOnShard(3);
    const transferIn = { type: 'TransferIn', transferId: 'early-in', fromWalletId: walletOnShard(0), toWalletId, amount: '50', currency: 'USD', sourceShard: 0 } as const;
    const first = await h.send(transferIn, 'transfer-in:early-in');
    expect(first).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const opened = await h.send<WalletView>({ type: 'OpenWallet', walletId: toWalletId, ownerId: 'user-1', currency: 'USD' }, key('open'));
    expect(opened).toMatchObject({ ok: true });
    expect(await h.send(transferIn, 'transfer-in:early-in')).toEqual(first);
    expect(balanceOf(h, toWalletId)).toBe(0n);
  });

  it('holds, captures part and releases the rest, releases in part, and expires by the clock', async () => {
    const walletId = await openWallet(1);
    await topUp(walletId, '10000');
    const placed = await h.send<HoldView>({ type: 'PlaceHold', holdId: 'hold-a', walletId, amount: '3000' }, 'hold-a');
    expect(placed).toMatchObject({ ok: true, value: { holdId: 'hold-a', status: 'pending', heldAmount: '3000' } });
    expect(await h.send({ type: 'PlaceHold', holdId: 'hold-big', walletId, amount: '7001' }, key('hold'))).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    expect(await h.send({ type: 'CaptureHold', holdId: 'hold-a', walletId, amount: '3001' }, key('cap'))).toMatchObject({ ok: false, error: { code: 'amount_exceeds_hold' } });
    expect(await h.send<HoldView>({ type: 'CaptureHold', holdId: 'hold-a', walletId, amount: '1200' }, 'cap-a')).toMatchObject({
      ok: true,
      value: { status: 'captured', capturedAmount: '1200', releasedAmount: '1800', heldAmount: '0' },
    });
    expect(await h.send({ type: 'CaptureHold', holdId: 'hold-a', walletId, amount: '1' }, key('cap'))).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
    expect(balanceOf(h, walletId)).toBe(8800n);

    expect(await h.send({ type: 'PlaceHold', holdId: 'hold-b', walletId, amount: '500' }, 'hold-b')).toMatchObject({ ok: true });
    expect(await h.send<HoldView>({ type: 'ReleaseHold', holdId: 'hold-b', walletId, amount: '200' }, key('rel'))).toMatchObject({
      ok: true,
      value: { status: 'pending', heldAmount: '300' },
    });
    expect(await h.send({ type: 'ReleaseHold', holdId: 'hold-b', walletId }, key('rel'))).toMatchObject({ ok: true, value: { status: 'released' } });
    expect(await h.send({ type: 'CaptureHold', holdId: 'nope', walletId, amount: '1' }, key('cap'))).toMatchObject({ ok: false, error: { code: 'not_found' } });

    expect(await h.send({ type: 'PlaceHold', holdId: 'hold-c', walletId, amount: '700', timeoutMs: 60_000 }, 'hold-c')).toMatchObject({ ok: true });
    const writer = h.ledger.service.writer(1)!;
    expect(writer.currentState.accounts.get(walletId)!.debitsPending).toBe(700n);
    h.clock.advance(60_000);
    await waitFor('the hold to expire', () => writer.currentState.holds.get('hold-c')?.status === 'expired');
    expect(writer.currentState.accounts.get(walletId)!.debitsPending).toBe(0n);
    expect(worldSums(h)).toEqual({ USD: { posted: 0n, pending: 0n } });
  });

  it('keeps in its expiry queue only the holds still pending: one settled early leaves it at once, not at its expiry days later', async () => {
    const walletId = await openWallet(1);
    await topUp(walletId, '1000');
    const writer = h.ledger.service.writer(1)!;
    const queued = () => (writer['expiries'] as { size: number }).size;
    for (let i = 0; i < 20; i++) {
      expect(await h.send({ type: 'PlaceHold', holdId: `early-${i}`, walletId, amount: '10' }, `early-${i}`)).toMatchObject({ ok: true });
      const end = i % 2 === 0 ? { type: 'CaptureHold' as const, holdId: `early-${i}`, walletId, amount: '10' } : { type: 'ReleaseHold' as const, holdId: `early-${i}`, walletId };
      expect(await h.send(end, `early-end-${i}`)).toMatchObject({ ok: true });
    }
    expect(await h.send({ type: 'PlaceHold', holdId: 'still-pending', walletId, amount: '10' }, 'still-pending')).toMatchObject({ ok: true });
    // Each hold settled early stayed queued until its expiry (a week by default, 31 days at most): far more than the day the state keeps it.
    expect(queued()).toBe(1);
    const { dataDir, clock } = h;
    await h.close();
    h = await startHarness({ dataDir, clock });
    expect((h.ledger.service.writer(1)!['expiries'] as { size: number }).size).toBe(1);
  });

  it('places only holds it can expire: a hold id must leave room for the key its expiry is decided under', async () => {
    const walletId = await openWallet(1);
    await topUp(walletId, '1000');
    const writer = h.ledger.service.writer(1)!;
    const longest = 'h'.repeat(128 - 'expire:'.length);
    expect(await h.send({ type: 'PlaceHold', holdId: longest, walletId, amount: '100', timeoutMs: 60_000 }, 'longest-hold')).toMatchObject({ ok: true });
    // `expire:` and 128 characters is no key the ledger takes: each sweep's expiry was refused, and the money stayed reserved for good.
    const tooLong = 'h'.repeat(128 - 'expire:'.length + 1);
    expect(await h.send({ type: 'PlaceHold', holdId: tooLong, walletId, amount: '100', timeoutMs: 60_000 }, 'too-long-hold')).toMatchObject({
      ok: false,
      error: { code: 'validation_failed', details: { fields: [{ field: 'holdId', reason: 'too_long' }] } },
    });
    h.clock.advance(60_000);
    await waitFor('the hold to expire', () => writer.currentState.holds.get(longest)?.status === 'expired');
    expect(writer.currentState.accounts.get(walletId)!.debitsPending).toBe(0n);
  });

  it('expires every hold due, a batch at a time, without waiting a sweep interval for each batch', async () => {
    const { dataDir, clock } = h;
    await h.close();
    // The bounds of the settings: one command a batch, a sweep an hour.
    h = await startHarness({ dataDir, clock, env: { BATCH_MAX: '1', HOLD_SWEEP_INTERVAL_MS: '3600000' } });
    const walletId = await openWallet(1);
    await topUp(walletId, '1000');
    for (let i = 0; i < 3; i++) expect(await h.send({ type: 'PlaceHold', holdId: `due-${i}`, walletId, amount: '300', timeoutMs: 1_000 }, `due-${i}`)).toMatchObject({ ok: true });
    h.clock.advance(1_000);
    const writer = h.ledger.service.writer(1)!;
    expect(writer.sweepExpiredHolds()).toBe(1);
    // One hold a sweep: the other two stayed reserved (a withdrawal of free money refused) for an hour each.
    await waitFor('every hold due expired', () => [0, 1, 2].every((i) => writer.currentState.holds.get(`due-${i}`)?.status === 'expired'), { timeoutMs: 2_000 });
    expect(await h.send({ type: 'Withdraw', walletId, amount: '1000' }, key('withdraw'))).toMatchObject({ ok: true });
  });

  it('captures or releases a hold only for the wallet it debits (hold ids are unique per shard only)', async () => {
    const holder = await openWallet(1);
    const stranger = await openWallet(1);
    await topUp(holder, '1000');
    expect(await h.send({ type: 'PlaceHold', holdId: 'hold-shared-id', walletId: holder, amount: '400' }, 'hold-shared-id')).toMatchObject({ ok: true });
    const elsewhere = { ok: false, error: { code: 'not_found', details: { holdId: 'hold-shared-id', walletId: stranger } } };
    expect(await h.send({ type: 'ReleaseHold', holdId: 'hold-shared-id', walletId: stranger }, key('rel'))).toMatchObject(elsewhere);
    expect(await h.send({ type: 'CaptureHold', holdId: 'hold-shared-id', walletId: stranger, amount: '400' }, key('cap'))).toMatchObject(elsewhere);
    const writer = h.ledger.service.writer(1)!;
    expect(writer.currentState.holds.get('hold-shared-id')).toMatchObject({ status: 'pending', heldAmount: 400n });
    expect(await h.send({ type: 'CaptureHold', holdId: 'hold-shared-id', walletId: holder, amount: '400' }, key('cap'))).toMatchObject({ ok: true, value: { status: 'captured' } });
  });

  it('expires a hold whose first expiry was refused as early (the clock stepped back between sweep and commit)', async () => {
    const walletId = await openWallet(1);
    await topUp(walletId, '1000');
    expect(await h.send({ type: 'PlaceHold', holdId: 'hold-step', walletId, amount: '400', timeoutMs: 60_000 }, 'hold-step')).toMatchObject({ ok: true });
    const writer = h.ledger.service.writer(1)!;
    const placedAt = h.clock.nowMs();
    // In one tick, so no timer runs in between: the sweep sees the hold due, the commit sees the clock back.
    h.clock.set(placedAt + 60_000);
    expect(writer.sweepExpiredHolds()).toBe(1);
    h.clock.set(placedAt + 59_000);
    await topUp(walletId, '1'); // queued behind the expiry on the same writer: answered once the expiry was decided
    expect(writer.currentState.holds.get('hold-step')?.status).toBe('pending');
    h.clock.set(placedAt + 61_000);
    await waitFor('the hold to expire on a later sweep', () => writer.currentState.holds.get('hold-step')?.status === 'expired', { timeoutMs: 2_000 });
    expect(writer.currentState.accounts.get(walletId)!.debitsPending).toBe(0n);
  });

  it('freezes (can receive, cannot send), unfreezes, and closes only at zero', async () => {
    const walletId = await openWallet(2);
    const other = await openWallet(2);
    await topUp(other, '100');
    expect(await h.send<WalletView>({ type: 'FreezeWallet', walletId }, key('freeze'))).toMatchObject({ ok: true, value: { status: 'frozen' } });
    expect(await h.send({ type: 'Transfer', fromWalletId: other, toWalletId: walletId, amount: '40' }, key('t'))).toMatchObject({ ok: true });
    expect(await h.send({ type: 'Withdraw', walletId, amount: '1' }, key('w'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
    expect(await h.send({ type: 'UnfreezeWallet', walletId }, key('unfreeze'))).toMatchObject({ ok: true, value: { status: 'active' } });
    expect(await h.send({ type: 'CloseWallet', walletId }, key('close'))).toMatchObject({ ok: false, error: { code: 'balance_not_zero' } });
    expect(await h.send({ type: 'Withdraw', walletId, amount: '40' }, key('w'))).toMatchObject({ ok: true });
    expect(await h.send({ type: 'CloseWallet', walletId }, key('close'))).toMatchObject({ ok: true, value: { status: 'closed' } });
    expect(await h.send({ type: 'TopUp', walletId, amount: '1' }, key('top'))).toMatchObject({ ok: false, error: { code: 'wallet_not_active' } });
  });

  it('posts an internal entry (a fee) between accounts of one shard, and refuses one spanning shards', async () => {
    const walletId = await openWallet(3);
    await topUp(walletId, '1000');
    const fee = await h.send<TransactionView>(
      {
        type: 'PostEntry',
        entryId: 'fee-1',
        kind: 'fee',
        postings: [
          { accountId: walletId, side: 'debit', amount: '25', currency: 'USD' },
          { accountId: 'sys:fees:USD:3', side: 'credit', amount: '25', currency: 'USD' },
        ],
        references: { reason: 'monthly' },
      },
      'fee-1',
    );
    expect(fee).toMatchObject({ ok: true, value: { id: 'fee-1', kind: 'fee', amount: '25' } });
    expect(balanceOf(h, walletId)).toBe(975n);
    const elsewhere = await openWallet(0);
    expect(
      await h.send(
        {
          type: 'PostEntry',
          entryId: 'fee-2',
          kind: 'fee',
          postings: [
            { accountId: walletId, side: 'debit', amount: '1', currency: 'USD' },
            { accountId: elsewhere, side: 'credit', amount: '1', currency: 'USD' },
          ],
        },
        key('fee'),
      ),
    ).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  it("takes an internal entry only of a transaction kind API.md lists: a wallet's lines show nothing else", async () => {
    const walletId = await openWallet(3);
    await topUp(walletId, '1000');
    const entry = (entryId: string, kind: string) => ({
      type: 'PostEntry' as const,
      entryId,
      kind,
      postings: [
        { accountId: walletId, side: 'debit' as const, amount: '25', currency: 'USD' },
        { accountId: 'sys:withdrawals:USD:3', side: 'credit' as const, amount: '25', currency: 'USD' },
      ],
    });
    // A `payout` line reached GET /v1/wallets/{id}/transactions, whose kinds clients parse as API.md's list.
    expect(await h.send(entry('payout-1', 'payout'), key('payout'))).toMatchObject({
      ok: false,
      error: { code: 'validation_failed', details: { fields: [{ field: 'kind', reason: 'unknown_kind' }] } },
    });
    expect(await h.send(entry('payout-2', 'withdrawal'), key('payout'))).toMatchObject({ ok: true, value: { kind: 'withdrawal' } });
    const page = await h.client.query<{ items: { kind: string }[] }>({ type: 'ListTransactions', walletId });
    expect(page.ok && page.value.items.map((line) => line.kind)).toEqual(['withdrawal', 'top_up']);
  });

  it('posts an entry id once: the same refund under another key, within the day or days later (the ledger forgot the key), is answered as posted', async () => {
    const walletId = await openWallet(2);
    const refund = (amount: string) => ({
      type: 'PostEntry' as const,
      entryId: 'card-refund-entry-1',
      kind: 'card_refund',
      postings: [
        { accountId: 'sys:funding:USD:2', side: 'debit' as const, amount, currency: 'USD' },
        { accountId: walletId, side: 'credit' as const, amount, currency: 'USD' },
      ],
    });
    const first = await h.send(refund('40'), 'refund-slot-1');
    expect(first).toMatchObject({ ok: true, value: { id: 'card-refund-entry-1', amount: '40' } });
    expect(await h.send(refund('40'), 'refund-slot-1-again')).toEqual(first);
    h.clock.advance(3 * 24 * 60 * 60 * 1000);
    // The card-issuer never recorded the first post (ledger.events late): its retry days later, under the slot's key the ledger has forgotten.
    expect(await h.send(refund('40'), 'refund-slot-1')).toEqual(first);
    expect(await h.send(refund('41'), 'refund-slot-2')).toMatchObject({
      ok: false,
      error: { code: 'validation_failed', details: { field: 'entryId', reason: 'entry_exists' } },
    });
    expect(balanceOf(h, walletId)).toBe(40n);
  });

  it('answers an internal entry of two currencies with the amount it moved in the currency it names, not a sum across currencies', async () => {
    const dollars = await openWallet(3);
    const euros = await openWallet(3, 'EUR');
    await topUp(dollars, '1000');
    await topUp(euros, '1000');
    const entry = {
      type: 'PostEntry' as const,
      entryId: 'fee-two-currencies',
      kind: 'fee',
      postings: [
        { accountId: dollars, side: 'debit' as const, amount: '25', currency: 'USD' },
        { accountId: 'sys:fees:USD:3', side: 'credit' as const, amount: '25', currency: 'USD' },
        { accountId: euros, side: 'debit' as const, amount: '700', currency: 'EUR' },
        { accountId: 'sys:fees:EUR:3', side: 'credit' as const, amount: '700', currency: 'EUR' },
      ],
    };
    // 25 USD and 700 EUR were answered as 725 USD.
    const reply = await h.send<TransactionView>(entry, 'fee-two-currencies');
    expect(reply).toMatchObject({ ok: true, value: { id: 'fee-two-currencies', amount: '25', currency: 'USD' } });
    expect(await h.send(entry, 'fee-two-currencies')).toEqual(reply);
    expect([balanceOf(h, dollars), balanceOf(h, euros)]).toEqual([975n, 300n]);
  });

  it('refuses an internal entry naming an account by a non-string id, failing no other command of its batch', async () => {
    const walletId = await openWallet(0);
    await topUp(walletId, '100');
    // A number whose text hashes to the wallet's shard, so the entry reaches that shard's writer.
    let accountId = 0;
    while (accountShard(String(accountId), SHARDS) !== 0) accountId++;
    const [entry, other] = await Promise.all([
      h.send(
        {
          type: 'PostEntry',
          entryId: 'fee-odd',
          kind: 'fee',
          postings: [
            { accountId: walletId, side: 'debit', amount: '1', currency: 'USD' },
            { accountId: accountId as unknown as string, side: 'credit', amount: '1', currency: 'USD' },
          ],
        },
        key('fee'),
      ),
      h.send({ type: 'TopUp', walletId, amount: '5' }, key('top-up')),
    ]);
    expect(entry).toMatchObject({ ok: false, error: { code: 'validation_failed', details: { fields: [{ field: 'postings[1].accountId', reason: 'invalid_id' }] } } });
    expect(other).toMatchObject({ ok: true });
    expect(balanceOf(h, walletId)).toBe(105n);
    // The same for a saga reversal without its reason.
    const reversal = { type: 'TransferReverse', transferId: 't-1', fromWalletId: walletId, toWalletId: walletOnShard(1), amount: '1', currency: 'USD', destinationShard: 1 };
    const [reversed, again] = await Promise.all([h.send(reversal as never, key('reverse')), h.send({ type: 'TopUp', walletId, amount: '5' }, key('top-up'))]);
    expect(reversed).toMatchObject({ ok: false, error: { code: 'validation_failed', details: { fields: [{ field: 'reason', reason: 'not_a_string' }] } } });
    expect(again).toMatchObject({ ok: true });
  });

  it("refuses an internal entry naming a transit account, of any shard: what is there is the saga's transfers in flight", async () => {
    const walletId = await openWallet(0);
    await topUp(walletId, '100');
    const entry = (entryId: string, debit: string, credit: string) => ({
      type: 'PostEntry' as const,
      entryId,
      kind: 'fee',
      postings: [
        { accountId: debit, side: 'debit' as const, amount: '1', currency: 'USD' },
        { accountId: credit, side: 'credit' as const, amount: '1', currency: 'USD' },
      ],
    });
    const reserved = (index: number) => ({ ok: false, error: { code: 'validation_failed', details: { fields: [{ field: `postings[${index}].accountId`, reason: 'reserved' }] } } });
    // Every peer number up to 9999 was opened on demand: system accounts without a bound.
    expect(await h.send(entry('to-9999', walletId, 'sys:transit-to-9999:USD:0'), key('fee'))).toMatchObject(reserved(1));
    // A fee into transit was money in flight that no leg would ever move (transit-to-3 on shard 0 and transit-from-0 on 3 never paired up again)...
    expect(await h.send(entry(`to-${SHARDS - 1}`, walletId, `sys:transit-to-${SHARDS - 1}:USD:0`), key('fee'))).toMatchObject(reserved(1));
    // ...and an entry out of transit credited a wallet with money no transfer sent.
    const other = await openWallet(3);
    expect(await h.send(entry('from-0', 'sys:transit-from-0:USD:3', other), key('mint'))).toMatchObject(reserved(0));
    expect([balanceOf(h, walletId), balanceOf(h, other)]).toEqual([100n, 0n]);
    const opened = [0, 3].flatMap((shard) => [...h.ledger.service.writer(shard)!.currentState.accounts.keys()].filter((id) => id.startsWith('sys:transit-')));
    expect(opened).toEqual([]);
  });

  it.each([
    // Each peer number up to 9999 opened a transit account on demand, one no transfer can use, and moved money through it.
    ['a shard that does not exist', 9999],
    // A transfer within a shard is one entry: no out leg ever pairs with transit between shard 3 and itself.
    ['its own shard as the other end', 3],
  ])('refuses a saga leg naming %s, opening no transit account for it', async (_case, peer) => {
    const walletId = await openWallet(3);
    await topUp(walletId, '100');
    const transferIn = { type: 'TransferIn', transferId: `in-${peer}`, fromWalletId: walletOnShard(0), toWalletId: walletId, amount: '50', currency: 'USD', sourceShard: peer } as const;
    const reverse = { type: 'TransferReverse', transferId: `rev-${peer}`, fromWalletId: walletId, toWalletId: walletOnShard(0), amount: '50', currency: 'USD', destinationShard: peer, reason: 'not_found' } as const;
    expect(await h.send(transferIn, `transfer-in:in-${peer}`)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await h.send(reverse, `transfer-reverse:rev-${peer}`)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const accounts = h.ledger.service.writer(3)!.currentState.accounts;
    expect([accounts.has(`sys:transit-from-${peer}:USD:3`), accounts.has(`sys:transit-to-${peer}:USD:3`)]).toEqual([false, false]);
    expect(balanceOf(h, walletId)).toBe(100n);
  });

  it("refuses a command under a key of the writer's own commands (a system account's opening, a hold's expiry)", async () => {
    const walletId = await openWallet(2);
    const other = await openWallet(2);
    // Recorded under `open:sys:funding:USD:2`, it made the funding account's opening (the shard's first USD top-up) idempotency_key_reuse for a day.
    expect(await h.send({ type: 'FreezeWallet', walletId: other }, 'open:sys:funding:USD:2')).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await h.send({ type: 'TopUp', walletId, amount: '100' }, key('top-up'))).toMatchObject({ ok: true });
    expect(await h.send({ type: 'FreezeWallet', walletId: other }, 'expire:some-hold')).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  it("refuses a command under a transfer saga key that is not the saga's leg", async () => {
    const from = await openWallet(0);
    const other = await openWallet(0);
    const yen = await openWallet(3, 'JPY');
    await topUp(from, '1000');
    // Recorded under the reversal's key first, it made the reversal idempotency_key_reuse: the money stayed in transit.
    const transferId = idFromKey('transfer', `to-yen@${h.clock.nowMs()}`);
    expect(await h.send({ type: 'FreezeWallet', walletId: other }, transferSagaKeys.reverse(transferId))).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await h.send({ type: 'FreezeWallet', walletId: other }, transferSagaKeys.in(transferId))).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: yen, amount: '100' }, 'to-yen')).toMatchObject({ ok: true, value: { id: transferId } });
    await waitFor('the reversal', () => balanceOf(h, from) === 1000n);
  });

  it("refuses an internal entry carrying the saga's leg reference: the saga would relay it as a transfer's out leg", async () => {
    const from = await openWallet(0);
    const to = await openWallet(3);
    await topUp(from, '100');
    // A fee of `amount` from `from` to sys:fees:USD:0.
    const fee = (entryId: string, kind: string, amount: string, references?: Record<string, string>) =>
      h.send(
        {
          type: 'PostEntry',
          entryId,
          kind,
          postings: [
            { accountId: from, side: 'debit', amount, currency: 'USD' },
            { accountId: 'sys:fees:USD:0', side: 'credit', amount, currency: 'USD' },
          ],
          ...(references === undefined ? {} : { references }),
        },
        key('fee'),
      );
    // Nothing in transit, dressed as an out leg: relayed, it credited `to` from transit, money made.
    const forged = await fee('fee-leg', 'fee', '10', { transferId: 'forged-1', fromWalletId: from, toWalletId: to, leg: 'out', destinationShard: '3' });
    expect(forged).toMatchObject({ ok: false, error: { code: 'validation_failed', details: { fields: [{ field: 'references.leg', reason: 'reserved' }] } } });
    // The kinds of the transfer legs, by which the saga tells a stale transfer settled, are theirs too.
    expect(await fee('fee-kind', 'transfer', '1')).toMatchObject({ ok: false, error: { code: 'validation_failed', details: { fields: [{ field: 'kind', reason: 'reserved' }] } } });
    // A real transfer after it: once the saga is past it, it is past any forged leg before it too.
    expect(await h.send({ type: 'Transfer', fromWalletId: from, toWalletId: to, amount: '1' }, key('transfer'))).toMatchObject({ ok: true });
    await waitFor('the saga past every entry', async () => balanceOf(h, to) >= 1n && h.ledger.saga.position() >= (await h.store.headPosition()));
    expect(balanceOf(h, to)).toBe(1n);
    expect(worldSums(h)).toEqual({ USD: { posted: 0n, pending: 0n } });
  });

  it('answers ledger.queries from the projection, reading its own writes', async () => {
    const walletId = await openWallet(1, 'USD', 'owner-q');
    const other = await openWallet(2, 'USD', 'owner-q');
    await topUp(walletId, '1000');
    const beforeTransfer = new Date(h.clock.nowMs()).toISOString();
    h.clock.advance(1_000);
    expect(await h.send({ type: 'Transfer', fromWalletId: walletId, toWalletId: other, amount: '250' }, key('t'))).toMatchObject({ ok: true });

    expect(await h.client.query({ type: 'GetWallet', walletId })).toMatchObject({
      ok: true,
      value: { id: walletId, ownerId: 'owner-q', balance: { posted: '750', pending: '0', available: '750' } },
    });
    const listed = await h.client.query<{ items: { id: string }[] }>({ type: 'ListWallets', ownerId: 'owner-q' });
    expect(listed.ok && listed.value.items.map((wallet) => wallet.id).sort()).toEqual([walletId, other].sort());
    expect(await h.client.query({ type: 'GetBalance', walletId, at: beforeTransfer })).toMatchObject({ ok: true, value: { posted: '1000' } });
    const page = await h.client.query<{ items: { kind: string; direction: string; balanceAfter: string }[]; nextCursor: string | null }>({
      type: 'ListTransactions',
      walletId,
      limit: 1,
    });
    expect(page).toMatchObject({ ok: true, value: { items: [{ kind: 'transfer', direction: 'debit', balanceAfter: '750' }] } });
    const older = await h.client.query({ type: 'ListTransactions', walletId, limit: 1, cursor: page.ok ? page.value.nextCursor! : '' });
    expect(older).toMatchObject({ ok: true, value: { items: [{ kind: 'top_up', direction: 'credit', balanceAfter: '1000' }], nextCursor: null } });
    expect(await h.client.query({ type: 'GetAccountSums', accountId: 'sys:funding:USD:1' })).toMatchObject({
      ok: true,
      value: { debitsPosted: '1000', creditsPosted: '0' },
    });
    expect(await h.client.query({ type: 'GetWallet', walletId: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    // Eventual reads (owner and currency checks) still find a wallet opened a moment ago.
    const fresh = await openWallet(3, 'EUR', 'owner-q');
    expect(await h.client.query({ type: 'GetWallet', walletId: fresh, consistency: 'eventual' })).toMatchObject({ ok: true, value: { id: fresh, currency: 'EUR' } });
    expect(await h.client.query({ type: 'GetWallet', walletId: 'nope', consistency: 'eventual' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await h.client.query({ type: 'ListTransactions', walletId, cursor: '!!' })).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  it("answers GetBalance without `at` as of the service's clock, not the machine's", async () => {
    const walletId = await openWallet(1);
    await topUp(walletId, '40');
    expect(await h.client.query({ type: 'GetBalance', walletId })).toEqual({
      ok: true,
      value: { posted: '40', pending: '0', available: '40', asOf: new Date(h.clock.nowMs()).toISOString() },
    });
  });

  it('publishes every ledger event on ledger.events from the store', async () => {
    const walletId = await openWallet(0);
    await topUp(walletId, '5');
    const head = await h.store.headPosition();
    await h.ledger.relay.waitForPosition(head);
    expect(h.ledger.relay.position()).toBe(head);
  });

  it('keeps a correlation id in event metadata only as a string of at most 256 characters, as every service does (a long one stopped ledger.events)', async () => {
    const walletId = await openWallet(2);
    const withCorrelation = (correlationId: unknown, key: string) =>
      h.client.command({ type: 'TopUp', walletId, amount: '1', meta: { idempotencyKey: key, actor: 'test', correlationId } } as never);
    expect(await withCorrelation('c'.repeat(100_000), 'long-correlation')).toMatchObject({ ok: true });
    expect(await withCorrelation({ nested: ['not', 'an', 'id'] }, 'odd-correlation')).toMatchObject({ ok: true });
    const events = await h.store.readStream('ledger-2');
    const metadataOf = (key: string) => events.filter((event) => event.metadata.idempotencyKey === key).map((event) => event.metadata);
    // The whole 100,000 characters went into the event (and every event of its command), and an object where a string belongs.
    expect(metadataOf('long-correlation')).toEqual([expect.objectContaining({ correlationId: 'c'.repeat(256), causationId: 'c'.repeat(256) })]);
    const [odd] = events.filter((event) => event.metadata.idempotencyKey === 'odd-correlation');
    expect(odd.metadata).toMatchObject({ correlationId: odd.eventId, causationId: odd.eventId });
    // One that fits a command (under the bus's 1 MiB) went into its event twice (correlation and causation): past the
    // bus's limit, ledger.events stopped there for good.
    expect(await withCorrelation('c'.repeat(600_000), 'huge-correlation')).toMatchObject({ ok: true });
    const head = await h.store.headPosition();
    await h.ledger.relay.waitForPosition(head);
    expect(h.ledger.relay.position()).toBe(head);
  });

  it('refuses a command without an idempotency key', async () => {
    const reply = await h.client.command({ type: 'TopUp', walletId: walletOnShard(0), amount: '1', meta: { idempotencyKey: '', actor: 'test' } });
    expect(reply).toMatchObject({ ok: false, error: { code: 'idempotency_key_required' } });
  });

  it('refuses a key longer than the ledger stores before anything else, opening no account for it', async () => {
    const walletId = await openWallet(2, 'EUR');
    const long = 'k'.repeat(129);
    expect(await h.client.command({ type: 'TopUp', walletId, amount: '1', meta: { idempotencyKey: long, actor: 'test' } })).toMatchObject({
      ok: false,
      error: { code: 'idempotency_key_required', details: { idempotencyKeyLengthMax: 128 } },
    });
    expect(h.ledger.service.writer(2)!.currentState.accounts.has('sys:funding:EUR:2')).toBe(false);
    const ghost = walletOnShard(2);
    expect(await h.client.command({ type: 'TopUp', walletId: ghost, amount: '1', meta: { idempotencyKey: long, actor: 'test' } })).toMatchObject({
      ok: false,
      error: { code: 'idempotency_key_required' },
    });
  });

  it('after a restart: rebuilt balances, first outcomes still answered, and LEDGER_SHARDS fixed', async () => {
    const walletId = await openWallet(1);
    const first = await h.send({ type: 'TopUp', walletId, amount: '123' }, 'restart-top');
    expect(await h.send({ type: 'Withdraw', walletId, amount: '999' }, 'restart-refused')).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    const { dataDir, clock } = h;
    await h.close();

    h = await startHarness({ dataDir, clock });
    expect(balanceOf(h, walletId)).toBe(123n);
    expect(await h.send({ type: 'TopUp', walletId, amount: '123' }, 'restart-top')).toEqual(first);
    await topUp(walletId, '5000');
    expect(await h.send({ type: 'Withdraw', walletId, amount: '999' }, 'restart-refused')).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    await h.close();

    await expect(startHarness({ dataDir, clock, env: { LEDGER_SHARDS: '8' } })).rejects.toThrow(/LEDGER_SHARDS/);
    h = await startHarness({ dataDir, clock });
  });

  /** Restarts with SNAPSHOT_EVERY=3, then opens a wallet on shard 2 and tops it up 5 times, then closes: shard 2's state then. */
  async function snapshottedShard(): Promise<{ walletId: string; before: LedgerShardState }> {
    const { dataDir, clock } = h;
    await h.close();
    h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '3' } });
    const walletId = await openWallet(2);
    for (let i = 0; i < 5; i++) await topUp(walletId, '10');
    const before = h.ledger.service.writer(2)!.currentState;
    expect(await h.ledger.service.writer(2)!['deps'].snapshots.load(2)).toBeDefined();
    await h.close();
    return { walletId, before };
  }

  it('answers a retried hold of the default timeout with its first outcome after a restart with another HOLD_TIMEOUT_MS', async () => {
    const walletId = await openWallet(1);
    await topUp(walletId, '100');
    const placed = await h.send<HoldView>({ type: 'PlaceHold', holdId: 'default-timeout', walletId, amount: '60' }, 'default-timeout');
    expect(placed).toMatchObject({ ok: true, value: { status: 'pending' } });
    const refused = { type: 'PlaceHold', holdId: 'default-refused', walletId, amount: '999' } as const;
    expect(await h.send(refused, 'default-refused')).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    const { dataDir, clock } = h;
    await h.close();
    clock.advance(1_000);
    h = await startHarness({ dataDir, clock, env: { HOLD_TIMEOUT_MS: '3600000' } });
    expect(await h.send({ type: 'PlaceHold', holdId: 'default-timeout', walletId, amount: '60' }, 'default-timeout')).toEqual(placed);
    expect(await h.send(refused, 'default-refused')).toMatchObject({ ok: false, error: { code: 'insufficient_funds' } });
    // Another body under the key is still another command.
    expect(await h.send({ type: 'PlaceHold', holdId: 'default-timeout', walletId, amount: '60', timeoutMs: 60_000 }, 'default-timeout')).toMatchObject({
      ok: false,
      error: { code: 'idempotency_key_reuse' },
    });
  });

  it('expires after a restart from a snapshot a hold that came due while down, and refuses its capture in between', async () => {
    const { dataDir, clock } = h;
    await h.close();
    h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '1' } });
    const walletId = await openWallet(2);
    await topUp(walletId, '100');
    expect(await h.send({ type: 'PlaceHold', holdId: 'down-hold', walletId, amount: '70', timeoutMs: 60_000 }, 'down-hold')).toMatchObject({ ok: true });
    expect((await h.ledger.service.writer(2)!['deps'].snapshots.load(2))?.revision).toBe(h.ledger.service.writer(2)!.lastRevision);
    await h.close();
    clock.advance(61_000);
    h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '1', HOLD_SWEEP_INTERVAL_MS: '3600000' } });
    const writer = h.ledger.service.writer(2)!;
    expect(writer.currentState.holds.get('down-hold')?.status).toBe('pending');
    expect(await h.send({ type: 'CaptureHold', holdId: 'down-hold', walletId, amount: '70' }, 'late-capture')).toMatchObject({ ok: false, error: { code: 'hold_not_pending' } });
    expect(writer.sweepExpiredHolds()).toBe(1);
    await waitFor('the hold to expire', () => writer.currentState.holds.get('down-hold')?.status === 'expired');
    expect(availableBalance(writer.currentState.accounts.get(walletId)!)).toBe(100n);
  });

  it('restarts from a snapshot plus the tail', async () => {
    const { before } = await snapshottedShard();
    h = await startHarness({ dataDir: h.dataDir, clock: h.clock, env: { SNAPSHOT_EVERY: '3' } });
    expect(h.ledger.service.writer(2)!.currentState).toEqual(before);
  });

  it('restarts from a snapshot whose sums passed 30 digits (two entries of the largest amount), not from the whole stream', async () => {
    const { dataDir, clock } = h;
    await h.close();
    h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '1' } });
    const walletId = await openWallet(2);
    const largest = '9'.repeat(30);
    await topUp(walletId, largest);
    await topUp(walletId, largest);
    const before = h.ledger.service.writer(2)!.currentState;
    expect(postedBalance(before.accounts.get(walletId)!)).toBe(2n * BigInt(largest));
    await h.close();
    // A sum is no amount: restoring it as one threw, and every restart folded the whole stream.
    const read = jest.spyOn(SqliteEventStore.prototype, 'readStream');
    try {
      h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '1' } });
      const fromRevisions = read.mock.calls.filter(([streamId]) => streamId === 'ledger-2').map(([, options]) => options?.fromRevision);
      expect(fromRevisions).not.toContain(0n);
    } finally {
      read.mockRestore();
    }
    expect(h.ledger.service.writer(2)!.currentState).toEqual(before);
    expect(await h.client.query({ type: 'GetWallet', walletId })).toMatchObject({ ok: true, value: { balance: { posted: String(2n * BigInt(largest)) } } });
  });

  it('ignores a corrupt snapshot and folds the whole stream instead', async () => {
    const { walletId, before } = await snapshottedShard();
    const file = new Database(join(h.dataDir, 'snapshots.sqlite'));
    try {
      expect(file.prepare("UPDATE ledger_snapshot_parts SET body = '{\"accounts\": [' WHERE shard = 2").run().changes).toBeGreaterThan(0);
    } finally {
      file.close();
    }
    h = await startHarness({ dataDir: h.dataDir, clock: h.clock, env: { SNAPSHOT_EVERY: '3' } });
    expect(h.ledger.service.writer(2)!.currentState).toEqual(before);
    expect(await h.send({ type: 'TopUp', walletId, amount: '1' }, 'after-corrupt-snapshot')).toMatchObject({ ok: true });
  });

  it.each([
    ['one event short of what it holds (the tail folded on it applied an event twice and the writer could not start)', -1n],
    ['one event past what it holds (an event of the stream never reached the state: a top-up missing)', 1n],
  ])('ignores a snapshot whose revision is %s, and folds the stream', async (_case, shift) => {
    const { walletId, before } = await snapshottedShard();
    const file = new Database(join(h.dataDir, 'snapshots.sqlite'));
    try {
      const { revision } = file.prepare('SELECT revision FROM ledger_snapshots WHERE shard = 2').get() as { revision: string };
      file.prepare('UPDATE ledger_snapshots SET revision = ? WHERE shard = 2').run(String(BigInt(revision) + shift));
    } finally {
      file.close();
    }
    h = await startHarness({ dataDir: h.dataDir, clock: h.clock, env: { SNAPSHOT_EVERY: '3' } });
    expect(h.ledger.service.writer(2)!.currentState).toEqual(before);
    expect(balanceOf(h, walletId)).toBe(50n);
    expect(await h.send({ type: 'Withdraw', walletId, amount: '50' }, 'after-shifted-snapshot')).toMatchObject({ ok: true });
  });

  it('ignores a snapshot of another store (one of another shard count), though its revision is within the stream', async () => {
    const { before: theirs } = await snapshottedShard();
    const theirDir = h.dataDir;
    // Another data dir, of 8 shards, whose shard 2 has grown past that snapshot's revision.
    h = await startHarness({ clock: h.clock, env: { LEDGER_SHARDS: '8', SNAPSHOT_EVERY: '0' } });
    let walletId = uuidv7.next();
    while (accountShard(walletId, 8) !== 2) walletId = uuidv7.next();
    expect(await h.send({ type: 'OpenWallet', walletId, ownerId: 'user-8', currency: 'EUR' }, key('open'))).toMatchObject({ ok: true });
    for (let i = 0; i < 8; i++) expect(await h.send({ type: 'TopUp', walletId, amount: '3' }, key('top-up'))).toMatchObject({ ok: true });
    const ours = h.ledger.service.writer(2)!.currentState;
    const { dataDir, clock } = h;
    await h.close();
    copyFileSync(join(theirDir, 'snapshots.sqlite'), join(dataDir, 'snapshots.sqlite'));
    rmSync(theirDir, { recursive: true, force: true });
    // Taken as this shard's state at its revision: another store's wallets and money, and this one's first events missing.
    h = await startHarness({ dataDir, clock, env: { LEDGER_SHARDS: '8', SNAPSHOT_EVERY: '0' } });
    expect(h.ledger.service.writer(2)!.currentState).toEqual(ours);
    expect(h.ledger.service.writer(2)!.currentState).not.toEqual(theirs);
  });

  it('ignores a snapshot beyond the stream (the store restored from an older backup) and folds the stream', async () => {
    const walletId = await openWallet(2);
    await topUp(walletId, '10');
    const { dataDir, clock } = h;
    await h.close();
    const backup = join(dataDir, 'backup');
    mkdirSync(backup);
    const storeFiles = () => readdirSync(dataDir).filter((name) => name.startsWith('events.sqlite'));
    for (const name of storeFiles()) copyFileSync(join(dataDir, name), join(backup, name));
    h = await startHarness({ dataDir, clock });
    const stored = h.ledger.service.writer(2)!.currentState;
    await h.close();
    await snapshottedShard();
    for (const name of storeFiles()) rmSync(join(dataDir, name));
    for (const name of readdirSync(backup)) copyFileSync(join(backup, name), join(dataDir, name));
    // The projection is rebuilt (its relay checkpoint beyond the store refuses the start); the snapshots are a cache too.
    for (const name of readdirSync(dataDir).filter((file) => file.startsWith('wallet-ledger.sqlite'))) rmSync(join(dataDir, name));
    // The snapshot held wallets and money the store does not, and every append met a stream shorter than it expected: unavailable for good.
    h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '3' } });
    expect(h.ledger.service.writer(2)!.currentState).toEqual(stored);
    expect(await h.send({ type: 'TopUp', walletId, amount: '1' }, 'after-restore')).toMatchObject({ ok: true });
    expect(balanceOf(h, walletId)).toBe(11n);
    // Once the stream grows past the old snapshot's revision, that snapshot (of the lost history) must not come back.
    const revision = (await h.store.streamRevision('ledger-2'))!;
    await h.close();
    h = await startHarness({ dataDir, clock, env: { SNAPSHOT_EVERY: '0' } });
    for (let i = 0; i < 12; i++) await topUp(walletId, '1');
    expect(await h.store.streamRevision('ledger-2')).toBeGreaterThan(revision + 10n);
    const folded = h.ledger.service.writer(2)!.currentState;
    await h.close();
    h = await startHarness({ dataDir, clock });
    expect(h.ledger.service.writer(2)!.currentState).toEqual(folded);
    expect(balanceOf(h, walletId)).toBe(23n);
  });
});
