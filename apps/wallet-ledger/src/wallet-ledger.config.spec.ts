// The wallet-ledger's settings: what the config accepts, the service must be able to start with.
import { ConfigError } from '@ledger/contracts';
import {
  AMOUNT_MAX,
  decide,
  ENTRY_KIND_LENGTH_MAX,
  foldLedgerShard,
  ID_LENGTH_MAX,
  POSTINGS_MAX,
  REFERENCE_LENGTH_MAX,
  REFERENCES_MAX,
  type LedgerCommand,
  type LedgerEvent,
} from '@ledger/ledger';
import { BUS_MESSAGE_BYTES_MIN, loadMessagingConfig, MAX_IN_FLIGHT_PER_PARTITION } from '@ledger/messaging';
import { loadWalletLedgerConfig } from './wallet-ledger.config';

describe('wallet-ledger config', () => {
  it('refuses a BATCH_MAX over what a bus consumer may take of a partition at once, naming it', () => {
    // 4097 to 10,000 passed, and the start failed in the bus with "maxInFlightPerPartition must be at most 4096".
    expect(() => loadWalletLedgerConfig({ BATCH_MAX: String(MAX_IN_FLIGHT_PER_PARTITION + 1) })).toThrow(ConfigError);
    expect(() => loadWalletLedgerConfig({ BATCH_MAX: String(MAX_IN_FLIGHT_PER_PARTITION + 1) })).toThrow(/BATCH_MAX/);
    expect(loadWalletLedgerConfig({ BATCH_MAX: String(MAX_IN_FLIGHT_PER_PARTITION) }).BATCH_MAX).toBe(MAX_IN_FLIGHT_PER_PARTITION);
  });

  it('keeps BUS_MAX_MESSAGE_BYTES at least the largest ledger event, with room for its envelope', () => {
    // 1024 passed, and the ledger's event relay stopped for good at the first top-up (1,100 bytes).
    expect(() => loadMessagingConfig({ BUS_MAX_MESSAGE_BYTES: '1024' })).toThrow(/BUS_MAX_MESSAGE_BYTES/);
    const id = (n: number) => `${n}`.padStart(ID_LENGTH_MAX, 'a');
    const events: LedgerEvent[] = [];
    const run = (command: LedgerCommand) => {
      const decision = decide(command, foldLedgerShard(events), { nowMs: 1_700_000_000_000 });
      if (!decision.ok || decision.events.length === 0) throw new Error(`${command.type} was refused: ${JSON.stringify(decision)}`);
      events.push(...decision.events);
    };
    for (let n = 0; n < POSTINGS_MAX; n++) {
      run({ type: 'OpenAccount', idempotencyKey: id(1_000 + n), accountId: id(n), currency: 'USD', normalSide: 'debit', flags: {}, kind: 'system', ownerId: id(2_000 + n) });
    }
    const references = Object.fromEntries(Array.from({ length: REFERENCES_MAX }, (_, n) => [`${n}`.padStart(REFERENCE_LENGTH_MAX, 'r'), 'v'.repeat(REFERENCE_LENGTH_MAX)]));
    const postings = Array.from({ length: POSTINGS_MAX }, (_, n) => ({ accountId: id(n), side: n % 2 === 0 ? ('debit' as const) : ('credit' as const), amount: AMOUNT_MAX, currency: 'USD' as const }));
    run({ type: 'PostEntry', idempotencyKey: id(3_000), entryId: id(3_001), kind: 'k'.repeat(ENTRY_KIND_LENGTH_MAX), postings, references });
    const largest = Math.max(...events.map((event) => Buffer.byteLength(JSON.stringify(event))));
    expect(largest).toBeGreaterThan(16 * 1024); // the event is the big one it means to be
    // Half the limit for the event, half for its envelope (ids, stream, metadata, headers).
    expect(2 * largest).toBeLessThanOrEqual(BUS_MESSAGE_BYTES_MIN);
  });
});
