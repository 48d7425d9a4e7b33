// The in-process bus keeps what it dead-letters in a DeadLetterStore: a SQLite file outlives the
// process, where `<topic>.dlq` (memory) does not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gate, waitFor } from '@ledger/contracts/testing';
import { decode, encode } from '../codec';
import { DEAD_LETTER_RETRY_MIN_MS, InProcessBus } from '../in-process/in-process-bus';
import { deadLetterTopic, type DeliveredMessage } from '../message-bus.port';
import { BUS_HEADERS } from '../nest/bus-protocol';
import { SqliteDeadLetterStore } from './dead-letter-store';

describe('InProcessBus with a SQLite dead-letter store', () => {
  let dir: string;
  let bus: InProcessBus | undefined;
  let store: SqliteDeadLetterStore | undefined;
  const errors: string[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ledger-dlq-bus-'));
    errors.length = 0;
  });

  afterEach(async () => {
    await bus?.close();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(maxMessages = 100): InProcessBus {
    store = new SqliteDeadLetterStore(join(dir, 'dead-letters.sqlite'), { maxMessages });
    bus = new InProcessBus({ maxAttempts: 2, retryBackoffMs: 1, retryBackoffMaxMs: 1, deadLetters: store, logger: { warn: () => undefined, error: (line) => errors.push(line) } });
    return bus;
  }

  async function poison(topic: string, messages: { key: string; body: unknown; headers?: Record<string, string> }[]): Promise<DeliveredMessage[]> {
    const handled: DeliveredMessage[] = [];
    await bus!.subscribe({
      topics: [topic],
      groupId: 'victim',
      handler: async (message) => {
        handled.push(message);
        if ((decode(message.value) as { poison?: boolean }).poison === true) throw new Error('cannot handle this one');
      },
    });
    await bus!.publish(topic, messages.map(({ key, body, headers }) => ({ key, value: encode(body), partition: 0, ...(headers === undefined ? {} : { headers }) })));
    return handled;
  }

  it('keeps a dead letter past a restart: topic, offset, group, attempts, error, key, value, headers', async () => {
    start();
    const handled = await poison('ledger.events', [{ key: 'shard-0', body: { poison: true, n: 1 }, headers: { eventId: 'e-1' } }, { key: 'shard-0', body: { n: 2 } }]);
    await waitFor('the group to move past the poison message', () => handled.some((message) => message.offset === '1'));
    await bus!.close();
    store!.close();

    const reopened = new SqliteDeadLetterStore(join(dir, 'dead-letters.sqlite'), { maxMessages: 100 });
    try {
      const [letter, ...rest] = await reopened.list({ limit: 10 });
      expect(rest).toEqual([]);
      expect(letter).toMatchObject({ topic: 'ledger.events', partition: 0, offset: '0', groupId: 'victim', attempts: 2, key: 'shard-0', headers: { eventId: 'e-1' } });
      expect(letter.error).toContain('cannot handle this one');
      expect(decode(letter.value!)).toEqual({ poison: true, n: 1 });
    } finally {
      reopened.close();
    }
  });

  it("keeps no request's or reply's value: it may carry a card number, and nobody awaits either after a restart", async () => {
    start();
    const pan = '4111111111111111';
    const handled = await poison('cards.commands', [{ key: 'c', body: { poison: true, pan }, headers: { [BUS_HEADERS.replyTo]: 'gateway.replies', [BUS_HEADERS.correlationId]: 'r-1' } }]);
    await waitFor('the request dead-lettered', async () => (await store!.count()) === 1);
    expect(handled).toHaveLength(2);
    // A reply (a revealed card) that its requester's consumer could not take: the same.
    await poison('gateway.replies', [{ key: 'r', body: { poison: true, pan }, headers: { [BUS_HEADERS.correlationId]: 'r-2' } }]);
    await waitFor('the reply dead-lettered', async () => (await store!.count()) === 2);
    for (const letter of await store!.list({ limit: 10 })) {
      expect(letter.value).toBeNull();
      expect(JSON.stringify(letter)).not.toContain(pan);
    }
  });

  it('retries a failing dead-letter store with a pause of at least DEAD_LETTER_RETRY_MIN_MS, even with BUS_RETRY_BACKOFF_MAX_MS 0 (no spin, no error line a turn)', async () => {
    const tries: number[] = [];
    const failing = new SqliteDeadLetterStore(join(dir, 'failing.sqlite'), { maxMessages: 10 });
    const realAdd = failing.add.bind(failing);
    failing.add = async (letter) => {
      tries.push(performance.now());
      if (tries.length < 3) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
      return realAdd(letter);
    };
    store = failing;
    bus = new InProcessBus({ maxAttempts: 1, retryBackoffMs: 0, retryBackoffMaxMs: 0, deadLetters: failing, logger: { warn: () => undefined, error: (line) => errors.push(line) } });
    await poison('ledger.events', [{ key: 'k', body: { poison: true } }]);
    await waitFor('the dead letter kept on the third try', async () => (await failing.count()) === 1);
    // A timer never fires early (less 1 ms of clock rounding).
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(DEAD_LETTER_RETRY_MIN_MS - 1);
    expect(tries[2] - tries[1]).toBeGreaterThanOrEqual(DEAD_LETTER_RETRY_MIN_MS - 1);
    expect(errors.filter((line) => line.startsWith('cannot keep ledger.events[0]@0 in the dead-letter store'))).toHaveLength(2);
  });

  it('retries a move to a full <topic>.dlq with the same least pause (it spun with BUS_RETRY_BACKOFF_MAX_MS 0, an error line a turn)', async () => {
    const stamped: number[] = [];
    const held = gate();
    bus = new InProcessBus({ maxAttempts: 1, retryBackoffMs: 0, retryBackoffMaxMs: 0, maxQueueDepth: 1, logger: { warn: () => undefined, error: (line) => void (line.startsWith('cannot move') && stamped.push(performance.now())) } });
    // A DLQ consumer that holds the first dead letter: the partition is full for the second.
    let holding = false;
    await bus.subscribe({ topics: [deadLetterTopic('ledger.events')], groupId: 'dlq-watch', handler: () => ((holding = true), held.promise) });
    await poison('ledger.events', [{ key: 'k', body: { poison: true, n: 1 } }]);
    try {
      await waitFor('the DLQ consumer to hold the first', () => holding);
      // Accepted once the victim group committed the first (its move to the DLQ done).
      await waitFor('the second published', () => bus!.publish('ledger.events', [{ key: 'k', value: encode({ poison: true, n: 2 }), partition: 0 }]).then(() => true, () => false));
      await waitFor('two refused moves', () => stamped.length >= 2);
      expect(stamped[1] - stamped[0]).toBeGreaterThanOrEqual(DEAD_LETTER_RETRY_MIN_MS - 1);
    } finally {
      held.open();
    }
  });

  it('when full, refuses a new dead letter with an error line (no message content) and moves on; the oldest are kept', async () => {
    start(1);
    const watched: DeliveredMessage[] = [];
    await bus!.subscribe({ topics: [deadLetterTopic('ledger.events')], groupId: 'dlq-watch', handler: async (message) => void watched.push(message) });
    const handled = await poison('ledger.events', [
      { key: 'k', body: { poison: true, n: 1 } },
      { key: 'k', body: { poison: true, n: 2, secretish: 'do-not-log' } },
      { key: 'k', body: { n: 3 } },
    ]);
    await waitFor('the group past both poison messages', () => handled.some((message) => message.offset === '2'));
    await waitFor('both in the in-memory DLQ', () => watched.length === 2);
    expect((await store!.list({ limit: 10 })).map((letter) => letter.offset)).toEqual(['0']);
    expect(errors.filter((line) => line.startsWith('dead-letter store full: ledger.events[0]@1 (group victim)'))).toHaveLength(1);
    expect(errors.join('\n')).not.toContain('do-not-log');
  });
});
