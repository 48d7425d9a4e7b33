import { decide, rejectionEvent, type LedgerCommand } from './ledger-shard.commands';
import { evolve, initialState, type LedgerShardState } from './ledger-shard';
import { fromSnapshotParts, snapshotParts, type LedgerSnapshot } from './snapshot';

/** The state through its snapshot's parts, each written as JSON and read back, as the snapshot store does. */
function restored(state: LedgerShardState, rowsPerPart = Number.POSITIVE_INFINITY): LedgerShardState {
  return fromSnapshotParts([...snapshotParts(state, rowsPerPart)].map((part) => JSON.parse(JSON.stringify(part)) as LedgerSnapshot));
}
import { freeze, NOW_MS, openFunding, openWallet, placeHold, topUp, transfer } from './testing/ledger-shard.fixtures';

function run(commands: LedgerCommand[], state: LedgerShardState = initialState()): LedgerShardState {
  for (const command of commands) {
    const result = decide(command, state, { nowMs: NOW_MS });
    if (result.ok) result.events.forEach((event) => evolve(state, event));
    else {
      const rejected = rejectionEvent(state, command, result.error, { nowMs: NOW_MS });
      if (rejected) evolve(state, rejected);
    }
  }
  return state;
}

describe('ledger shard snapshots', () => {
  const history: LedgerCommand[] = [
    openFunding(),
    openWallet('w1'),
    openWallet('w2'),
    topUp('t1', 'w1', 1000n),
    transfer('x1', 'w1', 'w2', 300n),
    transfer('x2', 'w2', 'w1', 10_000n), // rejected: insufficient funds, recorded
    placeHold('h1', 'hold-1', 'w1', 'w2', 200n),
    freeze('f1', 'w2'),
  ];

  it('round-trip through JSON to the same state, Map order included', () => {
    const state = run(history);
    const back = restored(state);
    expect(back).toEqual(state);
    expect([...back.accounts.keys()]).toEqual([...state.accounts.keys()]);
    expect([...back.idempotency.keys()]).toEqual([...state.idempotency.keys()]);
  });

  it('restart from a snapshot plus the tail equals folding everything', () => {
    const whole = run(history);
    const resumed = run(history.slice(5), restored(run(history.slice(0, 5))));
    expect(resumed).toEqual(whole);
  });

  it('in parts of a bounded number of rows, which restore the whole state', () => {
    const state = run(history);
    const parts = [...snapshotParts(state, 2)];
    const rows = (part: LedgerSnapshot) => part.accounts.length + part.holds.length + part.finishedHolds.length + part.idempotency.length;
    expect(parts.every((part) => rows(part) <= 2)).toBe(true);
    expect(parts.length).toBeGreaterThanOrEqual(rows([...snapshotParts(state, Number.POSITIVE_INFINITY)][0]) / 2);
    expect(restored(state, 2)).toEqual(state);
  });

  it('refuse a snapshot of another format', () => {
    const [part] = [...snapshotParts(initialState(), Number.POSITIVE_INFINITY)];
    expect(() => fromSnapshotParts([{ ...part, formatVersion: 99 }])).toThrow(/format/);
  });
});
