// Settings of the wallet-ledger service, read once through the one config loader.
import { intSetting, loadConfig, type ConfigOf } from '@ledger/contracts';
import { SHARDS_MAX } from '@ledger/ledger';
import { MAX_IN_FLIGHT_PER_PARTITION } from '@ledger/messaging';

export const walletLedgerConfigSchema = {
  /** Fixed for the life of a data dir: the service refuses to start if it changes. */
  LEDGER_SHARDS: intSetting(4, { min: 1, max: SHARDS_MAX }),
  /** Most commands one group commit decides and appends at once; the bus hands a shard's writer this many at once, at most its limit. */
  BATCH_MAX: intSetting(512, { min: 1, max: MAX_IN_FLIGHT_PER_PARTITION }),
  /** Longest a command waits for others to share its append (0: the next turn of the event loop). */
  BATCH_WAIT_MS: intSetting(0, { min: 0, max: 1_000 }),
  /** Commands one shard writer queues before it answers `unavailable` (back-pressure). */
  WRITER_QUEUE_MAX: intSetting(20_000, { min: 1, max: 1_000_000 }),
  /** Events between two snapshots of a shard (0: never). */
  SNAPSHOT_EVERY: intSetting(50_000, { min: 0, max: 100_000_000 }),
  /** A hold with no timeout of its own expires after this long. */
  HOLD_TIMEOUT_MS: intSetting(7 * 24 * 60 * 60 * 1000, { min: 1, max: 31 * 24 * 60 * 60 * 1000 }),
  /** How often each writer looks for holds past their time. */
  HOLD_SWEEP_INTERVAL_MS: intSetting(1_000, { min: 10, max: 3_600_000 }),
  /**
   * How far V8 may grow the process's old space past its live heap before a full collection, in
   * percent (V8's --heap-growing-percent), once the heap is HEAP_BOUND_FROM_MIB or more (see
   * application/heap-policy.ts). 0 leaves it to V8 always.
   */
  HEAP_GROWING_PERCENT: intSetting(50, { min: 0, max: 400 }),
  HEAP_BOUND_FROM_MIB: intSetting(384, { min: 16, max: 1_048_576 }),
};

export type WalletLedgerConfig = ConfigOf<typeof walletLedgerConfigSchema>;

export function loadWalletLedgerConfig(env: Readonly<Record<string, string | undefined>> = process.env): WalletLedgerConfig {
  return loadConfig(walletLedgerConfigSchema, env);
}
