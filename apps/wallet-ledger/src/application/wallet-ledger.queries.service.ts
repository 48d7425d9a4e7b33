// Answers `ledger.queries` from the projection, after it has caught up with the store as it
// was when the query arrived, so a client reads its own writes.
import type Database from 'better-sqlite3';
import { domainError, toIsoTime, type Clock, type DomainError, type LedgerQueryMessage, type Reply } from '@ledger/contracts';
import type { EventStore, ProjectionRunner } from '@ledger/event-store';
import { ledgerEventOf, type EntryPosted } from '@ledger/ledger';
import { entryPositionOf, getAccountSums, getBalanceAt, getWallet, listTransactions, listWallets, walletCountOf, WALLETS_PER_OWNER_MAX } from '../projections/wallet-ledger.queries';

/** Longest a query waits for the projection to reach the store's head before answering `unavailable`. */
export const QUERY_CATCH_UP_TIMEOUT_MS = 2_000;

export class WalletLedgerQueries {
  constructor(
    private readonly store: EventStore,
    private readonly runner: ProjectionRunner,
    private readonly db: Database.Database,
    /** The service's clock: a balance without `at` is as of its now, as every recorded time is. */
    private readonly clock: Clock,
  ) {}

  /**
   * Whether the owner may open `walletId`: GET /v1/wallets lists all of an owner's wallets in one
   * reply, so an owner has at most WALLETS_PER_OWNER_MAX. Counted once caught up; a wallet that
   * exists already passes (its retry replays). The caller runs one owner's openings at a time.
   */
  async openWalletRefusal(ownerId: string, walletId: string): Promise<DomainError | undefined> {
    if (!(await this.runner.waitUntil(await this.store.headPosition(), QUERY_CATCH_UP_TIMEOUT_MS))) {
      return domainError('unavailable', 'the wallet projection is catching up; retry', { retryable: true });
    }
    if (getWallet(this.db, walletId) !== undefined || walletCountOf(this.db, ownerId) < WALLETS_PER_OWNER_MAX) return undefined;
    return domainError('limit_exceeded', `an owner has at most ${WALLETS_PER_OWNER_MAX} wallets`, { limit: 'wallets_per_owner', max: WALLETS_PER_OWNER_MAX });
  }

  /**
   * The entry the store holds under `entryId` on `streamId`, found by its lines on the wallets among
   * `accountIds`: what answers an internal entry whose id the shard's state no longer keeps. An entry
   * on no wallet has no line and is not found; one the projection has not reached yet is in the state.
   */
  async postedEntry(streamId: string, entryId: string, accountIds: readonly string[], kind: unknown): Promise<EntryPosted | undefined> {
    for (const accountId of new Set(accountIds)) {
      const position = entryPositionOf(this.db, accountId, entryId, kind);
      if (position === undefined) continue;
      const [recorded] = await this.store.readAll({ afterPosition: position - 1n, maxCount: 1 });
      const event = recorded?.position === position && recorded.streamId === streamId ? ledgerEventOf(recorded) : undefined;
      if (event?.type === 'ledger.EntryPosted.v1' && event.data.entryId === entryId) return event;
    }
    return undefined;
  }

  async execute(query: LedgerQueryMessage): Promise<Reply<unknown>> {
    if (query?.type === 'GetWallet' && query.consistency === 'eventual') {
      const wallet = getWallet(this.db, String(query.walletId));
      if (wallet !== undefined) return { ok: true, value: wallet };
      // Not there yet, or not at all: ask again once caught up, below.
    }
    const head = await this.store.headPosition();
    if (!(await this.runner.waitUntil(head, QUERY_CATCH_UP_TIMEOUT_MS))) {
      return { ok: false, error: domainError('unavailable', 'the wallet projection is catching up; retry', { retryable: true }) };
    }
    switch (query?.type) {
      case 'GetWallet':
        return found(getWallet(this.db, String(query.walletId)), 'wallet');
      case 'ListWallets':
        return { ok: true, value: { items: listWallets(this.db, String(query.ownerId)) } };
      case 'GetBalance': {
        if (query.at === undefined) {
          const wallet = getWallet(this.db, String(query.walletId));
          return wallet ? { ok: true, value: { ...wallet.balance, asOf: toIsoTime(this.clock.nowMs()) } } : notFound('wallet');
        }
        return getBalanceAt(this.db, String(query.walletId), String(query.at));
      }
      case 'ListTransactions':
        return listTransactions(this.db, String(query.walletId), { limit: query.limit, cursor: query.cursor });
      case 'GetAccountSums':
        return found(getAccountSums(this.db, String(query.accountId)), 'account');
      default:
        return { ok: false, error: domainError('validation_failed', 'unknown query type', { fields: [{ field: 'type', reason: 'unknown' }] }) };
    }
  }
}

function found<T>(value: T | undefined, what: string): Reply<T> {
  return value === undefined ? notFound(what) : { ok: true, value };
}

function notFound(what: string): { ok: false; error: ReturnType<typeof domainError> } {
  return { ok: false, error: domainError('not_found', `no such ${what}`) };
}
