import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteSnapshotStore } from '../../wallet-ledger/src/application/snapshot-store';
import { SnapshotCheck } from './snapshot-check';
import { isUnavailable } from './sqlite-store-reader';

describe('SnapshotCheck', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-audit-snapshots-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails on a snapshot file it cannot read now (locked by another process), instead of noting it as one no writer could use', async () => {
    const store = new SqliteSnapshotStore(join(dir, 'snapshots.sqlite'));
    await store.save(0, 0n, 'a'.repeat(64), []);
    await store.close();
    const holder = new Database(join(dir, 'snapshots.sqlite'));
    try {
      holder.pragma('locking_mode = EXCLUSIVE');
      holder.exec('BEGIN EXCLUSIVE');
      let thrown: unknown;
      try {
        new SnapshotCheck(dir);
      } catch (error) {
        thrown = error;
      }
      expect(isUnavailable(thrown)).toBe(true);
      holder.exec('ROLLBACK');
    } finally {
      holder.close();
    }
  });
});
