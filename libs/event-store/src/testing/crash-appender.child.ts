// Child of the crash test: appends whole batches of K events to a SQLite store as fast as it
// can, alternating two streams, until it is killed. Each event carries its writer, batch and index.
import { expectedState as expected, type ExpectedState } from '../event-store.port';
import { SqliteEventStore } from '../sqlite/sqlite-event-store';
import { newEvent } from './test-events';

export const CRASH_STREAMS = ['crash-a', 'crash-b'] as const;

async function main(file: string, batchSize: number): Promise<void> {
  const store = new SqliteEventStore({ file });
  const revisions = new Map<string, bigint | undefined>();
  for (const streamId of CRASH_STREAMS) revisions.set(streamId, await store.streamRevision(streamId));
  for (let batch = 0; ; batch++) {
    const streamId = CRASH_STREAMS[batch % CRASH_STREAMS.length];
    const revision = revisions.get(streamId);
    const expectation: ExpectedState = revision === undefined ? expected.noStream : expected.revision(revision);
    const events = Array.from({ length: batchSize }, (_, index) => newEvent({ writer: process.pid, batch, index }));
    revisions.set(streamId, (await store.append(streamId, events, expectation)).nextExpectedRevision);
  }
}

if (require.main === module) {
  main(process.argv[2], Number(process.argv[3])).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
