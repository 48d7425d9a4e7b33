import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UuidV7Generator } from '@ledger/contracts';
import { SqliteEventStore } from '@ledger/event-store';
import { EventStoreCheckpointStore, InMemoryCheckpointStore, SqliteCheckpointStore, type CheckpointStore } from './checkpoint-store';

describe('checkpoint stores', () => {
  let dir: string;
  const databases: Database.Database[] = [];
  const stores: SqliteEventStore[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-checkpoints-'));
  });

  afterEach(async () => {
    for (const db of databases.splice(0)) if (db.open) db.close();
    for (const store of stores.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function openSqlite(): SqliteCheckpointStore {
    const db = new Database(join(dir, 'relay.sqlite'));
    databases.push(db);
    return new SqliteCheckpointStore(db);
  }

  function openEventStore(): EventStoreCheckpointStore {
    const store = new SqliteEventStore({ file: join(dir, 'events.sqlite') });
    stores.push(store);
    return new EventStoreCheckpointStore(store, new UuidV7Generator(), Date.now);
  }

  const beyondDoubles = 2n ** 63n - 1n;

  it.each<[string, () => CheckpointStore]>([
    ['InMemoryCheckpointStore', () => new InMemoryCheckpointStore()],
    ['SqliteCheckpointStore', () => openSqlite()],
    ['EventStoreCheckpointStore', () => openEventStore()],
  ])('%s: 0n until saved, then the last saved position per name, exactly', async (_name, create) => {
    const checkpoints = create();
    expect(await checkpoints.load('ledger.events')).toBe(0n);
    await checkpoints.save('ledger.events', 7n);
    await checkpoints.save('ledger.events', beyondDoubles);
    await checkpoints.save('cards.events', 3n);
    expect(await checkpoints.load('ledger.events')).toBe(beyondDoubles);
    expect(await checkpoints.load('cards.events')).toBe(3n);
  });

  it('SqliteCheckpointStore: the position survives reopening the file', async () => {
    await openSqlite().save('ledger.events', 42n);
    databases[0].close();
    expect(await openSqlite().load('ledger.events')).toBe(42n);
  });

  it('SqliteCheckpointStore: refuses a stored position that is not digits (0x10, empty, spaced) instead of reading it leniently as BigInt does', async () => {
    const checkpoints = openSqlite();
    for (const text of ['0x10', '', ' 12', '1e3']) {
      databases[0].prepare('INSERT OR REPLACE INTO relay_checkpoints (name, position) VALUES (?, ?)').run('ledger.events', text);
      await expect(checkpoints.load('ledger.events')).rejects.toThrow(`relay checkpoint ledger.events: stored position ${JSON.stringify(text)} is not a position`);
    }
  });

  it('EventStoreCheckpointStore: the position lives in the event store and survives reopening it', async () => {
    await openEventStore().save('saga', 42n);
    await stores[0].close();
    expect(await openEventStore().load('saga')).toBe(42n);
  });
});
