import { decode, encode } from '../codec';
import { loadMessagingConfig } from '../messaging.config';
import { deadLetterTopic, InvalidMessageError } from '../message-bus.port';
import { messageBusContract } from '../testing/message-bus.contract';
import { gate, waitFor } from '@ledger/contracts/testing';
import { InProcessBus, inProcessBusOptions, type BusLogger } from './in-process-bus';

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

  it('whenHandled: resolves once each group with a live consumer committed what was published so far (dead-lettered counts), not waiting for a group that left', async () => {
    const held = gate();
    let handledAt = 0;
    const slow = await bus.subscribe({ topics: ['t.handled'], groupId: 'slow', maxAttempts: 1, handler: async (message) => {
      await held.promise;
      if (message.key === 'poison') throw new Error('poison');
      handledAt++;
    } });
    const gone = await bus.subscribe({ topics: ['t.handled'], groupId: 'gone', handler: async () => undefined });
    await gone.stop();
    await bus.publish('t.handled', [{ key: 'a', value: encode({ n: 1 }), partition: 0 }, { key: 'poison', value: encode({ n: 2 }), partition: 1 }]);
    let resolved = false;
    const waiting = bus.whenHandled('t.handled').then(() => (resolved = true));
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toBe(false);
    held.open();
    await waiting;
    expect(handledAt).toBe(1);
    await slow.stop();
    await bus.publish('t.handled', [{ key: 'b', value: encode({ n: 3 }) }]);
    await bus.whenHandled('t.handled'); // no live consumer: nothing to wait for
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
