import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gate } from '@ledger/contracts/testing';
import { PROCESSED_EVENTS_PRUNE_EVERY, ProcessedEvents } from './idempotent-consumer';

describe('ProcessedEvents', () => {
  let dir: string;
  let databases: Database.Database[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-processed-'));
    databases = [];
  });

  afterEach(() => {
    for (const db of databases) if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function openDb(): Database.Database {
    const db = new Database(join(dir, 'consumer.sqlite'));
    databases.push(db);
    return db;
  }

  it('handleOnce runs the handler the first time only', async () => {
    const processed = new ProcessedEvents({ consumer: 'view' });
    const runs: string[] = [];
    expect(await processed.handleOnce('e-1', () => void runs.push('e-1'))).toBe(true);
    expect(await processed.handleOnce('e-1', () => void runs.push('e-1 again'))).toBe(false);
    expect(await processed.handleOnce('e-2', async () => void runs.push('e-2'))).toBe(true);
    expect(runs).toEqual(['e-1', 'e-2']);
    expect(processed.has('e-1')).toBe(true);
    expect(processed.has('e-3')).toBe(false);
  });

  it('does not record an event whose handler failed: the redelivery runs it again', async () => {
    const processed = new ProcessedEvents({ consumer: 'view' });
    await expect(
      processed.handleOnce('e-1', () => {
        throw new Error('database busy');
      }),
    ).rejects.toThrow('database busy');
    expect(processed.has('e-1')).toBe(false);
    let ran = false;
    expect(await processed.handleOnce('e-1', () => void (ran = true))).toBe(true);
    expect(ran).toBe(true);
  });

  it('runs a handler once when the same event arrives twice at the same time', async () => {
    const processed = new ProcessedEvents({ consumer: 'view' });
    const release = gate();
    let runs = 0;
    const handle = async (): Promise<void> => {
      runs++;
      await release.promise;
    };
    const first = processed.handleOnce('e-1', handle);
    const second = processed.handleOnce('e-1', handle);
    release.open();
    expect(await Promise.all([first, second])).toEqual([true, false]);
    expect(runs).toBe(1);
  });

  it('remembers the last memoryMax ids in memory: the bound', () => {
    const processed = new ProcessedEvents({ consumer: 'view', memoryMax: 3 });
    for (const id of ['a', 'b', 'c', 'd']) processed.record(id);
    expect(['a', 'b', 'c', 'd'].map((id) => processed.has(id))).toEqual([false, true, true, true]);
  });

  it('with a database, still deduplicates after a restart and beyond the memory bound', async () => {
    const before = new ProcessedEvents({ consumer: 'view', memoryMax: 2, db: openDb() });
    for (const id of ['a', 'b', 'c']) await before.handleOnce(id, () => undefined);
    expect(before.has('a')).toBe(true);
    databases[0].close();

    const after = new ProcessedEvents({ consumer: 'view', db: openDb() });
    let runs = 0;
    for (const id of ['a', 'b', 'c', 'd']) await after.handleOnce(id, () => void runs++);
    expect(runs).toBe(1);
    // Each consumer handles every event once: another consumer's records do not count.
    expect(new ProcessedEvents({ consumer: 'statements', db: databases[1] }).has('a')).toBe(false);
  });

  it('forgets an id recorded inside a transaction that rolled back: its effect rolled back too, so the redelivery must run', () => {
    const db = openDb();
    const processed = new ProcessedEvents({ consumer: 'view', db });
    db.exec('CREATE TABLE effects (event_id TEXT)');
    const handle = db.transaction((eventId: string, fail: boolean) => {
      db.prepare('INSERT INTO effects VALUES (?)').run(eventId);
      processed.record(eventId);
      expect(processed.has(eventId)).toBe(true); // as the transaction sees it
      if (fail) throw new Error('the rest of the effect failed');
    });
    expect(() => handle('e-1', true)).toThrow('the rest of the effect failed');
    expect(processed.has('e-1')).toBe(false);
    handle('e-1', false);
    expect(processed.has('e-1')).toBe(true);
    expect(db.prepare('SELECT count(*) FROM effects').pluck().get()).toBe(1);
  });

  it('prunes the table to the newest durableMax ids of the consumer', () => {
    const db = openDb();
    const processed = new ProcessedEvents({ consumer: 'view', memoryMax: 1, durableMax: 10, db });
    const other = new ProcessedEvents({ consumer: 'other', db });
    other.record('kept');
    const ids = Array.from({ length: PROCESSED_EVENTS_PRUNE_EVERY }, (_, i) => `id-${i}`);
    // record() is synchronous so it can run inside the consumer's own transaction (one fsync here).
    db.transaction(() => ids.forEach((id) => processed.record(id)))();
    const rows = db.prepare('SELECT event_id FROM processed_events WHERE consumer = ? ORDER BY rowid').pluck().all('view');
    expect(rows).toEqual(ids.slice(-10));
    expect(processed.has(ids[0])).toBe(false);
    expect(processed.has(ids[ids.length - 1])).toBe(true);
    expect(other.has('kept')).toBe(true);
  });

  it('refuses an empty or oversized event id', async () => {
    const processed = new ProcessedEvents({ consumer: 'view' });
    expect(() => processed.record('')).toThrow(RangeError);
    await expect(processed.handleOnce('x'.repeat(257), () => undefined)).rejects.toThrow(RangeError);
  });
});
