import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { SqliteEventStore } from './sqlite/sqlite-event-store';
import { eventStoreContract } from './testing/event-store.contract';
import { serveEventStoreOverPort, ThreadEventStore } from './thread-event-store';

// The ports of one MessageChannel cross the same wire as a worker's: what holds here holds between threads.
eventStoreContract('ThreadEventStore over a SqliteEventStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-thread-store-'));
  const owner = new SqliteEventStore({ file: join(dir, 'events.sqlite') });
  const { port1, port2 } = new MessageChannel();
  serveEventStoreOverPort(port1, owner);
  const store = new ThreadEventStore(port2);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await owner.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
