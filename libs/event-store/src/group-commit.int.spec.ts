import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedState as expected, WrongExpectedVersionError } from './event-store.port';
import { GroupCommit } from './group-commit';
import { APPEND_EVENTS_MAX, APPEND_REQUESTS_MAX, SqliteEventStore } from './sqlite/sqlite-event-store';
import { newEvents, uniqueStreamId } from './testing/test-events';

describe('GroupCommit', () => {
  let dir: string;
  let store: SqliteEventStore;
  let appendMany: jest.SpyInstance;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
    store = new SqliteEventStore({ file: join(dir, 'events.sqlite') });
    appendMany = jest.spyOn(store, 'appendMany');
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is shared per store (GroupCommit.of): two services appending in one turn share one commit', async () => {
    expect(GroupCommit.of(store)).toBe(GroupCommit.of(store));
    const other = new SqliteEventStore({ file: join(dir, 'other.sqlite') });
    try {
      expect(GroupCommit.of(other)).not.toBe(GroupCommit.of(store));
    } finally {
      await other.close();
    }
    const streams = [uniqueStreamId(), uniqueStreamId()];
    await Promise.all(streams.map((streamId) => GroupCommit.of(store).append({ streamId, events: newEvents(1), expected: expected.noStream })));
    expect(appendMany).toHaveBeenCalledTimes(1);
  });

  it('commits the appends of one turn together, each caller getting its own result or error', async () => {
    const commits = new GroupCommit(store);
    const taken = uniqueStreamId();
    await store.append(taken, newEvents(1), expected.noStream);
    const fresh = [uniqueStreamId(), uniqueStreamId()];
    const results = await Promise.allSettled([
      commits.append({ streamId: fresh[0], events: newEvents(2), expected: expected.noStream }),
      commits.append({ streamId: taken, events: newEvents(1), expected: expected.noStream }),
      commits.append({ streamId: fresh[1], events: newEvents(1), expected: expected.noStream }),
    ]);
    expect(appendMany).toHaveBeenCalledTimes(1);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[0]).toMatchObject({ value: { nextExpectedRevision: 1n } });
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(await store.streamRevision(fresh[1])).toBe(0n);
  });

  it('splits a turn at its limits of appends and events, in order', async () => {
    const commits = new GroupCommit(store, { maxRequests: 2, maxEvents: 3 });
    const streamId = uniqueStreamId();
    const sizes = [1, 1, 1, 2, 2, 4];
    const results = await Promise.all(
      sizes.map((size, index) => commits.append({ streamId, events: newEvents(size), expected: index === 0 ? expected.noStream : expected.exists })),
    );
    // [1,1] by count, [1,2] by events, [2] then [4] alone (larger than maxEvents by itself).
    expect(appendMany.mock.calls.map(([requests]) => (requests as { events: unknown[] }[]).map((request) => request.events.length))).toEqual([[1, 1], [1, 2], [2], [4]]);
    expect(results.map((result) => result.nextExpectedRevision)).toEqual([0n, 1n, 2n, 4n, 6n, 10n]);
  });

  it('refuses limits that could never send an append (0 appends per commit spun forever, its callers never answered)', () => {
    expect(() => new GroupCommit(store, { maxRequests: 0 })).toThrow(RangeError);
    expect(() => new GroupCommit(store, { maxRequests: Number.NaN })).toThrow(RangeError);
    expect(() => new GroupCommit(store, { maxRequests: APPEND_REQUESTS_MAX + 1 })).toThrow(RangeError);
    expect(() => new GroupCommit(store, { maxEvents: 0 })).toThrow(RangeError);
    expect(() => new GroupCommit(store, { maxEvents: APPEND_EVENTS_MAX + 1 })).toThrow(RangeError);
  });

  it('fails only the append a commit refused for its own content; the others of the turn are written', async () => {
    const commits = new GroupCommit(store);
    const [before, after] = [uniqueStreamId(), uniqueStreamId()];
    const [bad] = newEvents(1);
    const results = await Promise.allSettled([
      commits.append({ streamId: before, events: newEvents(1), expected: expected.noStream }),
      commits.append({ streamId: uniqueStreamId(), events: [{ ...bad, data: { amount: 1n } as never }], expected: expected.noStream }),
      commits.append({ streamId: '', events: newEvents(1), expected: expected.noStream }),
      commits.append({ streamId: after, events: newEvents(1), expected: expected.noStream }),
      // A function cannot even be copied to the writer thread.
      commits.append({ streamId: uniqueStreamId(), events: [{ ...bad, data: { f: () => 1 } as never }], expected: expected.noStream }),
      commits.append({ streamId: after, events: newEvents(1), expected: expected.revision(0n) }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
    expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect((results[4] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
    expect(await store.streamRevision(before)).toBe(0n);
    expect(await store.streamRevision(after)).toBe(1n);
  });

  it('rejects every append of a commit that failed as a whole (the store closed)', async () => {
    const commits = new GroupCommit(store);
    const pending = [commits.append({ streamId: uniqueStreamId(), events: newEvents(1), expected: expected.noStream }), commits.append({ streamId: uniqueStreamId(), events: newEvents(1), expected: expected.noStream })];
    await store.close();
    const results = await Promise.allSettled(pending);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(appendMany).toHaveBeenCalledTimes(1);
  });
});
