import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectedState as expected } from '../event-store.port';
import { newEvents, uniqueStreamId } from '../testing/test-events';
import { SqliteEventStore } from './sqlite-event-store';
import { openConnection, SqliteWriter, type AppendCommand } from './sqlite-writer';

describe('SqliteWriter.run: the commands queued at the writer share one commit', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-writer-'));
    file = join(dir, 'events.sqlite');
    await new SqliteEventStore({ file }).close(); // the schema
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('answers each command as if it had run alone: a refused or failing one is undone alone, the others are written in order', async () => {
    const connection = openConnection({ file, synchronous: 'FULL', busyTimeoutMs: 1_000 });
    const writer = new SqliteWriter(connection);
    const [a, b, c] = [uniqueStreamId(), uniqueStreamId(), uniqueStreamId()];
    const commands: AppendCommand[] = [
      { id: 1, kind: 'one', requests: [{ streamId: a, events: newEvents(2), expected: expected.noStream }], nowMs: 1_000 },
      // A many that fails as a whole at its second request (data no JSON holds): its first request is undone with it.
      { id: 2, kind: 'many', requests: [{ streamId: b, events: newEvents(1), expected: expected.noStream }, { streamId: c, events: newEvents(1, () => ({ n: 1n as never })), expected: expected.any }], nowMs: 1_001 },
      { id: 3, kind: 'many', requests: [{ streamId: c, events: newEvents(1), expected: expected.noStream }, { streamId: a, events: newEvents(1), expected: expected.noStream }], nowMs: 1_002 },
      { id: 4, kind: 'one', requests: [{ streamId: a, events: newEvents(1), expected: expected.revision(1n) }], nowMs: 1_003 },
    ];
    const replies = writer.run(commands);
    writer.close();

    expect(replies.map((reply) => reply.id)).toEqual([1, 2, 3, 4]);
    expect(replies[0]).toEqual({ id: 1, result: { nextExpectedRevision: 1n, position: 2n } });
    expect(replies[1]).toMatchObject({ id: 2, error: { name: 'TypeError' } });
    expect(replies[2]).toMatchObject({ id: 3, outcomes: [{ ok: true, result: { position: 3n } }, { ok: false, error: { name: 'WrongExpectedVersionError' } }] });
    expect(replies[3]).toEqual({ id: 4, result: { nextExpectedRevision: 2n, position: 4n } });

    const store = new SqliteEventStore({ file });
    try {
      expect((await store.readAll()).map((event) => [event.streamId, event.revision])).toEqual([[a, 0n], [a, 1n], [c, 0n], [a, 2n]]);
      expect(await store.streamRevision(b)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
