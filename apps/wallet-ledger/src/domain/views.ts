// API.md's wallet and balance views of a ledger account: one mapping for replies and queries.
import { formatAmount, toIsoTime, type BalanceView, type WalletView } from '@ledger/contracts';
import { availableBalance, pendingBalance, postedBalance, type Account } from '@ledger/ledger';

export function balanceView(account: Account): BalanceView {
  return {
    posted: formatAmount(postedBalance(account)),
    pending: formatAmount(pendingBalance(account)),
    available: formatAmount(availableBalance(account)),
  };
}

export function walletView(account: Account): WalletView {
  return {
    id: account.id,
    // Wallets are opened with an owner (OpenWallet); the ledger itself does not insist.
    ownerId: account.ownerId ?? '',
    currency: account.currency,
    status: account.status,
    balance: balanceView(account),
    createdAt: toIsoTime(account.openedAtMs),
  };
}
