import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@ledger/contracts';
import { deadLetterStoreContract } from '../testing/dead-letter-store.contract';
import { InMemoryDeadLetterStore, SqliteDeadLetterStore } from './dead-letter-store';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ledger-dlq-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

deadLetterStoreContract('in memory', { open: (maxMessages, clock) => new InMemoryDeadLetterStore({ maxMessages, clock }) });
deadLetterStoreContract('SQLite', { open: (maxMessages, clock) => new SqliteDeadLetterStore(join(dir, `dlq-${files++}.sqlite`), { maxMessages, clock }) });

describe('SqliteDeadLetterStore', () => {
  it('still has its dead letters after a restart, and still counts them toward its limit', async () => {
    const file = join(dir, 'restart.sqlite');
    const clock = new ManualClock();
    const before = new SqliteDeadLetterStore(file, { maxMessages: 2, clock });
    const letter = { topic: 't', partition: 0, offset: '7', groupId: 'g', attempts: 3, error: 'Error: x', key: 'k', value: Buffer.from('{"a":1}'), headers: { h: 'v' } };
    await before.add(letter);
    before.close();
    const after = new SqliteDeadLetterStore(file, { maxMessages: 2, clock });
    try {
      expect(await after.list({ limit: 10 })).toEqual([{ ...letter, id: 1, deadAt: new Date(clock.nowMs()).toISOString() }]);
      expect(await after.add(letter)).toBe(true);
      expect(await after.add(letter)).toBe(false);
    } finally {
      after.close();
    }
  });
});
