// `balance --account ID [--at TIME | --position N]`: the account's four sums as of a commit time
// (`recordedAt`, DESIGN.md §10) or a global position, from a fold of its shard's stream.
import { formatAmount } from '@ledger/contracts';
import { availableBalance, pendingBalance, postedBalance } from '@ledger/ledger';
import { foldShard, shardOfAccount } from './shard-fold';
import type { StoreReader } from './store-reader.port';

export interface BalanceView {
  readonly accountId: string;
  readonly currency: string;
  readonly shard: number;
  /** The last event of the shard folded (0 when none). */
  readonly asOfPosition: string;
  readonly asOfRecordedAt: string | null;
  readonly debitsPosted: string;
  readonly creditsPosted: string;
  readonly debitsPending: string;
  readonly creditsPending: string;
  readonly posted: string;
  readonly pending: string;
  readonly available: string;
}

export async function balanceOf(
  reader: StoreReader,
  accountId: string,
  point: { readonly at?: string; readonly position?: bigint },
): Promise<BalanceView | undefined> {
  const shard = await shardOfAccount(reader, accountId);
  if (shard === undefined) return undefined;
  const { state, last } = await foldShard(reader, shard, {
    stopBefore: (event) => (point.position !== undefined && event.position > point.position) || (point.at !== undefined && event.recordedAt > point.at),
  });
  const account = state.accounts.get(accountId);
  if (account === undefined) return undefined;
  return {
    accountId,
    currency: account.currency,
    shard,
    asOfPosition: (last?.position ?? 0n).toString(),
    asOfRecordedAt: last?.recordedAt ?? null,
    debitsPosted: formatAmount(account.debitsPosted),
    creditsPosted: formatAmount(account.creditsPosted),
    debitsPending: formatAmount(account.debitsPending),
    creditsPending: formatAmount(account.creditsPending),
    posted: formatAmount(postedBalance(account)),
    pending: formatAmount(pendingBalance(account)),
    available: formatAmount(availableBalance(account)),
  };
}
