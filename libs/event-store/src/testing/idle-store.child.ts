// Child of the writer-thread test: appends once, prints the result and never closes the store.
// It must exit by itself (the idle writer thread is unref'd) and only after its awaited append
// (the thread is ref'd while the append is pending).
import { expectedState as expected } from '../event-store.port';
import { SqliteEventStore } from '../sqlite/sqlite-event-store';
import { newEvents } from './test-events';

async function main(file: string): Promise<void> {
  const store = new SqliteEventStore({ file });
  const result = await store.append('idle-store', newEvents(3), expected.noStream);
  process.stdout.write(JSON.stringify({ position: result.position.toString() }));
}

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exitCode = 1;
});
