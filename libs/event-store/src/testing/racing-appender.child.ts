// Child of the multi-process test: several of these append to the same streams of one file at
// once; it prints {conflicts} as JSON and exits 0, or prints the unexpected error and exits 1.
import { expectedState as expected, WrongExpectedVersionError } from '../event-store.port';
import { SqliteEventStore } from '../sqlite/sqlite-event-store';
import { newEvents } from './test-events';

export const RACED_STREAM = 'race-revision';
export const ANY_STREAM = 'race-any';
export const READY_STREAM = 'race-ready';

async function main(file: string, writer: string, writers: number, appends: number): Promise<void> {
  const store = new SqliteEventStore({ file });
  // A barrier through the store itself, so the writers really overlap.
  await store.append(READY_STREAM, newEvents(1, () => ({ writer })), expected.any);
  while (((await store.streamRevision(READY_STREAM)) ?? -1n) + 1n < BigInt(writers)) await new Promise((resolve) => setTimeout(resolve, 2));
  let conflicts = 0;
  for (let done = 0; done < appends; ) {
    // One append with optimistic concurrency (re-read on conflict), one with "any".
    const revision = await store.streamRevision(RACED_STREAM);
    try {
      await store.append(RACED_STREAM, newEvents(3, () => ({ writer, done })), revision === undefined ? expected.noStream : expected.revision(revision));
      done++;
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
      conflicts++;
    }
    await store.append(ANY_STREAM, newEvents(2, () => ({ writer })), expected.any);
    // A writer thinks between appends; without it SQLite's busy handler lets one process run
    // ahead while the others sleep, and the test would hardly interleave.
    if (done % 2 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await store.close();
  process.stdout.write(JSON.stringify({ conflicts }));
}

if (require.main === module) {
  main(process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
