// The wallet-ledger's settings: what the config accepts, the service must be able to start with.
import { ConfigError } from '@ledger/contracts';
import { MAX_IN_FLIGHT_PER_PARTITION } from '@ledger/messaging';
import { loadWalletLedgerConfig } from './wallet-ledger.config';

describe('wallet-ledger config', () => {
  it('refuses a BATCH_MAX over what a bus consumer may take of a partition at once, naming it', () => {
    // 4097 to 10,000 passed, and the start failed in the bus with "maxInFlightPerPartition must be at most 4096".
    expect(() => loadWalletLedgerConfig({ BATCH_MAX: String(MAX_IN_FLIGHT_PER_PARTITION + 1) })).toThrow(ConfigError);
    expect(() => loadWalletLedgerConfig({ BATCH_MAX: String(MAX_IN_FLIGHT_PER_PARTITION + 1) })).toThrow(/BATCH_MAX/);
    expect(loadWalletLedgerConfig({ BATCH_MAX: String(MAX_IN_FLIGHT_PER_PARTITION) }).BATCH_MAX).toBe(MAX_IN_FLIGHT_PER_PARTITION);
  });
});
