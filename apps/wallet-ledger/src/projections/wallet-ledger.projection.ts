// The wallet-ledger read model: every ledger account with its four sums, each account's balance
// history (for "balance as of T"), and each wallet's transaction lines, projected from the
// `ledger-{shard}` streams. Every row is a function of the events alone (positions, `recordedAt`
// and the commands' `atMs`), so a rebuild from position 0 equals the incrementally built tables.
//
// Line rules (API.md's transaction line, for wallet accounts only; newest first by position):
// - EntryPosted: one line per posting on a wallet: kind = the entry's kind, transactionId =
//   entryId, status posted, counterparty from the references `fromWalletId`/`toWalletId`.
// - HoldPlaced: a `card_hold` line, status pending, amount = held, transactionId = holdId.
// - HoldCaptured: the hold line turns `voided` and a `card_capture` line (posted, the captured
//   amount, same transactionId) is added.
// - HoldReleased: partly, the hold line's amount becomes what is still held (still pending);
//   fully, and HoldExpired, the hold line turns `voided` and no line is added (no money moved).
// - balanceAfter is the wallet's posted balance after the event, on pending lines too (a hold
//   changes what is available, not what is posted).
// Amounts are TEXT digit strings: sums may reach far beyond SQLite's 64-bit integers.
import type Database from 'better-sqlite3';
import { amountOf, formatAmount, toIsoTime, type Currency, type RecordedEvent } from '@ledger/contracts';
import {
  ledgerEventOf,
  postedBalance,
  sumOf,
  type Account,
  type AccountKind,
  type AccountOpened,
  type AccountStatus,
  type BalanceSums,
  type LedgerEvent,
  type Side,
} from '@ledger/ledger';
import { perDatabase, type Projection } from '@ledger/event-store';

export const WALLET_LEDGER_PROJECTION_NAME = 'wallet-ledger';
export const LEDGER_STREAM_PREFIX = 'ledger-';

/** A ledger shard's stream: `ledger-{n}`. Other streams under the prefix (`ledger-meta`) carry no accounts. */
const SHARD_STREAM = /^ledger-(0|[1-9][0-9]{0,8})$/;

export const WALLET_LEDGER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS accounts (
    account_id                     TEXT    PRIMARY KEY,
    shard                          INTEGER NOT NULL,
    kind                           TEXT    NOT NULL,
    owner_id                       TEXT,
    currency                       TEXT    NOT NULL,
    normal_side                    TEXT    NOT NULL,
    debits_must_not_exceed_credits INTEGER NOT NULL,
    credits_must_not_exceed_debits INTEGER NOT NULL,
    status                         TEXT    NOT NULL,
    debits_posted                  TEXT    NOT NULL,
    credits_posted                 TEXT    NOT NULL,
    debits_pending                 TEXT    NOT NULL,
    credits_pending                TEXT    NOT NULL,
    created_at                     TEXT    NOT NULL,
    opened_position                INTEGER NOT NULL,
    last_position                  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS accounts_wallets_by_owner ON accounts (owner_id, opened_position) WHERE kind = 'wallet';

  CREATE TABLE IF NOT EXISTS account_balances_history (
    account_id      TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    debits_posted   TEXT    NOT NULL,
    credits_posted  TEXT    NOT NULL,
    debits_pending  TEXT    NOT NULL,
    credits_pending TEXT    NOT NULL,
    PRIMARY KEY (account_id, recorded_at, position)
  ) WITHOUT ROWID;

  CREATE TABLE IF NOT EXISTS transaction_lines (
    wallet_id              TEXT    NOT NULL,
    position               INTEGER NOT NULL,
    seq                    INTEGER NOT NULL,
    transaction_id         TEXT    NOT NULL,
    kind                   TEXT    NOT NULL,
    amount                 TEXT    NOT NULL,
    currency               TEXT    NOT NULL,
    direction              TEXT    NOT NULL,
    status                 TEXT    NOT NULL,
    balance_after          TEXT    NOT NULL,
    counterparty_wallet_id TEXT,
    created_at             TEXT    NOT NULL,
    updated_position       INTEGER NOT NULL,
    PRIMARY KEY (wallet_id, position, seq)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS transaction_lines_pending_holds
    ON transaction_lines (wallet_id, transaction_id) WHERE kind = 'card_hold' AND status = 'pending';
  CREATE INDEX IF NOT EXISTS transaction_lines_internal_entries
    ON transaction_lines (wallet_id, transaction_id) WHERE kind IN ('card_release', 'card_refund', 'fee');
`;

/** Where an event sits: every row it writes names it. */
interface EventPlace {
  readonly position: bigint;
  readonly recordedAt: string;
  /** The command's time as ISO 8601. */
  readonly createdAt: string;
}

/** An `accounts` row as the projection and its queries read it. */
export interface AccountRow {
  account_id: string;
  kind: AccountKind;
  owner_id: string | null;
  currency: Currency;
  normal_side: Side;
  debits_must_not_exceed_credits: number;
  credits_must_not_exceed_debits: number;
  status: AccountStatus;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
  created_at: string;
}

interface Line {
  readonly walletId: string;
  readonly seq: number;
  readonly transactionId: string;
  readonly kind: string;
  readonly amount: bigint;
  readonly currency: Currency;
  readonly direction: Side;
  readonly status: 'posted' | 'pending';
  readonly balanceAfter: bigint;
  readonly counterpartyWalletId: string | null;
}

/** Rows per multi-row INSERT of history rows and lines (one statement call instead of one per row). */
export const ROWS_PER_INSERT = 32;
/** Accounts a database's cache keeps between pages; past it the cache starts over (rows are re-read). */
export const ACCOUNT_CACHE_MAX = 100_000;

// OR FAIL, not the default ABORT: a failing statement is never undone on its own (the page's whole
// transaction or savepoint rolls back), and ABORT makes SQLite copy aside every page a multi-row INSERT touches.
const HISTORY_INSERT = 'INSERT OR FAIL INTO account_balances_history (account_id, recorded_at, position, debits_posted, credits_posted, debits_pending, credits_pending) VALUES ';
const HISTORY_COLUMNS = 7;
const LINES_INSERT = `INSERT OR FAIL INTO transaction_lines (wallet_id, position, seq, transaction_id, kind, amount, currency, direction, status,
  balance_after, counterparty_wallet_id, created_at, updated_position) VALUES `;
const LINE_COLUMNS = 13;

/** Buffered rows of one table, flat (`columns` values per row), inserted ROWS_PER_INSERT at a time. */
interface RowInserter {
  readonly columns: number;
  readonly many: Database.Statement<unknown[]>;
  readonly one: Database.Statement<unknown[]>;
  readonly args: unknown[];
}

function rowInserter(db: Database.Database, insert: string, columns: number): RowInserter {
  const tuple = `(${new Array(columns).fill('?').join(', ')})`;
  return {
    columns,
    many: db.prepare(insert + new Array(ROWS_PER_INSERT).fill(tuple).join(', ')),
    one: db.prepare(insert + tuple),
    args: new Array(columns * ROWS_PER_INSERT),
  };
}

/**
 * Inserts buffered rows (each an array of the table's columns), ordered by their first column
 * (stable: rows of one key stay in event order), so inserts of one account or wallet are adjacent.
 */
function insertRows(inserter: RowInserter, rows: unknown[][]): void {
  if (rows.length === 0) return;
  rows.sort(byFirstColumn);
  const { columns, args } = inserter;
  let index = 0;
  for (; index + ROWS_PER_INSERT <= rows.length; index += ROWS_PER_INSERT) {
    for (let row = 0; row < ROWS_PER_INSERT; row++) {
      const values = rows[index + row];
      for (let column = 0; column < columns; column++) args[row * columns + column] = values[column];
    }
    inserter.many.run(args);
  }
  for (; index < rows.length; index++) inserter.one.run(rows[index]);
  rows.length = 0;
}

function byFirstColumn(a: unknown[], b: unknown[]): number {
  const x = a[0] as string;
  const y = b[0] as string;
  return x < y ? -1 : x > y ? 1 : 0;
}

function prepareStatements(db: Database.Database) {
  return {
    insertAccount: db.prepare(
      `INSERT INTO accounts (account_id, shard, kind, owner_id, currency, normal_side, debits_must_not_exceed_credits,
         credits_must_not_exceed_debits, status, debits_posted, credits_posted, debits_pending, credits_pending,
         created_at, opened_position, last_position)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', '0', '0', '0', '0', ?, ?, ?)`,
    ),
    selectAccount: db.prepare<[string], AccountRow>(
      `SELECT account_id, kind, owner_id, currency, normal_side, debits_must_not_exceed_credits, credits_must_not_exceed_debits,
         status, debits_posted, credits_posted, debits_pending, credits_pending, created_at
       FROM accounts WHERE account_id = ?`,
    ),
    updateAccount: db.prepare<[string, string, string, string, AccountStatus, bigint, string]>(
      `UPDATE accounts SET debits_posted = ?, credits_posted = ?, debits_pending = ?, credits_pending = ?, status = ?, last_position = ?
       WHERE account_id = ?`,
    ),
    insertHistory: rowInserter(db, HISTORY_INSERT, HISTORY_COLUMNS),
    insertLines: rowInserter(db, LINES_INSERT, LINE_COLUMNS),
    // INDEXED BY: without statistics the planner would walk all of the wallet's lines by primary key.
    updateHoldAmount: db.prepare<[string, bigint, string, string]>(
      `UPDATE transaction_lines INDEXED BY transaction_lines_pending_holds SET amount = ?, updated_position = ?
       WHERE wallet_id = ? AND transaction_id = ? AND kind = 'card_hold' AND status = 'pending'`,
    ),
    voidHold: db.prepare<[bigint, string, string]>(
      `UPDATE transaction_lines INDEXED BY transaction_lines_pending_holds SET status = 'voided', updated_position = ?
       WHERE wallet_id = ? AND transaction_id = ? AND kind = 'card_hold' AND status = 'pending'`,
    ),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** What the projection keeps per database: its statements, and the accounts as last written (rows equal, so pages need not re-read them). */
interface DatabaseState {
  readonly statements: Statements;
  readonly accounts: Map<string, CachedAccount>;
}

// Per database, so one module can serve several (a live projection and a rebuild).
const stateFor = perDatabase((db): DatabaseState => ({ statements: prepareStatements(db), accounts: new Map() }));

export const walletLedgerProjection: Projection = {
  name: WALLET_LEDGER_PROJECTION_NAME,
  streamPrefixes: [LEDGER_STREAM_PREFIX],
  setup(db) {
    db.exec(WALLET_LEDGER_SCHEMA);
    stateFor(db).accounts.clear();
  },
  apply(db, recorded) {
    applyEvents(db, [recorded]);
  },
  applyBatch(db, events) {
    applyEvents(db, events);
  },
  rolledBack(db) {
    // The cached accounts may hold what the rolled-back page wrote: read them again.
    stateFor(db).accounts.clear();
  },
};

/**
 * Inserts rows of the history or lines table (each in the table's column order) with the
 * projection's own statements: what the audit bench's insert ceiling measures.
 */
export function insertProjectionRows(db: Database.Database, table: 'account_balances_history' | 'transaction_lines', rows: unknown[][]): void {
  const { statements } = stateFor(db);
  insertRows(table === 'account_balances_history' ? statements.insertHistory : statements.insertLines, rows);
}

/** Applies a page: each account it touches is read at most once and its row written once, at the end. */
function applyEvents(db: Database.Database, events: readonly RecordedEvent[]): void {
  // A page that throws is rolled back by projectionApplier, which then calls `rolledBack` to drop the cache.
  const ledger = new LedgerWriter(stateFor(db));
  for (const recorded of events) applyEvent(ledger, recorded);
  ledger.flush();
}

function applyEvent(ledger: LedgerWriter, recorded: RecordedEvent): void {
  const shard = shardOfStream(recorded.streamId);
  if (shard === undefined) return; // `ledger-meta`: no accounts there
  // An event type this code does not know throws (below) and stops the runner: skipping it would make the rows wrong.
  const event: LedgerEvent = ledgerEventOf(recorded);
  const place: EventPlace = { position: recorded.position, recordedAt: recorded.recordedAt, createdAt: toIsoTime(event.data.atMs) };
  ledger.begin(place);
  switch (event.type) {
    case 'ledger.AccountOpened.v1': {
      ledger.open(event.data, shard);
      ledger.change(event.data.accountId, {});
      ledger.save();
      return;
    }
    case 'ledger.EntryPosted.v1': {
      const { data } = event;
      for (const posting of data.postings) {
        const amount = amountOf(posting.amount);
        ledger.change(posting.accountId, posting.side === 'debit' ? { debitsPosted: amount } : { creditsPosted: amount }, posting.currency);
      }
      ledger.save();
      data.postings.forEach((posting, seq) => {
        const account = ledger.account(posting.accountId);
        if (account.kind !== 'wallet') return;
        ledger.insertLine({
          walletId: account.id,
          seq,
          transactionId: data.entryId,
          kind: data.kind,
          amount: amountOf(posting.amount),
          currency: account.currency,
          direction: posting.side,
          status: 'posted',
          balanceAfter: postedBalance(account),
          counterpartyWalletId: counterpartyOf(data.references, account.id),
        });
      });
      return;
    }
    case 'ledger.HoldPlaced.v1': {
      const { data } = event;
      const amount = amountOf(data.amount);
      ledger.change(data.debitAccountId, { debitsPending: amount }, data.currency);
      ledger.change(data.creditAccountId, { creditsPending: amount }, data.currency);
      ledger.save();
      ledger.holdLines(data, (account, direction, seq, counterpartyWalletId) =>
        ledger.insertLine({
          walletId: account.id,
          seq,
          transactionId: data.holdId,
          kind: 'card_hold',
          amount,
          currency: account.currency,
          direction,
          status: 'pending',
          balanceAfter: postedBalance(account),
          counterpartyWalletId,
        }),
      );
      return;
    }
    case 'ledger.HoldCaptured.v1': {
      const { data } = event;
      const captured = amountOf(data.capturedAmount);
      const held = captured + amountOf(data.releasedAmount);
      ledger.change(data.debitAccountId, { debitsPending: -held, debitsPosted: captured }, data.currency);
      ledger.change(data.creditAccountId, { creditsPending: -held, creditsPosted: captured }, data.currency);
      ledger.save();
      ledger.holdLines(data, (account, direction, seq, counterpartyWalletId) => {
        ledger.voidHoldLine(account.id, data.holdId);
        ledger.insertLine({
          walletId: account.id,
          seq,
          transactionId: data.holdId,
          kind: 'card_capture',
          amount: captured,
          currency: account.currency,
          direction,
          status: 'posted',
          balanceAfter: postedBalance(account),
          counterpartyWalletId,
        });
      });
      return;
    }
    case 'ledger.HoldReleased.v1': {
      const { data } = event;
      const released = amountOf(data.releasedAmount);
      const stillHeld = amountOf(data.heldAmount);
      ledger.change(data.debitAccountId, { debitsPending: -released }, data.currency);
      ledger.change(data.creditAccountId, { creditsPending: -released }, data.currency);
      ledger.save();
      ledger.holdLines(data, (account) => {
        if (stillHeld === 0n) ledger.voidHoldLine(account.id, data.holdId);
        else ledger.shrinkHoldLine(account.id, data.holdId, stillHeld);
      });
      return;
    }
    case 'ledger.HoldExpired.v1': {
      const { data } = event;
      const released = amountOf(data.releasedAmount);
      ledger.change(data.debitAccountId, { debitsPending: -released }, data.currency);
      ledger.change(data.creditAccountId, { creditsPending: -released }, data.currency);
      ledger.save();
      ledger.holdLines(data, (account) => ledger.voidHoldLine(account.id, data.holdId));
      return;
    }
    case 'ledger.AccountFrozen.v1':
      return ledger.setStatus(event.data.accountId, 'frozen');
    case 'ledger.AccountUnfrozen.v1':
      return ledger.setStatus(event.data.accountId, 'active');
    case 'ledger.AccountClosed.v1':
      return ledger.setStatus(event.data.accountId, 'closed');
    case 'ledger.CommandRejected.v1':
      return; // moved no money
    default: {
      const unknown: never = event;
      throw new Error(`wallet-ledger projection: unknown event type ${(unknown as { type: string }).type} at position ${recorded.position}`);
    }
  }
}

/** The shard a stream holds, or undefined when it is not a shard's stream. */
export function shardOfStream(streamId: string): number | undefined {
  const match = SHARD_STREAM.exec(streamId);
  return match === null ? undefined : Number(match[1]);
}

/** The other wallet of a transfer, for a line of `walletId`. */
function counterpartyOf(references: Readonly<Record<string, string>>, walletId: string): string | null {
  const { fromWalletId, toWalletId } = references;
  if (walletId === fromWalletId && toWalletId !== undefined) return toWalletId;
  if (walletId === toWalletId && fromWalletId !== undefined) return fromWalletId;
  return null;
}

/** The writer's own copy of an account, changed in place (never handed out beyond one event's lines). */
type WritableAccount = { -readonly [Key in keyof Account]: Account[Key] };

/** An account as changed so far, and the last event that changed it. */
interface CachedAccount {
  readonly account: WritableAccount;
  lastPosition: bigint;
  /** Changed since its row was last written: written at `flush`. */
  dirty: boolean;
}

/**
 * Applies one page: the accounts it touches stay in memory (read once per database, row written
 * once per page at `flush`); each event still makes one history row per account it changed, and
 * history rows and lines are buffered and inserted in multi-row statements at `flush` (lines also
 * before a hold's line is updated, so the update finds it).
 */
class LedgerWriter {
  private readonly statements: Statements;
  private readonly accounts: Map<string, CachedAccount>;
  /** Accounts the current event changed, in the order it changed them. */
  private readonly touched = new Map<string, CachedAccount>();
  /** Accounts whose row this page changed. */
  private readonly dirty: CachedAccount[] = [];
  private readonly history: unknown[][] = [];
  private readonly lines: unknown[][] = [];
  private place: EventPlace = { position: 0n, recordedAt: '', createdAt: '' };

  constructor(state: DatabaseState) {
    this.statements = state.statements;
    this.accounts = state.accounts;
    if (this.accounts.size > ACCOUNT_CACHE_MAX) this.accounts.clear();
  }

  /** Starts the next event of the page. */
  begin(place: EventPlace): void {
    this.place = place;
    this.touched.clear();
  }

  open(data: AccountOpened['data'], shard: number): void {
    const { position, createdAt } = this.place;
    const flags = [data.flags.debitsMustNotExceedCredits ? 1 : 0, data.flags.creditsMustNotExceedDebits ? 1 : 0] as const;
    this.statements.insertAccount.run(data.accountId, shard, data.kind, data.ownerId, data.currency, data.normalSide, ...flags, createdAt, position, position);
    // The row just inserted, without reading it back.
    const row: AccountRow = {
      account_id: data.accountId,
      kind: data.kind,
      owner_id: data.ownerId,
      currency: data.currency,
      normal_side: data.normalSide,
      debits_must_not_exceed_credits: flags[0],
      credits_must_not_exceed_debits: flags[1],
      status: 'active',
      debits_posted: '0',
      credits_posted: '0',
      debits_pending: '0',
      credits_pending: '0',
      created_at: createdAt,
    };
    this.accounts.set(data.accountId, { account: accountOfRow(row), lastPosition: position, dirty: false });
  }

  change(accountId: string, change: Partial<BalanceSums>, currency?: Currency): void {
    const cached = this.cached(accountId);
    const { account } = cached;
    invariant(currency === undefined || account.currency === currency, `${accountId}: ${currency} on a ${account.currency} account`);
    if (change.debitsPosted !== undefined) account.debitsPosted += change.debitsPosted;
    if (change.creditsPosted !== undefined) account.creditsPosted += change.creditsPosted;
    if (change.debitsPending !== undefined) account.debitsPending += change.debitsPending;
    if (change.creditsPending !== undefined) account.creditsPending += change.creditsPending;
    this.touched.set(accountId, cached);
  }

  /** An account as changed by this event (it must have been changed). */
  account(accountId: string): Account {
    const cached = this.touched.get(accountId);
    invariant(cached !== undefined, `${accountId} was not touched`);
    return cached.account;
  }

  /** One history row per account the event changed (its sums after the event). */
  save(): void {
    const { position, recordedAt } = this.place;
    for (const cached of this.touched.values()) {
      const { account } = cached;
      const { debitsPosted, creditsPosted, debitsPending, creditsPending } = account;
      invariant(debitsPosted >= 0n && creditsPosted >= 0n && debitsPending >= 0n && creditsPending >= 0n, `${account.id}: a balance sum went negative`);
      this.history.push([account.id, recordedAt, position, formatAmount(debitsPosted), formatAmount(creditsPosted), formatAmount(debitsPending), formatAmount(creditsPending)]);
      cached.lastPosition = position;
      this.markDirty(cached);
    }
  }

  /** Writes the buffered rows and the row of every account the page changed: its sums, status and last position. */
  flush(): void {
    insertRows(this.statements.insertHistory, this.history);
    insertRows(this.statements.insertLines, this.lines);
    for (const cached of this.dirty) {
      const { account } = cached;
      const sums = [account.debitsPosted, account.creditsPosted, account.debitsPending, account.creditsPending].map(formatAmount);
      this.statements.updateAccount.run(sums[0], sums[1], sums[2], sums[3], account.status, cached.lastPosition, account.id);
      cached.dirty = false;
    }
    this.dirty.length = 0;
  }

  /** Calls `line` for each wallet side of a hold: debit first (seq 0), then credit (seq 1). */
  holdLines(
    hold: { readonly debitAccountId: string; readonly creditAccountId: string },
    line: (account: Account, direction: Side, seq: number, counterpartyWalletId: string | null) => void,
  ): void {
    const debit = this.account(hold.debitAccountId);
    const credit = this.account(hold.creditAccountId);
    if (debit.kind === 'wallet') line(debit, 'debit', 0, credit.kind === 'wallet' ? credit.id : null);
    if (credit.kind === 'wallet') line(credit, 'credit', 1, debit.kind === 'wallet' ? debit.id : null);
  }

  insertLine(line: Line): void {
    const { position, createdAt } = this.place;
    this.lines.push([
      line.walletId,
      position,
      line.seq,
      line.transactionId,
      line.kind,
      formatAmount(line.amount),
      line.currency,
      line.direction,
      line.status,
      formatAmount(line.balanceAfter),
      line.counterpartyWalletId,
      createdAt,
      position,
    ]);
  }

  voidHoldLine(walletId: string, holdId: string): void {
    insertRows(this.statements.insertLines, this.lines);
    const { changes } = this.statements.voidHold.run(this.place.position, walletId, holdId);
    invariant(changes === 1, `hold ${holdId}: no pending line of ${walletId} to void`);
  }

  shrinkHoldLine(walletId: string, holdId: string, stillHeld: bigint): void {
    insertRows(this.statements.insertLines, this.lines);
    const { changes } = this.statements.updateHoldAmount.run(formatAmount(stillHeld), this.place.position, walletId, holdId);
    invariant(changes === 1, `hold ${holdId}: no pending line of ${walletId} to shrink`);
  }

  setStatus(accountId: string, status: AccountStatus): void {
    const cached = this.cached(accountId);
    cached.account.status = status;
    cached.lastPosition = this.place.position;
    this.markDirty(cached);
  }

  private markDirty(cached: CachedAccount): void {
    if (cached.dirty) return;
    cached.dirty = true;
    this.dirty.push(cached);
  }

  private cached(accountId: string): CachedAccount {
    let cached = this.accounts.get(accountId);
    if (cached === undefined) {
      const row = this.statements.selectAccount.get(accountId);
      invariant(row !== undefined, `no account ${accountId}`);
      cached = { account: accountOfRow(row), lastPosition: 0n, dirty: false };
      this.accounts.set(accountId, cached);
    }
    return cached;
  }
}

export function accountOfRow(row: AccountRow): Account {
  return {
    id: row.account_id,
    currency: row.currency,
    normalSide: row.normal_side,
    flags: {
      debitsMustNotExceedCredits: row.debits_must_not_exceed_credits === 1,
      creditsMustNotExceedDebits: row.credits_must_not_exceed_debits === 1,
    },
    kind: row.kind,
    ownerId: row.owner_id,
    status: row.status,
    openedAtMs: Date.parse(row.created_at),
    debitsPosted: sumOf(row.debits_posted),
    creditsPosted: sumOf(row.credits_posted),
    debitsPending: sumOf(row.debits_pending),
    creditsPending: sumOf(row.credits_pending),
  };
}

function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`wallet-ledger projection: ${message}`);
}
