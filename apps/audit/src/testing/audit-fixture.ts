// A real data dir for the audit's tests: the wallet-ledger run through its own test harness
// (wallets on several shards, top-ups, same- and cross-shard transfers, holds captured and
// released, a withdrawal), then stopped. Built once per suite; each test works on a copy.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, uuidv7 } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard, postedBalance } from '@ledger/ledger';
import { startHarness, type Harness } from '../../../wallet-ledger/src/testing/wallet-ledger.harness';

const SHARDS = 4;
const STEP_MS = 60_000;

export interface AuditFixture {
  readonly dataDir: string;
  /** a and b on shard 0, c on shard 3. */
  readonly wallets: { readonly a: string; readonly b: string; readonly c: string };
  /** Commit times: before anything, between the top-ups and the transfers, after everything. */
  readonly times: { readonly start: string; readonly afterTopUps: string; readonly end: string };
}

export async function buildFixture(): Promise<AuditFixture> {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const start = new Date(clock.nowMs()).toISOString();
  const h = await startHarness({ clock });
  try {
    const a = walletOnShard(0);
    const b = walletOnShard(0);
    const c = walletOnShard(3);
    for (const walletId of [a, b, c]) await ok(h, { type: 'OpenWallet', walletId, ownerId: `owner-${walletId}`, currency: 'USD' }, `open-${walletId}`);
    clock.advance(STEP_MS);
    await ok(h, { type: 'TopUp', walletId: a, amount: '10000', reference: 'bank-transfer-77' }, 'top-a');
    await ok(h, { type: 'TopUp', walletId: b, amount: '5000' }, 'top-b');
    await ok(h, { type: 'TopUp', walletId: c, amount: '3000' }, 'top-c');
    clock.advance(STEP_MS);
    const afterTopUps = new Date(clock.nowMs()).toISOString();
    clock.advance(STEP_MS);
    await ok(h, { type: 'Transfer', fromWalletId: a, toWalletId: b, amount: '1000', memo: 'rent' }, 'a-to-b');
    await ok(h, { type: 'Transfer', fromWalletId: a, toWalletId: c, amount: '2000' }, 'a-to-c');
    await ok(h, { type: 'Transfer', fromWalletId: c, toWalletId: a, amount: '500' }, 'c-to-a');
    await waitFor('cross-shard transfers landed', () => balance(h, c) === 4500n && balance(h, a) === 7500n, { timeoutMs: 10_000 });
    clock.advance(STEP_MS);
    await ok(h, { type: 'PlaceHold', holdId: 'hold-b', walletId: b, amount: '700' }, 'hold-b');
    await ok(h, { type: 'CaptureHold', holdId: 'hold-b', walletId: b, amount: '400' }, 'capture-b');
    await ok(h, { type: 'PlaceHold', holdId: 'hold-c', walletId: c, amount: '200' }, 'hold-c');
    await ok(h, { type: 'ReleaseHold', holdId: 'hold-c', walletId: c }, 'release-c');
    await ok(h, { type: 'Withdraw', walletId: b, amount: '100' }, 'withdraw-b');
    clock.advance(STEP_MS);
    const end = new Date(clock.nowMs()).toISOString();
    const head = await h.store.headPosition();
    await waitFor('the projection caught up', () => h.ledger.projection.processedThrough() >= head, { timeoutMs: 10_000 });
    return { dataDir: h.dataDir, wallets: { a, b, c }, times: { start, afterTopUps, end } };
  } finally {
    await h.close();
  }
}

/** A copy of the fixture's data dir to mutate. */
export function copyDataDir(fixture: AuditFixture): string {
  const copy = mkdtempSync(join(tmpdir(), 'ledger-audit-copy-'));
  cpSync(fixture.dataDir, copy, { recursive: true });
  return copy;
}

function walletOnShard(shard: number): string {
  for (;;) {
    const id = uuidv7.next();
    if (accountShard(id, SHARDS) === shard) return id;
  }
}

function balance(h: Harness, walletId: string): bigint {
  const account = h.ledger.service.writer(accountShard(walletId, SHARDS))?.currentState.accounts.get(walletId);
  return account === undefined ? -1n : postedBalance(account);
}

async function ok(h: Harness, message: Parameters<Harness['send']>[0], key: string): Promise<void> {
  const reply = await h.send(message, key);
  if (!reply.ok) throw new Error(`${message.type} ${key} failed: ${JSON.stringify(reply.error)}`);
}
