// The memory policy of a process that holds shard states in memory (DESIGN.md §3: 1M accounts in
// under 1 GiB). Left to itself V8 lets old space grow to up to 4x the live heap before a full
// collection when objects are promoted fast, as they are while wallets are opened: 1M wallets
// (~340 MiB live) then peak near 1.1 GiB. A fixed growth of HEAP_GROWING_PERCENT keeps them near
// 800 MiB but, on a small heap, makes full collections frequent (~5-10% of bench:auth's CPU). So
// the bound is switched on only once the used heap (garbage included: a sample, not a GC hook,
// which would come too late) reaches HEAP_BOUND_FROM_MIB, and off again below half of that.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import type { WalletLedgerConfig } from '../wallet-ledger.config';

/** How often the heap's used size is looked at. */
export const HEAP_POLICY_SAMPLE_MS = 1_000;
const MIB = 1024 * 1024;

export type HeapPolicyConfig = Pick<WalletLedgerConfig, 'HEAP_GROWING_PERCENT' | 'HEAP_BOUND_FROM_MIB'>;

export class HeapPolicy {
  private bounded = false;

  constructor(
    private readonly config: HeapPolicyConfig,
    /** V8's flag setter (process-wide: the whole host follows the ledger's policy). */
    private readonly setFlag: (flag: string) => void = setFlagsFromString,
  ) {}

  /** Switches the bound on at HEAP_BOUND_FROM_MIB used, off below half of it (HEAP_GROWING_PERCENT 0: never). */
  sample(usedBytes: number): void {
    if (this.config.HEAP_GROWING_PERCENT === 0) return;
    const from = this.config.HEAP_BOUND_FROM_MIB * MIB;
    const bounded = usedBytes >= from ? true : usedBytes < from / 2 ? false : this.bounded;
    if (bounded === this.bounded) return;
    this.bounded = bounded;
    // 0 is V8's own default: its dynamic factor.
    this.setFlag(`--heap-growing-percent=${bounded ? this.config.HEAP_GROWING_PERCENT : 0}`);
  }

  /** Samples the process's heap every HEAP_POLICY_SAMPLE_MS until closed (never keeps the process alive). */
  start(): { close(): void } {
    const timer = setInterval(() => this.sample(getHeapStatistics().used_heap_size), HEAP_POLICY_SAMPLE_MS);
    timer.unref();
    return {
      close: () => {
        clearInterval(timer);
        this.sample(0);
      },
    };
  }
}
