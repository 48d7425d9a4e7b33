// Which shard a wire command of `ledger.commands` belongs on: its primary account's. Shared by
// the wallet-ledger and every client that sends it commands (the partition is the shard).
import type { LedgerCommandEnvelope, LedgerCommandMessage } from '@ledger/contracts';
import { shardOf } from './system-accounts';

/** The stream that records LEDGER_SHARDS, so a data dir never silently changes its sharding; not a shard's stream. */
export const LEDGER_META_STREAM = 'ledger-meta';

/** The shard a wire command must be written on: its primary account's. */
export function shardOfCommand(message: LedgerCommandMessage | LedgerCommandEnvelope, shards: number): number | undefined {
  switch (message.type) {
    case 'OpenWallet':
    case 'TopUp':
    case 'Withdraw':
    case 'PlaceHold':
    case 'CaptureHold':
    case 'ReleaseHold':
    case 'FreezeWallet':
    case 'UnfreezeWallet':
    case 'CloseWallet':
      return walletShard(message.walletId, shards);
    case 'Transfer':
    case 'TransferReverse':
      return walletShard(message.fromWalletId, shards);
    case 'TransferIn':
      return walletShard(message.toWalletId, shards);
    case 'PostEntry': {
      const first = message.postings?.[0]?.accountId;
      return typeof first === 'string' ? shardOf(first, shards) : undefined;
    }
  }
}

export function walletShard(walletId: unknown, shards: number): number | undefined {
  return typeof walletId === 'string' && walletId.length > 0 && !walletId.startsWith('sys:') ? shardOf(walletId, shards) : undefined;
}

