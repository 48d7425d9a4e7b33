// The position-order read leaves `metadata` out of its query (read by position when asked for) and
// may leave `data` unparsed until read: what it gives must still be the stored event.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedState, SqliteEventStore } from '@ledger/event-store';
import { openSqliteStoreReader, UnreadableEventError } from './sqlite-store-reader';

describe('SqliteStoreReader position-order read', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-reader-'));
    file = join(dir, 'events.sqlite');
    const store = new SqliteEventStore({ file });
    try {
      for (const streamId of ['orders-1', 'orders-2']) {
        const events = [1, 2, 3].map((n) => ({ eventId: `${streamId}-${n}`, type: 'orders.Placed.v1', schemaVersion: 1, data: { n, streamId }, metadata: { correlationId: `c-${n}`, causationId: `c-${n}`, actor: 'test', occurredAt: '2026-01-01T00:00:00.000Z' } }));
        await store.append(streamId, events, expectedState.any);
      }
    } finally {
      await store.close();
    }
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives each event its own metadata and data, as the stream read does', async () => {
    const reader = openSqliteStoreReader(file, { parsesDataAtRead: (streamId) => streamId === 'orders-1' });
    try {
      const byPosition = await reader.readAll(0n, 100);
      const byStream = [...(await reader.readStream('orders-1', 0n, 100)), ...(await reader.readStream('orders-2', 0n, 100))].sort((a, b) => Number(a.position - b.position));
      expect(byPosition.map((event) => [event.position, event.eventId, event.data, event.metadata])).toEqual(byStream.map((event) => [event.position, event.eventId, event.data, event.metadata]));
      expect(new Set(byPosition.map((event) => event.metadata.hash)).size).toBe(6);
    } finally {
      await reader.close();
    }
  });

  it('reads the file as of its opening while the host appends: a stream head read last agrees with the events read before it', async () => {
    const reader = openSqliteStoreReader(file);
    const host = new SqliteEventStore({ file });
    try {
      const events = await reader.readStream('orders-1', 0n, 100);
      const metadata = { correlationId: 'c-4', causationId: 'c-4', actor: 'test', occurredAt: '2026-01-01T00:00:00.000Z' };
      await host.append('orders-1', [{ eventId: 'orders-1-4', type: 'orders.Placed.v1', schemaVersion: 1, data: { n: 4 }, metadata }], expectedState.revision(2n));
      // It saw the head the running host had just moved: verify reported a broken stream head (exit 1) on a sound store.
      expect((await reader.streamHead('orders-1'))?.lastRevision).toBe(events[events.length - 1].revision);
      expect(await reader.headPosition()).toBe(6n);
    } finally {
      await Promise.all([reader.close(), host.close()]);
    }
  });

  it('fails the read on data that is not JSON, or the first use of it when told not to parse it at read', async () => {
    const db = new Database(file);
    // Node 20's JSON.parse error quotes the text around a bad token: the audit's output must not (a card number).
    db.prepare(`UPDATE events SET data = '{"pan":x4111111111111111}' WHERE event_id = 'orders-2-2'`).run();
    db.close();
    const eager = openSqliteStoreReader(file);
    const lazy = openSqliteStoreReader(file, { parsesDataAtRead: (streamId) => streamId !== 'orders-2' });
    try {
      const failure = await eager.readAll(0n, 100).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UnreadableEventError);
      expect((failure as Error).message).toMatch(/not JSON/);
      expect((failure as Error).message).not.toContain('4111');
      const events = await lazy.readAll(0n, 100);
      const broken = events.find((event) => event.eventId === 'orders-2-2');
      expect(() => broken?.data).toThrow(UnreadableEventError);
      expect(() => broken?.data).not.toThrow(/4111/);
      expect(events.find((event) => event.eventId === 'orders-2-1')?.data).toEqual({ n: 1, streamId: 'orders-2' });
    } finally {
      await Promise.all([eager.close(), lazy.close()]);
    }
  });
});
