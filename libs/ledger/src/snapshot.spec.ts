import { decide, rejectionEvent, type LedgerCommand } from './ledger-shard.commands';
import { evolve, initialState, type LedgerShardState } from './ledger-shard';
import { fromSnapshot, joinSnapshotParts, snapshotParts, toSnapshot } from './snapshot';
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
    const restored = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state))));
    expect(restored).toEqual(state);
    expect([...restored.accounts.keys()]).toEqual([...state.accounts.keys()]);
    expect([...restored.idempotency.keys()]).toEqual([...state.idempotency.keys()]);
  });

  it('restart from a snapshot plus the tail equals folding everything', () => {
    const whole = run(history);
    const resumed = run(history.slice(5), fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(run(history.slice(0, 5)))))));
    expect(resumed).toEqual(whole);
  });

  it('in parts of a bounded number of rows, which join back to the whole snapshot', () => {
    const state = run(history);
    const parts = [...snapshotParts(state, 2)];
    const rows = (part: ReturnType<typeof toSnapshot>) => part.accounts.length + part.holds.length + part.finishedHolds.length + part.idempotency.length;
    expect(parts.every((part) => rows(part) <= 2)).toBe(true);
    expect(parts.length).toBeGreaterThanOrEqual(rows(toSnapshot(state)) / 2);
    expect(fromSnapshot(joinSnapshotParts(parts.map((part) => JSON.parse(JSON.stringify(part)))))).toEqual(state);
  });

  it('refuse a snapshot of another format', () => {
    expect(() => fromSnapshot({ ...toSnapshot(initialState()), formatVersion: 99 })).toThrow(/format/);
  });
});
