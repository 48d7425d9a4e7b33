// bench:ledger shows the policy's effect on 1M wallets; here, when it switches.
import { loadWalletLedgerConfig } from '../wallet-ledger.config';
import { HeapPolicy } from './heap-policy';

const MIB = 1024 * 1024;

describe('the ledger heap policy', () => {
  const policyWith = (env: Record<string, string> = {}) => {
    const flags: string[] = [];
    return { policy: new HeapPolicy(loadWalletLedgerConfig(env), (flag) => void flags.push(flag)), flags };
  };

  it("bounds V8's old-space growth once the heap reaches HEAP_BOUND_FROM_MIB (384), and leaves it to V8 again below half of that", () => {
    const { policy, flags } = policyWith();
    policy.sample(383 * MIB);
    expect(flags).toEqual([]);
    policy.sample(384 * MIB);
    policy.sample(200 * MIB); // between half and the bound: stays bounded
    expect(flags).toEqual(['--heap-growing-percent=50']);
    policy.sample(191 * MIB);
    expect(flags).toEqual(['--heap-growing-percent=50', '--heap-growing-percent=0']);
  });

  it('never touches V8 with HEAP_GROWING_PERCENT=0, and refuses settings out of range, naming them', () => {
    const { policy, flags } = policyWith({ HEAP_GROWING_PERCENT: '0' });
    policy.sample(4096 * MIB);
    expect(flags).toEqual([]);
    expect(() => loadWalletLedgerConfig({ HEAP_GROWING_PERCENT: '401' })).toThrow(/HEAP_GROWING_PERCENT/);
    expect(() => loadWalletLedgerConfig({ HEAP_BOUND_FROM_MIB: '8' })).toThrow(/HEAP_BOUND_FROM_MIB/);
  });

  it('lets go of the bound when closed', () => {
    const { policy, flags } = policyWith({ HEAP_BOUND_FROM_MIB: '16' });
    const running = policy.start(); // its first sample comes later; this one stands in for it
    policy.sample(64 * MIB);
    running.close();
    expect(flags).toEqual(['--heap-growing-percent=50', '--heap-growing-percent=0']);
  });
});
