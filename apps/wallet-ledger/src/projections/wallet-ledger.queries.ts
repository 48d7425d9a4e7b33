// Reads of the wallet-ledger projection, in API.md's shapes. Plain functions over its database;
// each prepares its statements once per database. Errors a caller can cause (a bad cursor, limit
// or time) come back as `validation_failed` values, never as exceptions.
import type Database from 'better-sqlite3';
import { perDatabase } from '@ledger/event-store';
import {
  decodePageCursor,
  domainError,
  encodePageCursor,
  fail,
  ok,
  type AccountSumsView,
  type BalanceView,
  type Result,
  type WalletView,
} from '@ledger/contracts';
import { sumOf, type Account, type Side } from '@ledger/ledger';
import { balanceView, walletView } from '../domain/views';
import { transferReversalId } from '../domain/wallet-commands';
import { accountOfRow, type AccountRow } from './wallet-ledger.projection';

/** Most wallets `listWallets` returns for one owner. */
export const WALLETS_PER_OWNER_MAX = 100;
export const TRANSACTIONS_PAGE_LIMIT_DEFAULT = 50;
export const TRANSACTIONS_PAGE_LIMIT_MAX = 200;

/** API.md's transaction line of a wallet. */
export interface TransactionLineView {
  readonly transactionId: string;
  readonly kind: string;
  readonly amount: string;
  readonly direction: Side;
  readonly status: 'posted' | 'pending' | 'voided';
  /** The wallet's posted balance after the line's event (pending lines too). */
  readonly balanceAfter: string;
  readonly counterpartyWalletId?: string;
  readonly createdAt: string;
}

export interface TransactionLinePage {
  readonly items: TransactionLineView[];
  /** Pass back as `cursor` for the next (older) page; null when there is none. */
  readonly nextCursor: string | null;
}

export interface TransactionPageRequest {
  readonly limit?: number;
  readonly cursor?: string;
}

export interface BalanceAsOfView extends BalanceView {
  /** The time asked for, as ISO 8601 UTC. */
  readonly asOf: string;
}

interface HistoryRow {
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
}

interface LineRow {
  position: bigint;
  seq: bigint;
  transaction_id: string;
  kind: string;
  amount: string;
  direction: Side;
  status: 'posted' | 'pending' | 'voided';
  balance_after: string;
  counterparty_wallet_id: string | null;
  created_at: string;
}

const ACCOUNT_COLUMNS = `account_id, kind, owner_id, currency, normal_side, debits_must_not_exceed_credits,
  credits_must_not_exceed_debits, status, debits_posted, credits_posted, debits_pending, credits_pending, created_at`;
const LINE_COLUMNS = `position, seq, transaction_id, kind, amount, direction, status, balance_after, counterparty_wallet_id, created_at`;

function prepareStatements(db: Database.Database) {
  return {
    account: db.prepare<[string], AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ?`),
    walletCountOfOwner: db.prepare<[string], { count: number }>(`SELECT count(*) AS count FROM accounts WHERE owner_id = ? AND kind = 'wallet'`),
    walletsOfOwner: db.prepare<[string, number], AccountRow>(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE owner_id = ? AND kind = 'wallet' ORDER BY opened_position LIMIT ?`,
    ),
    balanceAt: db.prepare<[string, string], HistoryRow>(
      `SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM account_balances_history
       WHERE account_id = ? AND recorded_at <= ? ORDER BY recorded_at DESC, position DESC LIMIT 1`,
    ),
    newestLines: db
      .prepare<[string, number], LineRow>(`SELECT ${LINE_COLUMNS} FROM transaction_lines WHERE wallet_id = ? ORDER BY position DESC, seq DESC LIMIT ?`)
      .safeIntegers(true),
    linesBefore: db
      .prepare<[string, bigint, bigint, number], LineRow>(
        `SELECT ${LINE_COLUMNS} FROM transaction_lines WHERE wallet_id = ? AND (position, seq) < (?, ?)
         ORDER BY position DESC, seq DESC LIMIT ?`,
      )
      .safeIntegers(true),
  };
}

// Per database, so one module can serve several (a live projection and a rebuild).
const statementsFor = perDatabase(prepareStatements);

// Not in prepareStatements: only the saga asks it, of out legs older than half a day.
const settledTransferFor = perDatabase((db) =>
  db.prepare<[string, string, string, string], { found: number }>(
    // By kind too: an internal entry may take any entry id, not these kinds (planCommand keeps them for the transfer legs).
    `SELECT 1 AS found FROM transaction_lines WHERE (wallet_id = ? AND transaction_id = ? AND direction = 'credit' AND kind = 'transfer')
       OR (wallet_id = ? AND transaction_id = ? AND kind = 'reversal') LIMIT 1`,
  ),
);

/** Whether a cross-shard transfer is settled: its in leg credited the destination, or its reversal the source. */
export function isTransferSettled(db: Database.Database, transfer: { transferId: string; fromWalletId: string; toWalletId: string }): boolean {
  const { transferId, fromWalletId, toWalletId } = transfer;
  return settledTransferFor(db).get(toWalletId, transferId, fromWalletId, transferReversalId(transferId)) !== undefined;
}

/**
 * The kinds only internal entries (PostEntry) give, whose lines a partial index finds by entry id: a refund or fee to a
 * wallet with a long history scanned all its lines (~65 ms a million) on the event loop. An index on every line's
 * transaction id would slow every projection write (and a rebuild) by about a third.
 */
const INTERNAL_ENTRY_KINDS = ['card_release', 'card_refund', 'fee'];

// Not in prepareStatements: only an internal entry asks them, whose id the shard's state no longer keeps.
const entryLineFor = perDatabase((db) => ({
  indexed: db.prepare<[string, string], { position: number | bigint }>(
    `SELECT position FROM transaction_lines INDEXED BY transaction_lines_internal_entries
     WHERE wallet_id = ? AND transaction_id = ? AND kind IN ('card_release', 'card_refund', 'fee') LIMIT 1`,
  ),
  // An internal top-up or withdrawal (rare): a scan of the wallet's lines.
  scanned: db.prepare<[string, string], { position: number | bigint }>(
    `SELECT position FROM transaction_lines WHERE wallet_id = ? AND transaction_id = ? AND kind NOT IN ('card_hold', 'card_capture') LIMIT 1`,
  ),
}));

/**
 * Where an entry under `entryId` touching wallet `walletId` sits in the store, if the projection has one. For an entry of
 * one of the internal kinds, only earlier entries of those kinds are looked for (an internal top-up under the same id is not).
 */
export function entryPositionOf(db: Database.Database, walletId: string, entryId: string, kind: unknown): bigint | undefined {
  const statements = entryLineFor(db);
  const row = (INTERNAL_ENTRY_KINDS.includes(kind as string) ? statements.indexed : statements.scanned).get(walletId, entryId);
  return row === undefined ? undefined : BigInt(row.position);
}

/** A wallet, or undefined when there is none (system accounts are not wallets). */
export function getWallet(db: Database.Database, walletId: string): WalletView | undefined {
  const row = statementsFor(db).account.get(walletId);
  return row === undefined || row.kind !== 'wallet' ? undefined : walletViewOf(row);
}

/** How many wallets an owner has opened (closed ones too: they are listed). */
export function walletCountOf(db: Database.Database, ownerId: string): number {
  return statementsFor(db).walletCountOfOwner.get(ownerId)?.count ?? 0;
}

/** An owner's wallets in the order they were opened, at most WALLETS_PER_OWNER_MAX (OpenWallet refuses more). */
export function listWallets(db: Database.Database, ownerId: string): WalletView[] {
  return statementsFor(db).walletsOfOwner.all(ownerId, WALLETS_PER_OWNER_MAX).map(walletViewOf);
}

/**
 * A wallet's balance as of `at` (ISO 8601): the sums after the last event the store recorded at
 * or before it (`recordedAt`, DESIGN.md §10); zeros before the wallet was opened. `not_found`
 * when there is no such wallet, `validation_failed` for a time that is not ISO 8601.
 */
export function getBalanceAt(db: Database.Database, walletId: string, at: string): Result<BalanceAsOfView> {
  const asOf = isoTimeOf(at);
  if (asOf === undefined) return fail(domainError('validation_failed', 'at: not an ISO 8601 time', { field: 'at', reason: 'invalid_time' }));
  const statements = statementsFor(db);
  const row = statements.account.get(walletId);
  if (row === undefined || row.kind !== 'wallet') return fail(domainError('not_found', 'no such wallet', { walletId }));
  const history = statements.balanceAt.get(walletId, asOf);
  const account: Account = {
    ...accountOfRow(row),
    debitsPosted: history === undefined ? 0n : sumOf(history.debits_posted),
    creditsPosted: history === undefined ? 0n : sumOf(history.credits_posted),
    debitsPending: history === undefined ? 0n : sumOf(history.debits_pending),
    creditsPending: history === undefined ? 0n : sumOf(history.credits_pending),
  };
  return ok({ ...balanceView(account), asOf });
}

/**
 * A wallet's lines, newest first, `limit` (1..TRANSACTIONS_PAGE_LIMIT_MAX, default
 * TRANSACTIONS_PAGE_LIMIT_DEFAULT) at a time. An unknown wallet has no lines.
 */
export function listTransactions(db: Database.Database, walletId: string, request: TransactionPageRequest = {}): Result<TransactionLinePage> {
  const limit = request.limit ?? TRANSACTIONS_PAGE_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > TRANSACTIONS_PAGE_LIMIT_MAX) {
    return fail(
      domainError('validation_failed', `limit: must be an integer from 1 to ${TRANSACTIONS_PAGE_LIMIT_MAX}`, {
        field: 'limit',
        reason: 'out_of_range',
        limitMax: TRANSACTIONS_PAGE_LIMIT_MAX,
      }),
    );
  }
  const statements = statementsFor(db);
  let rows: LineRow[];
  if (request.cursor === undefined) {
    rows = statements.newestLines.all(walletId, limit + 1);
  } else {
    const after = decodePageCursor(request.cursor);
    if (after === undefined) return fail(domainError('validation_failed', 'cursor: not a cursor this API gave out', { field: 'cursor', reason: 'invalid_cursor' }));
    rows = statements.linesBefore.all(walletId, after.position, after.seq, limit + 1);
  }
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextCursor = rows.length > limit ? encodePageCursor(last.position, last.seq) : null;
  return ok({ items: items.map(lineView), nextCursor });
}

/** The four sums of any ledger account, or undefined when there is none. */
export function getAccountSums(db: Database.Database, accountId: string): AccountSumsView | undefined {
  const row = statementsFor(db).account.get(accountId);
  if (row === undefined) return undefined;
  return {
    accountId: row.account_id,
    currency: row.currency,
    debitsPosted: row.debits_posted,
    creditsPosted: row.credits_posted,
    debitsPending: row.debits_pending,
    creditsPending: row.credits_pending,
  };
}

function walletViewOf(row: AccountRow): WalletView {
  return walletView(accountOfRow(row));
}

function lineView(row: LineRow): TransactionLineView {
  const line = {
    transactionId: row.transaction_id,
    kind: row.kind,
    amount: row.amount,
    direction: row.direction,
    status: row.status,
    balanceAfter: row.balance_after,
    createdAt: row.created_at,
  };
  return row.counterparty_wallet_id === null ? line : { ...line, counterpartyWalletId: row.counterparty_wallet_id };
}

// ISO 8601 with a date, a time and a zone (Z or ±hh:mm); years of four digits, so it can be
// normalised to `toISOString()` and compared with `recorded_at` as text.
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function isoTimeOf(text: string): string | undefined {
  const match = typeof text === 'string' ? ISO_TIME.exec(text) : null;
  if (match === null) return undefined;
  const ms = Date.parse(text);
  // Date.parse rolls 2026-02-30 over into March: refuse a day its month does not have.
  if (Number.isNaN(ms) || Number(match[3]) > daysInMonth(Number(match[1]), Number(match[2]))) return undefined;
  const iso = new Date(ms).toISOString();
  return iso.length === 24 ? iso : undefined; // outside years 0000-9999
}

function daysInMonth(year: number, month: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, 0); // day 0 of the next month: the last day of this one
  return date.getUTCDate();
}
