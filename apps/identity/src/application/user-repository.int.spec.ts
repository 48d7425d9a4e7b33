import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { uuidv7 } from '@ledger/contracts';
import { openProjectionDb, SqliteEventStore, type EventStore } from '@ledger/event-store';
import type { UserEvent } from '../domain/user';
import { failedLogin, loggedIn, NOW_MS, registered, rotated, totpEnabled, USER_ID } from '../domain/testing/user.fixtures';
import { UserRepository } from './user-repository';
import { SqliteUserSnapshots, USER_SNAPSHOT_EVERY_EVENTS } from './user-snapshots';

describe('user streams', () => {
  let dir: string;
  let store: SqliteEventStore;
  let db: Database.Database;
  const origin = { idempotencyKey: 'key', actor: 'test' };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'identity-users-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite') });
    db = openProjectionDb(join(dir, 'identity.sqlite'));
  });

  afterEach(async () => {
    db.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The store, counting the events read through it. */
  function counting(): { store: EventStore; read: () => number } {
    let read = 0;
    const counted = Object.create(store) as EventStore;
    counted.readStream = async (streamId, options) => {
      const events = await store.readStream(streamId, options);
      read += events.length;
      return events;
    };
    return { store: counted, read: () => read };
  }

  /** A user of many logins, refreshes and failed ones: `rounds` of six events (two sessions a round). */
  async function longHistory(repository: UserRepository, rounds: number): Promise<void> {
    let loaded = await repository.load(USER_ID);
    loaded = await repository.append(USER_ID, loaded, [registered(), ...totpEnabled(1)], origin, NOW_MS);
    for (let round = 0; round < rounds; round++) {
      const atMs = NOW_MS + round * 1_000;
      const events: UserEvent[] = [failedLogin(`f${round}`, 1, atMs), ...loggedIn(`l${round}`, atMs), rotated(`session-l${round}`, `token-l${round}`, `next-${round}`, 1, `r${round}`, atMs)];
      loaded = await repository.append(USER_ID, loaded, events, origin, atMs);
    }
  }

  it("a cold load of a long-lived user folds the events after the last snapshot, not the whole stream, to the same state", async () => {
    await longHistory(new UserRepository(store, uuidv7, 0, new SqliteUserSnapshots(db)), 400);
    const full = await new UserRepository(store, uuidv7, 0).load(USER_ID);
    expect(full.revision).toBe(1602n);
    const reads = counting();
    const cold = await new UserRepository(reads.store, uuidv7, 0, new SqliteUserSnapshots(db)).load(USER_ID);
    expect(cold).toEqual(full);
    expect(reads.read()).toBeLessThanOrEqual(USER_SNAPSHOT_EVERY_EVENTS + 1); // the snapshot's own event is read to check it
  });

  it('folds the whole stream when the snapshot is not of this stream (another store), or unreadable', async () => {
    await longHistory(new UserRepository(store, uuidv7, 0, new SqliteUserSnapshots(db)), 200);
    const full = await new UserRepository(store, uuidv7, 0).load(USER_ID);
    db.prepare("UPDATE identity_user_snapshots SET event_id = 'another-event'").run();
    expect(await new UserRepository(store, uuidv7, 0, new SqliteUserSnapshots(db)).load(USER_ID)).toEqual(full);
    db.prepare("UPDATE identity_user_snapshots SET body = '{'").run();
    expect(await new UserRepository(store, uuidv7, 0, new SqliteUserSnapshots(db)).load(USER_ID)).toEqual(full);
  });
});
