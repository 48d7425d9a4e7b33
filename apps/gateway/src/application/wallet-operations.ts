// What the wallet routes do, one method each: the few rules the gateway owns (a top-up cap,
// currencies checked before a transfer, freeze and unfreeze as "make it so") and then one
// command or query to the wallet-ledger. Ownership was checked before any of this runs.
import {
  amountOf,
  type AccountSumsView,
  type Currency,
  type LedgerCommandMessage,
  type LedgerCommandEnvelope,
  type TransactionView,
  type WalletView,
} from '@ledger/contracts';
import type { LedgerClient } from '@ledger/messaging';
import { GatewayError, valueOf } from './gateway-errors';
import { RecentlyUsed } from './recently-used';

/** Who is asking: from a verified access token. */
export interface Caller {
  readonly userId: string;
  readonly roles: readonly string[];
  readonly sessionId: string;
}

/** What makes a command safe to retry: the service's idempotency key and the id of anything it creates. */
export interface CommandKeys {
  readonly idempotencyKey: string;
  readonly resourceId: string;
  readonly correlationId: string;
  /** When the caller stops waiting (wall-clock epoch ms; long past once it cancelled): no command is sent after it. Absent: the bus timeout alone. */
  readonly deadlineMs?: () => number | undefined;
}

/** What never changes once a wallet exists (the ownership check's answer): never its status or balance. */
export type WalletFacts = Pick<WalletView, 'id' | 'ownerId' | 'currency'>;

/** Wallets whose facts are remembered; the least recently used are forgotten first. */
export const WALLET_FACTS_MAX = 50_000;

export interface BalanceAsOf {
  readonly posted: string;
  readonly pending: string;
  readonly available: string;
  readonly asOf: string;
}

export interface TransactionLinePage {
  readonly items: unknown[];
  readonly nextCursor: string | null;
}

export class WalletOperations {
  private readonly facts = new RecentlyUsed<string, WalletFacts>(WALLET_FACTS_MAX);

  constructor(
    private readonly ledger: LedgerClient,
    private readonly topUpMax: bigint,
    /** Sends each command alone: one bounded by its client's deadline, which in a coalesced batch would bound every command in it. */
    private readonly alone: LedgerClient = ledger,
  ) {}

  openWallet(caller: Caller, currency: Currency, keys: CommandKeys): Promise<WalletView> {
    return this.command<WalletView>({ type: 'OpenWallet', walletId: keys.resourceId, ownerId: caller.userId, currency }, caller, keys);
  }

  async listWallets(caller: Caller): Promise<{ items: WalletView[] }> {
    return valueOf(this.ledger.query<{ items: WalletView[] }>({ type: 'ListWallets', ownerId: caller.userId }));
  }

  getWallet(walletId: string): Promise<WalletView> {
    return valueOf(this.ledger.query<WalletView>({ type: 'GetWallet', walletId }));
  }

  /** A wallet's owner and currency, asked once: they never change, and an unknown wallet is asked again. */
  async walletFacts(walletId: string): Promise<WalletFacts> {
    const known = this.facts.get(walletId);
    if (known !== undefined) return known;
    const { id, ownerId, currency } = await this.walletForChecks(walletId);
    const facts = { id, ownerId, currency };
    this.facts.set(walletId, facts);
    return facts;
  }

  /** For checks on a wallet's owner, currency and (closed for good) status: no need to wait for the projection to catch up. */
  walletForChecks(walletId: string): Promise<WalletView> {
    return valueOf(this.ledger.query<WalletView>({ type: 'GetWallet', walletId, consistency: 'eventual' }));
  }

  balance(walletId: string, at: string | undefined): Promise<BalanceAsOf> {
    return valueOf(this.ledger.query<BalanceAsOf>(at === undefined ? { type: 'GetBalance', walletId } : { type: 'GetBalance', walletId, at }));
  }

  transactions(walletId: string, page: { limit?: number; cursor?: string }): Promise<TransactionLinePage> {
    return valueOf(this.ledger.query<TransactionLinePage>({ type: 'ListTransactions', walletId, ...page }));
  }

  topUp(caller: Caller, wallet: WalletFacts, amount: string, reference: string | undefined, keys: CommandKeys): Promise<TransactionView> {
    if (amountOf(amount) > this.topUpMax) {
      throw new GatewayError('limit_exceeded', `a single top-up is at most ${this.topUpMax} (minor units)`, {
        limit: 'top_up_max',
        max: this.topUpMax.toString(),
      });
    }
    return this.command<TransactionView>({ type: 'TopUp', walletId: wallet.id, amount, ...optional({ reference }) }, caller, keys);
  }

  withdraw(caller: Caller, wallet: WalletFacts, amount: string, reference: string | undefined, keys: CommandKeys): Promise<TransactionView> {
    return this.command<TransactionView>({ type: 'Withdraw', walletId: wallet.id, amount, ...optional({ reference }) }, caller, keys);
  }

  /**
   * Both wallets are looked up first: a cross-shard transfer would only meet a currency
   * mismatch (or a closed wallet) on the destination shard, after the money left, and the
   * money would come back reversed.
   */
  async transfer(
    caller: Caller,
    from: WalletFacts,
    transfer: { toWalletId: string; amount: string; memo?: string },
    keys: CommandKeys,
  ): Promise<TransactionView> {
    const to = await this.walletForChecks(transfer.toWalletId);
    // A frozen wallet still receives; a closed one never will (across shards it would only bounce back).
    if (to.status === 'closed') throw new GatewayError('wallet_not_active', 'the destination wallet is closed', { walletId: to.id, status: to.status });
    if (to.currency !== from.currency) {
      throw new GatewayError('currency_mismatch', `cannot transfer ${from.currency} to a ${to.currency} wallet`, {
        fromCurrency: from.currency,
        toCurrency: to.currency,
      });
    }
    return this.command<TransactionView>(
      { type: 'Transfer', fromWalletId: from.id, toWalletId: to.id, amount: transfer.amount, ...optional({ memo: transfer.memo }) },
      caller,
      keys,
    );
  }

  /** Freezing a frozen wallet (or unfreezing an active one) is a no-op that answers the wallet. */
  freeze(caller: Caller, wallet: WalletFacts, keys: CommandKeys): Promise<WalletView> {
    return this.makeSo('frozen', { type: 'FreezeWallet', walletId: wallet.id }, caller, keys);
  }

  unfreeze(caller: Caller, wallet: WalletFacts, keys: CommandKeys): Promise<WalletView> {
    return this.makeSo('active', { type: 'UnfreezeWallet', walletId: wallet.id }, caller, keys);
  }

  /**
   * "Make it so": the command first; one the ledger refuses (the wallet was there already, or a
   * concurrent request got it there first) is answered with the wallet read again if it is in `status`.
   * Two bus calls at most (BUS_CALLS_PER_REQUEST_MAX): a read before the command made three, past the Idempotency-Key lease.
   */
  private async makeSo(status: 'frozen' | 'active', message: Extract<LedgerCommandMessage, { type: 'FreezeWallet' | 'UnfreezeWallet' }>, caller: Caller, keys: CommandKeys): Promise<WalletView> {
    try {
      return await this.command<WalletView>(message, caller, keys);
    } catch (error) {
      const now = await this.getWallet(message.walletId).catch(() => undefined);
      if (now?.status === status) return now;
      throw error;
    }
  }

  accountSums(accountId: string): Promise<AccountSumsView> {
    return valueOf(this.ledger.query<AccountSumsView>({ type: 'GetAccountSums', accountId }));
  }

  private command<T>(message: LedgerCommandMessage, caller: Caller, keys: CommandKeys): Promise<T> {
    const envelope = {
      ...message,
      meta: { idempotencyKey: keys.idempotencyKey, actor: `user:${caller.userId}`, correlationId: keys.correlationId },
    } as LedgerCommandEnvelope;
    const deadlineMs = keys.deadlineMs?.();
    return valueOf(deadlineMs === undefined ? this.ledger.command<T>(envelope) : this.alone.command<T>(envelope, { deadlineMs }));
  }
}

function optional<T extends Record<string, string | undefined>>(values: T): Partial<Record<keyof T, string>> {
  const present: Partial<Record<keyof T, string>> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) present[key as keyof T] = value;
  return present;
}
