import { decode, encode } from '../codec';
import { loadMessagingConfig } from '../messaging.config';
import { deadLetterTopic, InvalidMessageError } from '../message-bus.port';
import { messageBusContract } from '../testing/message-bus.contract';
import { gate, waitFor } from '@ledger/contracts/testing';
import { SHARDS_MAX } from '@ledger/ledger';
import { InProcessBus, inProcessBusOptions, MAX_PARTITIONS, type BusLogger } from './in-process-bus';

const silent: BusLogger = { warn: () => undefined, error: () => undefined };

messageBusContract('InProcessBus', (settings) => new InProcessBus({ ...settings, logger: silent }));

describe('InProcessBus, beyond the contract', () => {
  let bus: InProcessBus;
  let warnings: string[];

  beforeEach(() => {
    warnings = [];
    bus = new InProcessBus({
      defaultPartitions: 2,
      maxQueueDepth: 10,
      maxMessageBytes: 2048,
      logger: { warn: (message) => warnings.push(message), error: () => undefined },
    });
  });

  afterEach(async () => {
    await bus.close();
  });

  it('starts with the defaults of the messaging config and is open', async () => {
    const defaults = new InProcessBus();
    expect(defaults.isOpen()).toBe(true);
    expect(await defaults.partitionCount('some.topic')).toBe(4);
    await defaults.close();
    expect(defaults.isOpen()).toBe(false);
  });

  it('takes its settings from the environment through the config loader', async () => {
    const options = inProcessBusOptions(loadMessagingConfig({ BUS_DEFAULT_PARTITIONS: '8', BUS_MAX_ATTEMPTS: '2' }));
    expect(options).toMatchObject({ defaultPartitions: 8, maxAttempts: 2 });
    expect(() => loadMessagingConfig({ BUS_MAX_QUEUE_DEPTH: '0' })).toThrow(/BUS_MAX_QUEUE_DEPTH/);
  });

  it('declares topics up front and refuses a different partition count later', async () => {
    const declared = new InProcessBus({ topics: { 'ledger.commands': 8 }, logger: silent });
    expect(await declared.partitionCount('ledger.commands')).toBe(8);
    await expect(declared.createTopic('ledger.commands', 8)).resolves.toBeUndefined();
    await expect(declared.createTopic('ledger.commands', 4)).rejects.toThrow(/exists with 8 partitions/);
    await declared.close();
  });

  it('refuses bad topic names, oversized messages and non-Buffer values', async () => {
    await expect(bus.publish('no spaces allowed', [{ key: 'k', value: encode(1) }])).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(bus.createTopic('x'.repeat(250), 1)).rejects.toThrow(/invalid topic name/);
    await expect(bus.publish('big', [{ key: 'k', value: Buffer.alloc(4096) }])).rejects.toThrow(/over the limit of 2048/);
    await expect(bus.publish('raw', [{ key: 'k', value: 'text' as unknown as Buffer }])).rejects.toThrow(/must be a Buffer/);
  });

  it('takes a topic of as many partitions as the ledger may have shards (ledger.commands and ledger.events have LEDGER_SHARDS)', async () => {
    await expect(bus.createTopic('ledger.commands', SHARDS_MAX)).resolves.toBeUndefined();
    await bus.publish('ledger.commands', [{ key: String(SHARDS_MAX - 1), value: encode({}), partition: SHARDS_MAX - 1 }]);
    await expect(bus.createTopic('too.many', MAX_PARTITIONS + 1)).rejects.toThrow(RangeError);
  });

  it('appends a batch all or nothing when one partition would overflow', async () => {
    await bus.createTopic('batch', 2);
    const release = gate();
    const received: number[] = [];
    await bus.subscribe({
      topics: ['batch'],
      groupId: 'g',
      handler: async (m) => {
        received.push(m.partition);
        await release.promise;
      },
    });
    await bus.publish('batch', Array.from({ length: 9 }, () => ({ key: 'k', value: encode(1), partition: 0 })));
    const overflowing = [
      { key: 'k', value: encode(2), partition: 1 },
      { key: 'k', value: encode(2), partition: 0 },
      { key: 'k', value: encode(2), partition: 0 },
    ];
    await expect(bus.publish('batch', overflowing)).rejects.toThrow(/queue full: batch\[0\]/);
    release.open();
    await waitFor('the 9 messages of partition 0', () => received.length === 9);
    expect(received.every((partition) => partition === 0)).toBe(true);
  });

  it('drops the oldest messages of a partition no live consumer reads, as retention would', async () => {
    await bus.createTopic('unread', 1);
    for (let seq = 0; seq < 25; seq++) await bus.publish('unread', [{ key: 'k', value: encode({ seq }) }]);
    const seen: number[] = [];
    await bus.subscribe({ topics: ['unread'], groupId: 'late', handler: async (m) => void seen.push((decode(m.value) as { seq: number }).seq) });
    await waitFor('the retained messages', () => seen.length === 10);
    expect(seen).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });

  it('keeps messages for a group whose consumers all left, so a restarted consumer resumes', async () => {
    await bus.createTopic('restart', 1);
    const first = await bus.subscribe({ topics: ['restart'], groupId: 'ledger', handler: async () => undefined });
    await first.stop();
    await bus.publish('restart', [{ key: 'k', value: encode({ seq: 1 }) }]);
    const seen: string[] = [];
    await bus.subscribe({ topics: ['restart'], groupId: 'ledger', handler: async (m) => void seen.push(m.offset) });
    await waitFor('the message published while the group had no consumer', () => seen.length === 1);
    expect(seen).toEqual(['0']);
  });

  it('does not let a group without consumers hold back an active one, and says what it skipped', async () => {
    await bus.createTopic('retention', 1);
    const idle = await bus.subscribe({ topics: ['retention'], groupId: 'idle', handler: async () => undefined });
    await idle.stop();
    let handled = 0;
    await bus.subscribe({ topics: ['retention'], groupId: 'active', handler: async () => void handled++ });
    for (let seq = 0; seq < 25; seq++) {
      await waitFor(`room for ${seq}`, async () => {
        await bus.publish('retention', [{ key: 'k', value: encode({ seq }) }]);
      });
    }
    await waitFor('25 messages in the active group', () => handled === 25);

    const resumed: string[] = [];
    await bus.subscribe({ topics: ['retention'], groupId: 'idle', handler: async (m) => void resumed.push(m.offset) });
    await bus.publish('retention', [{ key: 'k', value: encode({ seq: 25 }) }]);
    await waitFor('the idle group to get the newest message', () => resumed.includes('25'));
    expect(warnings.some((warning) => warning.includes('group idle skips'))).toBe(true);
  });

  it('dead-letters a message of the largest size allowed, though the headers it gains take it over the limit', async () => {
    const errors: string[] = [];
    const strict = new InProcessBus({ maxMessageBytes: 1024, maxAttempts: 1, retryBackoffMaxMs: 10, logger: { warn: () => undefined, error: (message) => errors.push(message) } });
    try {
      await strict.createTopic('full-size', 1);
      await strict.subscribe({
        topics: ['full-size'],
        groupId: 'g',
        handler: async () => {
          throw new Error('cannot handle it');
        },
      });
      const dead: string[] = [];
      await strict.subscribe({ topics: [deadLetterTopic('full-size')], groupId: 'dlq-watch', handler: async (m) => void dead.push(m.key) });
      await strict.publish('full-size', [{ key: 'k', value: Buffer.alloc(1023) }]);
      await waitFor('the message in the DLQ', () => dead.length === 1);
      expect(dead).toEqual(['k']);
      expect(errors.filter((message) => message.includes('cannot move'))).toEqual([]);
      // Only what the bus adds is allowed beyond the limit: a publisher still gets refused.
      await expect(strict.publish(deadLetterTopic('full-size'), [{ key: 'k', value: Buffer.alloc(1024) }])).rejects.toThrow(/over the limit of 1024/);
    } finally {
      await strict.close();
    }
  });

  it('consumed() waits until every group, also one whose consumers left, committed what was published before it', async () => {
    const held = gate();
    const seen: string[] = [];
    const consumer = await bus.subscribe({
      topics: ['ledger.events'],
      groupId: 'card-issuer',
      handler: async (message) => {
        seen.push(message.offset);
        if (message.offset === '0') await held.promise;
      },
    });
    await bus.publish('ledger.events', [{ key: 'a', value: encode(1), partition: 0 }, { key: 'a', value: encode(2), partition: 0 }]);
    let consumed = false;
    const waiting = bus.consumed('ledger.events').then(() => (consumed = true));
    await waitFor('the first delivery', () => seen.length === 1);
    expect(consumed).toBe(false);
    held.open();
    await waiting;
    expect(seen).toEqual(['0', '1']);

    // A group whose consumers all left still has to read what came after: a restart would otherwise lose it.
    await consumer.stop();
    await bus.publish('ledger.events', [{ key: 'a', value: encode(3), partition: 1 }]);
    const abort = new AbortController();
    const abandoned = bus.consumed('ledger.events', abort.signal);
    abort.abort(new Error('relay stopping'));
    await expect(abandoned).rejects.toThrow('relay stopping');
    const pending = bus.consumed('ledger.events');
    await bus.subscribe({ topics: ['ledger.events'], groupId: 'card-issuer', handler: async (message) => void seen.push(message.offset) });
    await pending;
    expect(seen).toEqual(['0', '1', '0']);
    await expect(bus.consumed('no.consumers')).resolves.toBeUndefined();
  });

  it('declares a consumer group up front without creating its topic, which its producer then declares with its own partition count', async () => {
    expect(() => new InProcessBus({ consumerGroups: { 'ledger.events': [''] } })).toThrow(InvalidMessageError);
    const declared = new InProcessBus({ consumerGroups: { 'ledger.events': ['card-issuer'] }, logger: silent });
    try {
      await declared.createTopic('ledger.events', 8);
      await declared.publish('ledger.events', [{ key: 'a', value: encode(1), partition: 7 }]);
      let consumed = false;
      const waiting = declared.consumed('ledger.events').then(() => (consumed = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(consumed).toBe(false); // the group holds it before its consumer came
      const seen: number[] = [];
      await declared.subscribe({ topics: ['ledger.events'], groupId: 'card-issuer', handler: async (message) => void seen.push(message.partition) });
      await waiting;
      expect(seen).toEqual([7]);
    } finally {
      await declared.close();
    }
  });

  it('consumed() rejects on close, so nothing waits for consumers that will never come', async () => {
    await bus.subscribe({ topics: ['ledger.events'], groupId: 'stuck', handler: async () => undefined }).then((consumer) => consumer.stop());
    await bus.publish('ledger.events', [{ key: 'a', value: encode(1) }]);
    const waiting = bus.consumed('ledger.events');
    await bus.close();
    await expect(waiting).rejects.toThrow(/closed/);
  });

  it('interrupts a retry backoff on close()', async () => {
    const slowRetries = new InProcessBus({ retryBackoffMs: 60_000, retryBackoffMaxMs: 60_000, logger: silent });
    let attempts = 0;
    await slowRetries.subscribe({
      topics: ['failing'],
      groupId: 'g',
      handler: async () => {
        attempts++;
        throw new Error('always');
      },
    });
    await slowRetries.publish('failing', [{ key: 'k', value: encode(1) }]);
    await waitFor('a first failed attempt', () => attempts === 1);
    const started = Date.now();
    await slowRetries.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(attempts).toBe(1);
  });

  it('delivers a message again to the new owner when its consumer leaves between attempts', async () => {
    const retrying = new InProcessBus({ retryBackoffMs: 60_000, retryBackoffMaxMs: 60_000, logger: silent });
    await retrying.createTopic('handover', 1);
    const leaving = await retrying.subscribe({
      topics: ['handover'],
      groupId: 'g',
      handler: async () => {
        throw new Error('this consumer is broken');
      },
    });
    await retrying.publish('handover', [{ key: 'k', value: encode({ seq: 1 }) }]);
    const taken: number[] = [];
    const staying = await retrying.subscribe({ topics: ['handover'], groupId: 'g', handler: async (m) => void taken.push(m.attempt) });
    await waitFor('the partition to stay with the first consumer', () => leaving.assignments().length === 1);
    await leaving.stop();
    await waitFor('the new owner to get the message', () => taken.length === 1);
    expect(taken).toEqual([1]);
    expect(staying.assignments()).toEqual([{ topic: 'handover', partition: 0 }]);
    await retrying.close();
  });
});
