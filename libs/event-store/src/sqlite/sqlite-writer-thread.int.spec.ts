import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { spawnTs, waitFor } from '@ledger/contracts/testing';
import { expectedState as expected, type AppendOutcome, type AppendRequest, type EventStore } from '../event-store.port';
import { GroupCommit } from '../group-commit';
import { newEvents, uniqueStreamId } from '../testing/test-events';
import { APPEND_EVENTS_MAX, SqliteEventStore } from './sqlite-event-store';

const WAIT_MS = 10_000;

/** Payload of the large append: big enough that writing it spans many turns of the event loop. */
const LARGE_PAYLOAD = 'x'.repeat(200);

describe('SqliteEventStore writer thread', () => {
  let dir: string;
  let file: string;
  const opened: SqliteEventStore[] = [];

  function open(options: { busyTimeoutMs?: number } = {}): SqliteEventStore {
    const store = new SqliteEventStore({ file, ...options });
    opened.push(store);
    return store;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-writer-thread-'));
    file = join(dir, 'events.sqlite');
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes an append off the main thread: the event loop keeps turning until it is committed', async () => {
    const store = open();
    let turns = 0;
    let appended = false;
    const append = store.append(uniqueStreamId(), newEvents(APPEND_EVENTS_MAX, () => ({ payload: LARGE_PAYLOAD })), expected.noStream).finally(() => (appended = true));
    // A synchronous write would be done before the first turn below.
    while (!appended) {
      await nextTurn();
      turns++;
    }
    expect((await append).position).toBe(BigInt(APPEND_EVENTS_MAX));
    expect(turns).toBeGreaterThan(1);
  });

  it('rejects pending appends with an error naming the thread when it dies, and starts a new thread for later ones', async () => {
    const store = open();
    const streamId = uniqueStreamId();
    await store.append(streamId, newEvents(1), expected.noStream); // the thread is up
    const pending = store.append(uniqueStreamId(), newEvents(APPEND_EVENTS_MAX, () => ({ payload: LARGE_PAYLOAD })), expected.noStream);
    await store['writer'].terminate();
    await expect(pending).rejects.toThrow(/writer thread exited/);
    // Every later append was refused until the process restarted, while /readyz's store check (a read) passed.
    const head = await store.headPosition();
    await expect(store.append(streamId, newEvents(1), expected.revision(0n))).resolves.toMatchObject({ position: head + 1n, nextExpectedRevision: 1n });
    const [outcome] = await store.appendMany([{ streamId: uniqueStreamId(), events: newEvents(1), expected: expected.noStream }]);
    expect(outcome).toMatchObject({ ok: true, result: { position: head + 2n } });
  });

  it('close() lets pending appends finish, then refuses new ones', async () => {
    const store = new SqliteEventStore({ file });
    const streamId = uniqueStreamId();
    const pending = store.append(streamId, newEvents(APPEND_EVENTS_MAX, () => ({ payload: LARGE_PAYLOAD })), expected.noStream);
    const closing = store.close();
    await expect(store.append(uniqueStreamId(), newEvents(1), expected.noStream)).rejects.toThrow(/closed/);
    await closing;
    await expect(pending).resolves.toMatchObject({ position: BigInt(APPEND_EVENTS_MAX) });
    expect(await open().streamRevision(streamId)).toBe(BigInt(APPEND_EVENTS_MAX - 1));
  });

  it('rebuilds a SQLite error with its code on the calling thread', async () => {
    const store = open({ busyTimeoutMs: 0 });
    const locker = new Database(file);
    try {
      locker.exec('BEGIN IMMEDIATE');
      await expect(store.append(uniqueStreamId(), newEvents(1), expected.noStream)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      locker.exec('ROLLBACK');
    } finally {
      locker.close();
    }
    expect(await store.headPosition()).toBe(0n);
  });

  it('lets a script that never closes its store exit, after its awaited append', async () => {
    const child = spawnTs(join(__dirname, '../testing/idle-store.child.ts'), [file]);
    try {
      // A thread that kept the process alive would hang it: wait with a deadline, then kill.
      await waitFor('the child exits by itself', () => child.process.exitCode !== null, { timeoutMs: WAIT_MS });
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect({ stdout: child.stdout(), stderr: child.stderr() }).toEqual({ stdout: JSON.stringify({ position: '3' }), stderr: '' });
    } finally {
      child.process.kill('SIGKILL');
    }
  });

  it('group commit: appends arriving while a commit is in flight share the next one', async () => {
    const store = open();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const commits: number[][] = [];
    const gated: EventStore = Object.assign(Object.create(store) as EventStore, {
      appendMany: async (requests: readonly AppendRequest[]): Promise<AppendOutcome[]> => {
        commits.push(requests.map((request) => request.events.length));
        if (commits.length === 1) await gate;
        return store.appendMany(requests);
      },
    });
    const group = new GroupCommit(gated);
    const first = group.append({ streamId: uniqueStreamId(), events: newEvents(1), expected: expected.noStream });
    await nextTurn();
    const later = [];
    for (const size of [2, 3]) {
      later.push(group.append({ streamId: uniqueStreamId(), events: newEvents(size), expected: expected.noStream }));
      await nextTurn(); // each in a turn of its own
    }
    expect(commits).toEqual([[1]]);
    release();
    await Promise.all([first, ...later]);
    expect(commits).toEqual([[1], [2, 3]]);
  });
});
