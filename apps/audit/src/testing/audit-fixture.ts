// A real data dir for the audit's tests: the wallet-ledger run through its own test harness
// (wallets on several shards, top-ups, same- and cross-shard transfers, holds captured and
// released, a withdrawal), then stopped; then identity through its harness on the same data dir
// (a user registered and logged in), then the card-issuer through its harness (a cardholder's card
// revealed, authorized, captured; declines, one for a PAN no card has), so the store and files are
// as the embedded host keeps them. Built once per suite; each test works on a copy.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, uuidv7 } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { accountShard, postedBalance } from '@ledger/ledger';
import { startHarness, type Harness } from '../../../wallet-ledger/src/testing/wallet-ledger.harness';
import { startIdentityHarness } from '../../../identity/src/testing/identity.harness';
import { startCardHarness } from '../../../card-issuer/src/testing/card-issuer.harness';
import { authorize, authorizeMessage, cardholder } from '../../../card-issuer/src/testing/card-fixtures';
import { composePan } from '../../../card-issuer/src/domain/pan';
import { runCli } from '../cli';

const SHARDS = 4;
export const CARD_NUMBER_IN_REFERENCE = '4111 1111 1111 1111';
const STEP_MS = 60_000;
/** Events between two snapshots of a shard writer in the fixture. */
export const SNAPSHOT_EVERY = 3;

export interface AuditFixture {
  readonly dataDir: string;
  /** a and b on shard 0, c on shard 3. */
  readonly wallets: { readonly a: string; readonly b: string; readonly c: string };
  /** The user registered in identity. */
  readonly userId: string;
  /** Commit times: before anything, between the top-ups and the transfers, after the ledger's part (the cards come later). */
  readonly times: { readonly start: string; readonly afterTopUps: string; readonly end: string };
  readonly cards: CardsPart;
}

export interface CardsPart {
  readonly cardId: string;
  /** The cardholder's wallet (on whatever shard its id falls). */
  readonly walletId: string;
  /** Authorizations: approved and partly captured, declined (wrong CVV), declined (a PAN no card has: no card id). */
  readonly authorizationIds: { readonly captured: string; readonly declined: string; readonly unknownPan: string };
  /** Every card number the fixture used, the issued card's among them: no audit output may hold one. */
  readonly pans: readonly string[];
}

export async function buildFixture(): Promise<AuditFixture> {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const start = new Date(clock.nowMs()).toISOString();
  // Snapshots every few events, as a long-running writer has them: verify holds each against the stream.
  const h = await startHarness({ clock, env: { SNAPSHOT_EVERY: String(SNAPSHOT_EVERY) } });
  try {
    const a = walletOnShard(0);
    const b = walletOnShard(0);
    const c = walletOnShard(3);
    for (const walletId of [a, b, c]) await ok(h, { type: 'OpenWallet', walletId, ownerId: `owner-${walletId}`, currency: 'USD' }, `open-${walletId}`);
    clock.advance(STEP_MS);
    await ok(h, { type: 'TopUp', walletId: a, amount: '10000', reference: 'bank-transfer-77' }, 'top-a');
    await ok(h, { type: 'TopUp', walletId: b, amount: '5000' }, 'top-b');
    // A caller put a card number in a free-text reference: the audit must never print it.
    await ok(h, { type: 'TopUp', walletId: c, amount: '3000', reference: `card ${CARD_NUMBER_IN_REFERENCE}` }, 'top-c');
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
    await h.close();
    const userId = await registerUser(h.dataDir, clock);
    clock.advance(STEP_MS);
    const cards = await useCards(h.dataDir, clock);
    return { dataDir: h.dataDir, wallets: { a, b, c }, userId, times: { start, afterTopUps, end }, cards };
  } catch (error) {
    await h.close({ remove: true });
    throw error;
  }
}

async function registerUser(dataDir: string, clock: ManualClock): Promise<string> {
  const identity = await startIdentityHarness({ dataDir, clock });
  try {
    const password = 'correct horse battery staple 42';
    const registered = await identity.send<{ id: string }>({ type: 'RegisterUser', email: 'auditor@example.com', password, displayName: 'Auditor' });
    if (!registered.ok) throw new Error(`RegisterUser failed: ${JSON.stringify(registered.error)}`);
    clock.advance(STEP_MS);
    const login = await identity.send({ type: 'Login', email: 'auditor@example.com', password });
    if (!login.ok) throw new Error(`Login failed: ${JSON.stringify(login.error)}`);
    const head = await identity.store.headPosition();
    await waitFor('the identity projection caught up', () => identity.identity.projection.processedThrough() >= head, { timeoutMs: 10_000 });
    return registered.value.id;
  } finally {
    await identity.close();
  }
}

/** A card issued, revealed and used, through the card-issuer's harness on the same data dir. */
async function useCards(dataDir: string, clock: ManualClock): Promise<CardsPart> {
  const h = await startCardHarness({ dataDir, clock });
  try {
    const { card, secrets, walletId } = await cardholder(h);
    const approved = await authorize(h, authorizeMessage(secrets, { amount: '1500' }));
    if (!approved.approved) throw new Error(`authorization not approved: ${approved.reason}`);
    const captured = await h.send<{ status: string }>({ type: 'CaptureAuthorization', authorizationId: approved.id, amount: '1000' });
    if (!captured.ok || captured.value.status !== 'captured') throw new Error(`capture failed: ${JSON.stringify(captured)}`);
    const wrongCvv = String((Number(secrets.cvv) + 1) % 1000).padStart(3, '0');
    const declined = await authorize(h, authorizeMessage(secrets, { cvv: wrongCvv }));
    const bin = secrets.pan.slice(0, 6);
    const unknownPan = [composePan(bin, '000000000'), composePan(bin, '111111111')].find((pan) => pan !== secrets.pan)!;
    const noCard = await authorize(h, authorizeMessage(secrets, { pan: unknownPan }));
    if (declined.status !== 'declined' || noCard.status !== 'declined') throw new Error('declines were not declined');
    clock.advance(STEP_MS);
    const head = await h.ledger.store.headPosition();
    await waitFor('the card-issuer projection caught up', () => h.cards.projection.processedThrough() >= head, { timeoutMs: 10_000 });
    return { cardId: card.id, walletId, authorizationIds: { captured: approved.id, declined: declined.id, unknownPan: noCard.id }, pans: [secrets.pan, unknownPan] };
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

/** Runs the CLI in-process with `args`: its exit code and everything it printed. */
export async function runAudit(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: async (text) => void (out += text), err: (text) => void (err += text), env: {} });
  return { code, out, err };
}
