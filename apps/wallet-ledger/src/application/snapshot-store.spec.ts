import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide, evolve, fromSnapshotParts, initialState, snapshotParts, type LedgerShardState } from '@ledger/ledger';
import { InMemorySnapshotStore, SqliteSnapshotStore, type SnapshotStore } from './snapshot-store';

const NOW_MS = 1_700_000_000_000;

function stateOf(wallets: number): LedgerShardState {
  const state = initialState();
  for (let n = 0; n < wallets; n++) {
    const decision = decide(
      { type: 'OpenAccount', idempotencyKey: `open-${n}`, accountId: `w-${n}`, currency: 'USD', normalSide: 'credit', flags: { debitsMustNotExceedCredits: true }, kind: 'wallet', ownerId: `u-${n}` },
      state,
      { nowMs: NOW_MS + n },
    );
    if (!decision.ok) throw new Error(decision.error.message);
    for (const event of decision.events) evolve(state, event);
  }
  return state;
}

describe('snapshot stores', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'snapshot-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['SQLite', () => new SqliteSnapshotStore(join(dir, 'snapshots.sqlite'))],
    ['in memory', () => new InMemorySnapshotStore()],
  ])('%s: keep the last snapshot in parts and give it back part by part', async (_name, open: () => SnapshotStore) => {
    const store = open();
    try {
      expect(await store.load(1)).toBeUndefined();
      await store.save(1, 6n, 'hash-6', snapshotParts(stateOf(3), 2));
      const state = stateOf(7);
      await store.save(1, 13n, 'hash-13', snapshotParts(state, 2));
      const stored = await store.load(1);
      expect([stored?.revision, stored?.lastEventHash]).toEqual([13n, 'hash-13']);
      const parts = [...stored!.parts];
      expect(parts.length).toBe(8); // 14 rows, 2 a part, and the last (empty) part
      expect(fromSnapshotParts(parts)).toEqual(state);
    } finally {
      await store.close();
    }
  });

  it('refuses a snapshot with a part missing while it is read', async () => {
    const file = join(dir, 'snapshots.sqlite');
    const store = new SqliteSnapshotStore(file);
    try {
      await store.save(0, 13n, 'hash-13', snapshotParts(stateOf(7), 2));
      const db = new Database(file);
      db.prepare('DELETE FROM ledger_snapshot_parts WHERE shard = 0 AND part = 3').run();
      db.close();
      const stored = await store.load(0);
      expect(() => fromSnapshotParts(stored!.parts)).toThrow(/7 of 8 parts/);
    } finally {
      await store.close();
    }
  });
});
