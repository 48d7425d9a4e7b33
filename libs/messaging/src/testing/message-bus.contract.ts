// The contract every MessageBus adapter passes (DESIGN.md §2): run it from the adapter's spec
// with `messageBusContract('name', (settings) => new Adapter(...settings))`.
import { CodecError, decode, encode } from '../codec';
import {
  BusClosedError,
  DEAD_LETTER_HEADERS,
  deadLetterTopic,
  QueueFullError,
  type BusConsumer,
  type DeliveredMessage,
  type MessageBus,
  type OutgoingMessage,
} from '../message-bus.port';
import { partitionForKey } from '../partitioner';
import { gate, waitFor } from '@ledger/contracts/testing';

/** What the suite needs the adapter to be configured with. */
export interface ContractBusSettings {
  readonly defaultPartitions: number;
  readonly maxQueueDepth: number;
  readonly maxAttempts: number;
  readonly retryBackoffMs: number;
}

export type MessageBusFactory = (settings: ContractBusSettings) => MessageBus | Promise<MessageBus>;

export interface ContractFeatures {
  /** The adapter rejects publish when consumers lag (a broker adapter may not). Default true. */
  readonly queueDepthLimit?: boolean;
}

interface Received {
  readonly consumer: BusConsumer;
  readonly received: DeliveredMessage[];
}

export function messageBusContract(name: string, factory: MessageBusFactory, features: ContractFeatures = {}): void {
  const settings: ContractBusSettings = { defaultPartitions: 4, maxQueueDepth: 50, maxAttempts: 3, retryBackoffMs: 1 };

  describe(`MessageBus contract: ${name}`, () => {
    let bus: MessageBus;
    let names = 0;
    /** Gates a test holds handlers on; all opened after the test, so a failing test cannot hang close(). */
    let gates: ReturnType<typeof gate>[] = [];
    const held = (): ReturnType<typeof gate> => {
      const created = gate();
      gates.push(created);
      return created;
    };
    /** Names unique per test, so an adapter on a shared broker starts from empty topics and groups. */
    const unique = (base: string): string => `contract.${base}.${process.pid}.${Date.now().toString(36)}.${++names}`;

    const message = (key: string, body: unknown, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
      key,
      value: encode(body),
      ...extra,
    });
    const bodyOf = (delivered: DeliveredMessage): { seq: number } => decode(delivered.value) as { seq: number };
    const seqs = (delivered: readonly DeliveredMessage[]): number[] => delivered.map((m) => bodyOf(m).seq);

    async function consume(
      topics: string | string[],
      groupId: string,
      handler: (message: DeliveredMessage) => Promise<void> | void = () => undefined,
    ): Promise<Received> {
      const received: DeliveredMessage[] = [];
      const consumer = await bus.subscribe({
        topics: typeof topics === 'string' ? [topics] : topics,
        groupId,
        handler: async (delivered) => {
          received.push(delivered);
          await handler(delivered);
        },
      });
      return { consumer, received };
    }

    /** Publishes one message, waiting while its partition is full, as a well-behaved producer does. */
    async function publishWhenRoom(topic: string, outgoing: OutgoingMessage): Promise<void> {
      await waitFor(`room in ${topic} for ${outgoing.key}`, async () => {
        try {
          await bus.publish(topic, [outgoing]);
          return true;
        } catch (error) {
          if (error instanceof QueueFullError) return false;
          throw error;
        }
      });
    }

    beforeEach(async () => {
      bus = await factory(settings);
    });

    afterEach(async () => {
      for (const opened of gates) opened.open();
      gates = [];
      await bus.close();
    });

    it('delivers keyed messages on the partition kafkajs would pick, in publish order per key', async () => {
      const topic = unique('ordering');
      await bus.createTopic(topic, 4);
      const { received } = await consume(topic, unique('group'));
      const keys = Array.from({ length: 8 }, (_, i) => `account-${i}`);
      for (let seq = 0; seq < 40; seq++) await bus.publish(topic, [message(keys[seq % keys.length], { seq })]);
      await bus.publish(
        topic,
        Array.from({ length: 40 }, (_, i) => message(keys[i % keys.length], { seq: 40 + i })),
      );

      await waitFor('80 messages', () => received.length === 80);
      for (const key of keys) {
        const ofKey = received.filter((m) => m.key === key);
        expect(new Set(ofKey.map((m) => m.partition))).toEqual(new Set([partitionForKey(key, 4)]));
        const order = seqs(ofKey);
        expect(order).toEqual([...order].sort((a, b) => a - b));
      }
      for (let partition = 0; partition < 4; partition++) {
        const offsets = received.filter((m) => m.partition === partition).map((m) => BigInt(m.offset));
        for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]);
      }
    });

    it('honours an explicit partition over the key, and refuses one that does not exist', async () => {
      const topic = unique('explicit');
      await bus.createTopic(topic, 4);
      const { received } = await consume(topic, unique('group'));
      await bus.publish(topic, [message('any-key', { seq: 1 }, { partition: 3 }), message('any-key', { seq: 2 }, { partition: 0 })]);
      await waitFor('2 messages', () => received.length === 2);
      expect(received.map((m) => [bodyOf(m).seq, m.partition]).sort()).toEqual([
        [1, 3],
        [2, 0],
      ]);
      await expect(bus.publish(topic, [message('k', { seq: 3 }, { partition: 4 })])).rejects.toThrow(/partition 4/);
      expect(await bus.partitionCount(topic)).toBe(4);
    });

    it('awaits the handler: one message at a time per partition, while other partitions go on', async () => {
      const topic = unique('await');
      await bus.createTopic(topic, 2);
      const slow = held();
      const inFlight = [0, 0];
      const maxInFlight = [0, 0];
      const { received } = await consume(topic, unique('group'), async (m) => {
        inFlight[m.partition]++;
        maxInFlight[m.partition] = Math.max(maxInFlight[m.partition], inFlight[m.partition]);
        if (m.partition === 0) await slow.promise;
        await Promise.resolve();
        inFlight[m.partition]--;
      });
      for (let seq = 0; seq < 3; seq++) {
        await bus.publish(topic, [message('p0', { seq }, { partition: 0 }), message('p1', { seq }, { partition: 1 })]);
      }

      await waitFor('partition 1 to finish while partition 0 is held', () => received.filter((m) => m.partition === 1).length === 3);
      expect(received.filter((m) => m.partition === 0)).toHaveLength(1);
      slow.open();
      await waitFor('partition 0 to finish', () => received.filter((m) => m.partition === 0).length === 3);
      expect(seqs(received.filter((m) => m.partition === 0))).toEqual([0, 1, 2]);
      expect(maxInFlight).toEqual([1, 1]);
    });

    it('hands a window of maxInFlightPerPartition messages over in order, and commits in order once they settle', async () => {
      const topic = unique('window');
      await bus.createTopic(topic, 1);
      const release = held();
      const inFlight: number[] = [];
      const consumer = await bus.subscribe({
        topics: [topic],
        groupId: unique('group'),
        maxInFlightPerPartition: 4,
        handler: async (delivered) => {
          inFlight.push(bodyOf(delivered).seq);
          await release.promise;
        },
      });
      await bus.publish(topic, Array.from({ length: 6 }, (_, seq) => message('k', { seq })));
      await waitFor('a window of 4 in flight', () => inFlight.length === 4);
      expect(inFlight).toEqual([0, 1, 2, 3]);
      release.open();
      await waitFor('the rest', () => inFlight.length === 6);
      expect(inFlight).toEqual([0, 1, 2, 3, 4, 5]);
      await consumer.stop();
      // A consumer joining the group now resumes after everything handled: nothing is delivered twice.
      const later = await consume(topic, consumer.groupId);
      await bus.publish(topic, [message('k', { seq: 6 })]);
      await waitFor('the next message', () => later.received.length === 1);
      expect(seqs(later.received)).toEqual([6]);
    });

    it('splits the partitions among the consumers of a group: every message is handled by exactly one', async () => {
      const topic = unique('split');
      const groupId = unique('group');
      await bus.createTopic(topic, 4);
      const first = await consume(topic, groupId);
      const second = await consume(topic, groupId);
      await waitFor('a stable split of 4 partitions', () => {
        const a = first.consumer.assignments().map((tp) => tp.partition);
        const b = second.consumer.assignments().map((tp) => tp.partition);
        return a.length > 0 && b.length > 0 && new Set([...a, ...b]).size === 4 && a.length + b.length === 4;
      });

      for (let seq = 0; seq < 200; seq++) await publishWhenRoom(topic, message(`key-${seq}`, { seq }));
      await waitFor('200 messages', () => first.received.length + second.received.length === 200);

      const all = [...seqs(first.received), ...seqs(second.received)];
      expect(new Set(all).size).toBe(200);
      expect(first.received.length).toBeGreaterThan(0);
      expect(second.received.length).toBeGreaterThan(0);
      for (const { consumer, received } of [first, second]) {
        const owned = new Set(consumer.assignments().map((tp) => tp.partition));
        for (const m of received) expect(owned.has(m.partition)).toBe(true);
      }
    });

    it('rebalances when a consumer leaves: the rest of the group takes over its partitions', async () => {
      const topic = unique('rebalance');
      const groupId = unique('group');
      await bus.createTopic(topic, 4);
      const stays = await consume(topic, groupId);
      const leaves = await consume(topic, groupId);
      await waitFor('a split', () => leaves.consumer.assignments().length > 0 && stays.consumer.assignments().length > 0);

      await leaves.consumer.stop();
      await waitFor('the remaining consumer to own all 4 partitions', () => stays.consumer.assignments().length === 4);
      await bus.publish(topic, Array.from({ length: 20 }, (_, seq) => message(`key-${seq}`, { seq })));
      await waitFor('20 messages on the remaining consumer', () => stays.received.length === 20);
      expect(leaves.received).toHaveLength(0);
      expect(new Set(stays.received.map((m) => m.partition)).size).toBeGreaterThan(1);
    });

    it('commits offsets: a consumer joining a group later resumes after what the group handled', async () => {
      const topic = unique('resume');
      const groupId = unique('group');
      await bus.createTopic(topic, 2);
      const before = await consume(topic, groupId);
      await bus.publish(topic, Array.from({ length: 10 }, (_, seq) => message(`key-${seq}`, { seq })));
      await waitFor('the first 10', () => before.received.length === 10);
      await before.consumer.stop();

      await bus.publish(topic, Array.from({ length: 10 }, (_, i) => message(`key-${i}`, { seq: 10 + i })));
      const after = await consume(topic, groupId);
      await waitFor('the next 10', () => after.received.length === 10);
      expect(seqs(after.received).sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    });

    it('gives every group every message', async () => {
      const topic = unique('fanout');
      await bus.createTopic(topic, 3);
      const ledger = await consume(topic, unique('ledger'));
      const projections = await consume(topic, unique('projections'));
      await bus.publish(topic, Array.from({ length: 30 }, (_, seq) => message(`key-${seq}`, { seq })));
      await waitFor('30 messages in each group', () => ledger.received.length === 30 && projections.received.length === 30);
      expect(seqs(ledger.received).sort((a, b) => a - b)).toEqual(seqs(projections.received).sort((a, b) => a - b));
    });

    it('delivers a message again when its handler throws, before any later message of its partition', async () => {
      const topic = unique('redeliver');
      await bus.createTopic(topic, 1);
      const { received } = await consume(topic, unique('group'), (m) => {
        if (bodyOf(m).seq === 0 && m.attempt < 3) throw new Error(`transient failure ${m.attempt}`);
      });
      await bus.publish(topic, [message('k', { seq: 0 }), message('k', { seq: 1 }), message('k', { seq: 2 })]);

      await waitFor('5 deliveries', () => received.length === 5);
      expect(seqs(received)).toEqual([0, 0, 0, 1, 2]);
      expect(received.map((m) => m.attempt)).toEqual([1, 2, 3, 1, 1]);
      expect(new Set(received.slice(0, 3).map((m) => m.offset)).size).toBe(1);
    });

    it('moves a message to <topic>.dlq with the error after maxAttempts, and the group moves on', async () => {
      const topic = unique('poison');
      await bus.createTopic(topic, 1);
      const dead = await consume(deadLetterTopic(topic), unique('dlq-watch'));
      const groupId = unique('group');
      const main = await consume(topic, groupId, (m) => {
        if (bodyOf(m).seq === 7) throw new Error('poison pill 7');
      });
      await bus.publish(topic, [message('card-1', { seq: 7 }, { headers: { 'trace-id': 't-1' } }), message('card-1', { seq: 8 })]);

      await waitFor('the next message to be handled', () => seqs(main.received).includes(8));
      await waitFor('the poison message in the DLQ', () => dead.received.length === 1);
      expect(seqs(main.received)).toEqual([7, 7, 7, 8]);
      const [poisoned] = main.received;
      const [dlq] = dead.received;
      expect(dlq.key).toBe('card-1');
      expect(bodyOf(dlq)).toEqual({ seq: 7 });
      expect(dlq.headers['trace-id']).toBe('t-1');
      expect(dlq.headers[DEAD_LETTER_HEADERS.error]).toContain('poison pill 7');
      expect(dlq.headers[DEAD_LETTER_HEADERS.originalTopic]).toBe(topic);
      expect(dlq.headers[DEAD_LETTER_HEADERS.originalPartition]).toBe('0');
      expect(dlq.headers[DEAD_LETTER_HEADERS.originalOffset]).toBe(poisoned.offset);
      expect(dlq.headers[DEAD_LETTER_HEADERS.groupId]).toBe(groupId);
      expect(dlq.headers[DEAD_LETTER_HEADERS.attempts]).toBe(String(settings.maxAttempts));
    });

    it('honours maxAttempts given at subscribe', async () => {
      const topic = unique('attempts');
      await bus.createTopic(topic, 1);
      const dead = await consume(deadLetterTopic(topic), unique('dlq-watch'));
      const received: number[] = [];
      await bus.subscribe({
        topics: [topic],
        groupId: unique('group'),
        maxAttempts: 1,
        handler: async (m) => {
          received.push(m.attempt);
          throw new Error('no retries here');
        },
      });
      await bus.publish(topic, [message('k', { seq: 1 })]);
      await waitFor('the DLQ', () => dead.received.length === 1);
      expect(received).toEqual([1]);
    });

    if (features.queueDepthLimit ?? true) {
      it('rejects publish with QueueFullError when a partition holds maxQueueDepth messages some group has not consumed', async () => {
        const topic = unique('backpressure');
        await bus.createTopic(topic, 1);
        const hold = held();
        const slow = await consume(topic, unique('slow'), () => hold.promise);
        const fast = await consume(topic, unique('fast'));
        for (let seq = 0; seq < settings.maxQueueDepth; seq++) await bus.publish(topic, [message('k', { seq })]);
        await waitFor('the fast group to consume everything', () => fast.received.length === settings.maxQueueDepth);

        const overflow = bus.publish(topic, [message('k', { seq: settings.maxQueueDepth })]);
        await expect(overflow).rejects.toBeInstanceOf(QueueFullError);
        await expect(bus.publish(topic, [message('k', { seq: -1 })])).rejects.toThrow(/queue full/);

        hold.open();
        await waitFor('the slow group to catch up', () => slow.received.length === settings.maxQueueDepth);
        await waitFor('room again', async () => {
          await bus.publish(topic, [message('k', { seq: settings.maxQueueDepth })]);
        });
        const both = settings.maxQueueDepth + 1;
        await waitFor('both groups to get it', () => fast.received.length === both && slow.received.length === both);
      });

      it('trims what every group committed, so far more than maxQueueDepth messages flow through', async () => {
        const topic = unique('trim');
        await bus.createTopic(topic, 1);
        const { received } = await consume(topic, unique('group'));
        const total = settings.maxQueueDepth * 6;
        for (let seq = 0; seq < total; seq++) await publishWhenRoom(topic, message('k', { seq }));
        await waitFor(`${total} messages`, () => received.length === total);
        expect(seqs(received)).toEqual(Array.from({ length: total }, (_, seq) => seq));
      });
    }

    it('refuses a bigint payload at encode, saying amounts travel as strings', () => {
      expect(() => encode({ amount: 1050n })).toThrow(CodecError);
      expect(() => encode({ amount: 1050n })).toThrow(/amounts travel as decimal strings/);
    });

    it('stop() waits for the running handler, then that consumer gets nothing more', async () => {
      const topic = unique('stop');
      await bus.createTopic(topic, 1);
      const hold = held();
      let handlerFinished = false;
      const stopping = await consume(topic, unique('group'), async () => {
        await hold.promise;
        handlerFinished = true;
      });
      const witness = await consume(topic, unique('witness'));
      await bus.publish(topic, [message('k', { seq: 1 })]);
      await waitFor('the handler to start', () => stopping.received.length === 1);

      let stopped = false;
      const stop = stopping.consumer.stop().then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      hold.open();
      await stop;
      expect(handlerFinished).toBe(true);
      expect(stopping.consumer.assignments()).toEqual([]);

      await bus.publish(topic, [message('k', { seq: 2 })]);
      await waitFor('the witness group to get the next message', () => witness.received.length === 2);
      expect(stopping.received).toHaveLength(1);
    });

    it('stop() called (not awaited) from inside a handler ends the consumer once that handler returns', async () => {
      const topic = unique('self-stop');
      await bus.createTopic(topic, 1);
      let consumer: BusConsumer | undefined;
      let stopped: Promise<void> | undefined;
      let handlerReturned = false;
      let resolvedBeforeReturn = false;
      consumer = await bus.subscribe({
        topics: [topic],
        groupId: unique('group'),
        handler: async () => {
          stopped = consumer!.stop().then(() => {
            resolvedBeforeReturn = !handlerReturned;
          });
          await new Promise((resolve) => setImmediate(resolve));
          handlerReturned = true;
        },
      });
      await bus.publish(topic, [message('k', { seq: 1 })]);
      await waitFor('the handler to stop its own consumer', () => stopped !== undefined);
      await stopped;
      expect(handlerReturned).toBe(true);
      expect(resolvedBeforeReturn).toBe(false);
      expect(consumer.assignments()).toEqual([]);
    });

    it('close() waits for running handlers, stops every consumer and refuses further use', async () => {
      const topic = unique('close');
      await bus.createTopic(topic, 1);
      const hold = held();
      let handlerFinished = false;
      const { received } = await consume(topic, unique('group'), async () => {
        await hold.promise;
        handlerFinished = true;
      });
      await bus.publish(topic, [message('k', { seq: 1 })]);
      await waitFor('the handler to start', () => received.length === 1);

      const closing = bus.close();
      expect(bus.isOpen()).toBe(false);
      hold.open();
      await closing;
      expect(handlerFinished).toBe(true);
      await expect(bus.publish(topic, [message('k', { seq: 2 })])).rejects.toBeInstanceOf(BusClosedError);
      await expect(bus.subscribe({ topics: [topic], groupId: unique('late'), handler: async () => undefined })).rejects.toBeInstanceOf(
        BusClosedError,
      );
      await expect(bus.close()).resolves.toBeUndefined();
    });
  });
}
