import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '@ledger/contracts';
import { expectedState as expected, WrongExpectedVersionError } from '../event-store.port';
import { verifyChain } from '../hash-chain';
import { eventStoreContract } from '../testing/event-store.contract';
import { ANY_STREAM, RACED_STREAM } from '../testing/racing-appender.child';
import { newEvent, newEvents, uniqueStreamId } from '../testing/test-events';
import { spawnTs } from '@ledger/contracts/testing';
import { waitFor } from '@ledger/contracts/testing';
import { APPEND_REQUESTS_MAX, EVENT_ID_LENGTH_MAX, EVENT_TYPE_LENGTH_MAX, RECENT_EVENTS_MAX, SqliteEventStore, type SqliteEventStoreOptions } from './sqlite-event-store';
import { EVENT_STORE_WAL_SIZE_LIMIT_BYTES } from './sqlite-writer';

const WAIT_MS = 10_000;

/** A temp directory per test, removed with everything opened in it. */
function tempStore() {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-event-store-'));
  const file = join(dir, 'events.sqlite');
  const stores: SqliteEventStore[] = [];
  return {
    file,
    open(options: Partial<SqliteEventStoreOptions> = {}): SqliteEventStore {
      const store = new SqliteEventStore({ file, ...options });
      stores.push(store);
      return store;
    },
    async cleanup(): Promise<void> {
      await Promise.all(stores.map((store) => store.close()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

eventStoreContract('SqliteEventStore', async () => {
  const temp = tempStore();
  return { store: temp.open(), cleanup: temp.cleanup };
});

describe('SqliteEventStore', () => {
  let temp: ReturnType<typeof tempStore>;

  beforeEach(() => {
    temp = tempStore();
  });

  afterEach(async () => {
    await temp.cleanup();
  });

  function pragmas(file: string) {
    const db = new Database(file, { readonly: true });
    try {
      return { journalMode: db.pragma('journal_mode', { simple: true }), userVersion: db.pragma('user_version', { simple: true }) };
    } finally {
      db.close();
    }
  }

  describe('durability settings', () => {
    it('runs in WAL mode with synchronous=FULL and a busy timeout by default', () => {
      const store = temp.open();
      const db = (store as unknown as { db: Database.Database }).db;
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(pragmas(temp.file)).toEqual({ journalMode: 'wal', userVersion: 1 });
    });

    it('takes synchronous=NORMAL and a busy timeout when configured', () => {
      const store = temp.open({ synchronous: 'NORMAL', busyTimeoutMs: 250 });
      const db = (store as unknown as { db: Database.Database }).db;
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(250);
    });

    it('refuses bad options with a message naming them', () => {
      expect(() => temp.open({ readBatchMax: 0 })).toThrow(/readBatchMax/);
      expect(() => temp.open({ synchronous: 'OFF' as 'FULL' })).toThrow(/synchronous/);
    });

    it('refuses a file written by a newer schema', () => {
      const db = new Database(temp.file);
      db.pragma('user_version = 2');
      db.close();
      expect(() => temp.open()).toThrow(/schema version 2/);
    });
  });

  describe('the file', () => {
    it('keeps events, revisions and the chain across reopening', async () => {
      const streamId = uniqueStreamId();
      const first = temp.open();
      await first.append(streamId, newEvents(3), expected.noStream);
      await first.close();

      const second = temp.open();
      expect(await second.streamRevision(streamId)).toBe(2n);
      await second.append(streamId, newEvents(2), expected.revision(2n));
      const events = await second.readStream(streamId);
      expect(events.map((event) => event.position)).toEqual([1n, 2n, 3n, 4n, 5n]);
      expect(verifyChain(events)).toBeUndefined();
    });
    it('cuts its WAL back to EVENT_STORE_WAL_SIZE_LIMIT_BYTES once a reader holding a snapshot (the audit CLI) lets go', async () => {
      const store = temp.open({ synchronous: 'NORMAL' });
      const streamId = uniqueStreamId();
      await store.append(streamId, newEvents(1), expected.noStream);
      const reader = new Database(temp.file, { readonly: true });
      try {
        reader.exec('BEGIN');
        reader.prepare('SELECT count(*) FROM events').get(); // the snapshot: no checkpoint may pass it
        for (let batch = 0; batch < 24; batch++) await store.append(streamId, newEvents(500, () => ({ pad: 'x'.repeat(1_000) })), expected.any);
        expect(statSync(`${temp.file}-wal`).size).toBeGreaterThan(EVENT_STORE_WAL_SIZE_LIMIT_BYTES);
        reader.exec('COMMIT');
      } finally {
        reader.close();
      }
      for (let batch = 0; batch < 5; batch++) await store.append(streamId, newEvents(1_000, () => ({ pad: 'x'.repeat(1_000) })), expected.any);
      expect(statSync(`${temp.file}-wal`).size).toBeLessThanOrEqual(EVENT_STORE_WAL_SIZE_LIMIT_BYTES);
    });
  });

  describe('limits', () => {
    it('bounds every read by readBatchMax', async () => {
      const store = temp.open({ readBatchMax: 4 });
      const streamId = uniqueStreamId();
      await store.append(streamId, newEvents(10), expected.noStream);
      expect(await store.readAll()).toHaveLength(4);
      expect(await store.readAll({ maxCount: 100 })).toHaveLength(4);
      expect(await store.readStream(streamId, { maxCount: 100 })).toHaveLength(4);
      expect(await store.readAll({ maxCount: 2 })).toHaveLength(2);
      await expect(store.readAll({ maxCount: -1 })).rejects.toThrow(RangeError);
    });

    it('delivers more than readBatchMax events to a subscription, in windows', async () => {
      const store = temp.open({ readBatchMax: 4 });
      const streamId = uniqueStreamId();
      await store.append(streamId, newEvents(10), expected.noStream);
      await store.append(uniqueStreamId('other'), newEvents(10), expected.noStream);
      await store.append(streamId, newEvents(3), expected.any);
      const received: RecordedEvent[] = [];
      const subscription = store.subscribe((event) => void received.push(event), { streamPrefixes: [streamId] });
      await waitFor('13 events', () => received.length === 13, { timeoutMs: WAIT_MS });
      await subscription.stop();
      expect(received.map((event) => event.revision)).toEqual(Array.from({ length: 13 }, (_, index) => BigInt(index)));
    });

    it('refuses a bad stream id, an oversized batch, event id or type before touching the file', async () => {
      const store = temp.open();
      await expect(store.append('', newEvents(1), expected.any)).rejects.toThrow(RangeError);
      await expect(store.append('x'.repeat(257), newEvents(1), expected.any)).rejects.toThrow(RangeError);
      await expect(store.append('s', newEvents(10_001), expected.any)).rejects.toThrow(/APPEND_EVENTS_MAX/);
      await expect(store.append('s', [newEvent({}, { eventId: 'e'.repeat(EVENT_ID_LENGTH_MAX + 1) })], expected.any)).rejects.toThrow(/EVENT_ID_LENGTH_MAX/);
      await expect(store.append('s', [newEvent({}, { type: 't'.repeat(EVENT_TYPE_LENGTH_MAX + 1) })], expected.any)).rejects.toThrow(/EVENT_TYPE_LENGTH_MAX/);
      expect(await store.headPosition()).toBe(0n);
      await store.append('s', [newEvent({}, { eventId: 'e'.repeat(EVENT_ID_LENGTH_MAX), type: 't'.repeat(EVENT_TYPE_LENGTH_MAX) })], expected.noStream);
    });

    it('refuses an appendMany of more than APPEND_REQUESTS_MAX requests, empty ones too (each is a savepoint under the write lock)', async () => {
      const store = temp.open();
      const requests = Array.from({ length: APPEND_REQUESTS_MAX + 1 }, () => ({ streamId: 's', events: [], expected: expected.any }));
      await expect(store.appendMany(requests)).rejects.toThrow(/APPEND_REQUESTS_MAX/);
      expect(await store.appendMany(requests.slice(1))).toHaveLength(APPEND_REQUESTS_MAX);
    });

    it('refuses bigint in event data (payloads carry digit strings)', async () => {
      const store = temp.open();
      const [event] = newEvents(1);
      await expect(store.append('s', [{ ...event, data: { amount: 1n } as never }], expected.any)).rejects.toThrow(TypeError);
      expect(await store.headPosition()).toBe(0n);
    });
  });

  describe('recordedAt', () => {
    it('is the injected clock at commit, never earlier than the event before it', async () => {
      let nowMs = Date.UTC(2026, 4, 1, 12, 0, 0);
      const store = temp.open({ nowMs: () => nowMs });
      await store.append('a', newEvents(2), expected.any);
      nowMs -= 60_000; // the clock steps back
      await store.append('b', newEvents(1), expected.any);
      nowMs += 120_000;
      await store.append('a', newEvents(1), expected.any);
      expect((await store.readAll()).map((event) => event.recordedAt)).toEqual([
        '2026-05-01T12:00:00.000Z',
        '2026-05-01T12:00:00.000Z',
        '2026-05-01T12:00:00.000Z',
        '2026-05-01T12:01:00.000Z',
      ]);
    });
  });

  describe('two instances on one file', () => {
    it('append concurrently, see each other\'s appends and conflict on revisions', async () => {
      const one = temp.open();
      const two = temp.open();
      const streamId = uniqueStreamId();
      await Promise.all(
        Array.from({ length: 32 }, (_, index) => (index % 2 === 0 ? one : two).append(index % 4 < 2 ? streamId : uniqueStreamId(), newEvents(2), expected.any)),
      );
      const events = await two.readStream(streamId);
      expect(events).toHaveLength(32);
      expect(verifyChain(events)).toBeUndefined();
      expect((await one.readAll()).map((event) => event.position)).toEqual(Array.from({ length: 64 }, (_, index) => BigInt(index + 1)));

      // Neither instance caches the head: a stale expectation fails on the other one.
      await one.append(streamId, newEvents(1), expected.revision(31n));
      await expect(two.append(streamId, newEvents(1), expected.revision(31n))).rejects.toBeInstanceOf(WrongExpectedVersionError);
      await two.append(streamId, newEvents(1), expected.revision(32n));
      expect(await one.streamRevision(streamId)).toBe(33n);
    });

    it('a subscription on one sees appends made through the other (by polling)', async () => {
      const one = temp.open({ pollIntervalMs: 10 });
      const two = temp.open();
      const received: RecordedEvent[] = [];
      const subscription = one.subscribe((event) => void received.push(event));
      await two.append(uniqueStreamId(), newEvents(3), expected.noStream);
      await waitFor('events appended through the other instance', () => received.length === 3, { timeoutMs: WAIT_MS });
      await subscription.stop();
      expect(received.map((event) => event.position)).toEqual([1n, 2n, 3n]);
    });
  });

  describe('a live subscription', () => {
    it('is woken by an append through its store whose reply lands while it yields between windows, not at the next poll', async () => {
      const store = temp.open({ pollIntervalMs: 60_000 });
      const streamId = uniqueStreamId();
      await store.append(streamId, newEvents(1), expected.noStream); // the writer thread is up
      const probe = new Database(temp.file, { readonly: true });
      const head = probe.prepare('SELECT max(position) FROM events').pluck();
      const received: bigint[] = [];
      const subscription = store.subscribe((event) => {
        received.push(event.position);
        if (event.position !== 1n) return;
        // An append that commits while this handler holds the thread: its reply is handled in the
        // loop's next I/O phase, after the handler returned and before the subscription's yield ends.
        void store.append(streamId, newEvents(1), expected.any);
        const deadline = Date.now() + WAIT_MS;
        while (head.get() !== 2 && Date.now() < deadline);
        const replyPosted = Date.now() + 20; // the writer posts its reply just after the commit
        while (Date.now() < replyPosted);
      });
      try {
        await waitFor('the second event, long before the 60 s poll', () => received.length === 2, { timeoutMs: WAIT_MS });
      } finally {
        await subscription.stop();
        probe.close();
      }
      expect(received).toEqual([1n, 2n]);
    });
  });

  describe('a read that fails (SQLITE_BUSY, an I/O error)', () => {
    it('does not end a subscription: it reads again after a pause, skipping and repeating nothing', async () => {
      const store = temp.open({ pollIntervalMs: 10 });
      const streamId = uniqueStreamId();
      await store.append(streamId, newEvents(2), expected.noStream);
      // The store's reads fail twice (as a locked or failing disk would), then work again.
      const reads = store as unknown as { readWindow: (...args: unknown[]) => RecordedEvent[] };
      const readWindow = reads.readWindow.bind(store);
      let failures = 0;
      reads.readWindow = (...args) => {
        if (failures < 2) {
          failures++;
          throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' });
        }
        return readWindow(...args);
      };
      const received: bigint[] = [];
      const subscription = store.subscribe((event) => void received.push(event.position));
      let ended: unknown;
      subscription.closed.catch((error: unknown) => (ended = error));
      await waitFor('a read failed', () => failures > 0, { timeoutMs: WAIT_MS });
      await store.append(streamId, newEvents(1), expected.revision(1n));
      // It ended at the first failure: a relay or projection following it stopped until a restart.
      await waitFor('every event delivered', () => received.length === 3 || ended !== undefined, { timeoutMs: WAIT_MS });
      expect(ended).toBeUndefined();
      expect(received).toEqual([1n, 2n, 3n]);
      await subscription.stop();
      await expect(subscription.closed).resolves.toBeUndefined();
    });
  });

  describe('the newest events, kept parsed and shared by the readers near the head', () => {
    /** Every page a reader could ask for from `after`, with and without prefixes. */
    async function pages(store: SqliteEventStore, after: bigint) {
      return {
        all: await store.readAll({ afterPosition: after, maxCount: 50 }),
        b: await store.readAll({ afterPosition: after, maxCount: 50, streamPrefixes: ['b-'] }),
        aOrC: await store.readAll({ afterPosition: after, maxCount: 7, streamPrefixes: ['c-', 'a-'] }),
      };
    }

    it('answer every read as the file does, also after more appends than it keeps and appends by another instance', async () => {
      const live = temp.open({ pollIntervalMs: 10 });
      const other = temp.open();
      // A live reader, as a projection is: it keeps what is kept moving (and dropping) in steps.
      let followed = 0n;
      const following = live.subscribe((event) => void (followed = event.position));
      const streams = ['a-1', 'b-1', 'c-1', 'b-2'];
      const appendRound = async (store: SqliteEventStore, rounds: number) => {
        for (let round = 0; round < rounds; round++) {
          await store.appendMany(streams.map((streamId) => ({ streamId, events: newEvents(3), expected: expected.any })));
        }
      };
      const compare = async () => {
        const head = await live.headPosition();
        await waitFor('the live reader at the head', () => followed === head, { timeoutMs: WAIT_MS });
        const fromFile = temp.open(); // opened now: everything below its head is read from the file
        for (const after of [0n, head - 1n, head - 13n, head - 200n, head - BigInt(RECENT_EVENTS_MAX) - 5n, head]) {
          if (after < 0n) continue;
          expect(await pages(live, after)).toEqual(await pages(fromFile, after));
        }
        await fromFile.close();
      };
      await appendRound(live, 20);
      await compare();
      await appendRound(live, Math.ceil((3 * RECENT_EVENTS_MAX) / 12)); // past what it keeps: the oldest are dropped
      await compare();
      await appendRound(other, Math.ceil((2 * RECENT_EVENTS_MAX) / 12)); // further than it keeps, in one jump
      await compare();
      await appendRound(other, 3); // a few more by the other one
      await compare();
      await following.stop();
    }, 60_000);

    it('hands out frozen events: a reader cannot change what another one sees', async () => {
      const store = temp.open();
      const streamId = uniqueStreamId();
      await store.append(streamId, [newEvents(1, () => ({ nested: { amount: '10' } }))[0]], expected.noStream);
      const [event] = await store.readAll();
      expect(() => {
        (event.data as { nested: { amount: string } }).nested.amount = '1000';
      }).toThrow(TypeError);
      const [again] = await store.readAll({ streamPrefixes: [streamId] });
      expect(again.data).toEqual({ n: 0, nested: { amount: '10' } });
    });
  });

  describe('several processes on one file', () => {
    it('append at once without busy errors: every append lands, chains stay whole', async () => {
      const first = temp.open({ readBatchMax: 10_000 }); // create the file before the writers race
      const writers = 4;
      const appendsPerWriter = 150;
      const children = Array.from({ length: writers }, (_, writer) =>
        spawnTs(join(__dirname, '../testing/racing-appender.child.ts'), [temp.file, `w${writer}`, String(writers), String(appendsPerWriter)]),
      );
      const exits = await Promise.all(children.map((child) => child.exited));
      children.forEach((child, index) => {
        expect({ exit: exits[index], stderr: child.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
      });
      const conflicts = children.reduce((sum, child) => sum + (JSON.parse(child.stdout()) as { conflicts: number }).conflicts, 0);

      const raced = await first.readStream(RACED_STREAM, { maxCount: 10_000 });
      expect(raced).toHaveLength(writers * appendsPerWriter * 3);
      expect(verifyChain(raced)).toBeUndefined();
      const any = await first.readStream(ANY_STREAM, { maxCount: 10_000 });
      expect(any).toHaveLength(2 * (writers * appendsPerWriter + conflicts));
      expect(verifyChain(any)).toBeUndefined();
      // The writers overlapped: one after the other would switch writers-1 times (typically ~100 here).
      const writerOf = (event: RecordedEvent) => (event.data as { writer: string }).writer;
      const switches = raced.filter((event, index) => index > 0 && writerOf(event) !== writerOf(raced[index - 1])).length;
      expect(switches).toBeGreaterThanOrEqual(writers);
      const head = await first.headPosition();
      expect(head).toBe(BigInt(raced.length + any.length + writers));
    }, 60_000);
  });
});
