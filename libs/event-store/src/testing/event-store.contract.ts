// The contract every event store adapter passes (DESIGN.md §2). Cases assume nothing about data
// already in the store: they use fresh stream ids and positions relative to the head at start.
import { GENESIS_HASH, uuidv7, type RecordedEvent } from '@ledger/contracts';
import {
  DuplicateEventIdError,
  EventStoreClosedError,
  expectedState as expected,
  WrongExpectedVersionError,
  type AppendResult,
  type EventStore,
  type Subscription,
} from '../event-store.port';
import { chainHash, verifyChain } from '../hash-chain';
import { newEvent, newEvents, uniqueStreamId } from './test-events';
import { waitFor } from '@ledger/contracts/testing';

export interface EventStoreUnderTest {
  readonly store: EventStore;
  /** Closes the store (it may already be closed) and removes whatever the factory created. */
  readonly cleanup: () => Promise<void>;
}

const WAIT_MS = 10_000;

export function eventStoreContract(name: string, factory: () => Promise<EventStoreUnderTest>): void {
  describe(`${name}: event store contract`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;
    const subscriptions: Subscription[] = [];

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
    });

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((subscription) => subscription.stop()));
      await cleanup();
    });

    /** Subscribes and collects what the handler receives; stopped after the test. */
    function collect(options: Parameters<EventStore['subscribe']>[1] = {}, onEvent?: (event: RecordedEvent) => Promise<void> | void) {
      const received: RecordedEvent[] = [];
      const subscription = store.subscribe(async (event) => {
        received.push(event);
        await onEvent?.(event);
      }, options);
      subscriptions.push(subscription);
      return { received, subscription };
    }

    async function conflictOf(append: Promise<unknown>): Promise<WrongExpectedVersionError> {
      const error = await append.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      if (!(error instanceof WrongExpectedVersionError)) throw new Error(`expected WrongExpectedVersionError, got ${String(error)}`);
      return error;
    }

    describe('expected state', () => {
      it('no_stream: appends to a new stream, refuses an existing one', async () => {
        const streamId = uniqueStreamId();
        const result = await store.append(streamId, newEvents(2), expected.noStream);
        expect(result.nextExpectedRevision).toBe(1n);

        const error = await conflictOf(store.append(streamId, newEvents(1), expected.noStream));
        expect(error).toMatchObject({ name: 'WrongExpectedVersionError', streamId, expected: expected.noStream, actualRevision: 1n });
        expect(error.message).toContain(streamId);
      });

      it('exists: refuses a missing stream, appends to an existing one', async () => {
        const streamId = uniqueStreamId();
        const error = await conflictOf(store.append(streamId, newEvents(1), expected.exists));
        expect(error).toMatchObject({ streamId, expected: expected.exists, actualRevision: undefined });
        expect(await store.streamRevision(streamId)).toBeUndefined();

        await store.append(streamId, newEvents(1), expected.noStream);
        const result = await store.append(streamId, newEvents(2), expected.exists);
        expect(result.nextExpectedRevision).toBe(2n);
      });

      it('any: appends whether or not the stream exists', async () => {
        const streamId = uniqueStreamId();
        expect((await store.append(streamId, newEvents(1), expected.any)).nextExpectedRevision).toBe(0n);
        expect((await store.append(streamId, newEvents(1), expected.any)).nextExpectedRevision).toBe(1n);
      });

      it('revision: appends only when the last revision matches', async () => {
        const streamId = uniqueStreamId();
        const missing = await conflictOf(store.append(streamId, newEvents(1), expected.revision(0n)));
        expect(missing).toMatchObject({ streamId, expected: expected.revision(0n), actualRevision: undefined });

        await store.append(streamId, newEvents(3), expected.noStream);
        const behind = await conflictOf(store.append(streamId, newEvents(1), expected.revision(1n)));
        expect(behind).toMatchObject({ streamId, expected: expected.revision(1n), actualRevision: 2n });
        const ahead = await conflictOf(store.append(streamId, newEvents(1), expected.revision(3n)));
        expect(ahead).toMatchObject({ expected: expected.revision(3n), actualRevision: 2n });

        const result = await store.append(streamId, newEvents(2), expected.revision(2n));
        expect(result.nextExpectedRevision).toBe(4n);
      });

      it('revision -1 (what an append to a missing stream returns) expects no stream; below -1 is refused', async () => {
        const streamId = uniqueStreamId();
        const { nextExpectedRevision } = await store.append(streamId, [], expected.any);
        expect(nextExpectedRevision).toBe(-1n);
        await store.append(streamId, newEvents(1), expected.revision(nextExpectedRevision));
        const conflict = await conflictOf(store.append(streamId, newEvents(1), expected.revision(-1n)));
        expect(conflict).toMatchObject({ expected: expected.revision(-1n), actualRevision: 0n });
        await expect(store.append(streamId, newEvents(1), expected.revision(-2n))).rejects.toThrow(RangeError);
        expect(await store.streamRevision(streamId)).toBe(0n);
      });

      it('returns the revision and global position of the last event appended', async () => {
        const streamId = uniqueStreamId();
        const result = await store.append(streamId, newEvents(3), expected.noStream);
        const events = await store.readStream(streamId);
        expect(result).toEqual({ nextExpectedRevision: 2n, position: events[2].position });
        expect(await store.streamRevision(streamId)).toBe(2n);
        expect(await store.headPosition()).toBe(result.position);
      });

      it('an empty append only checks the expectation', async () => {
        const streamId = uniqueStreamId();
        const head = await store.headPosition();
        expect(await store.append(streamId, [], expected.noStream)).toEqual({ nextExpectedRevision: -1n, position: head });
        await conflictOf(store.append(streamId, [], expected.exists));
        expect(await store.streamRevision(streamId)).toBeUndefined();

        await store.append(streamId, newEvents(2), expected.noStream);
        expect((await store.append(streamId, [], expected.revision(1n))).nextExpectedRevision).toBe(1n);
        await conflictOf(store.append(streamId, [], expected.revision(0n)));
        expect(await store.readStream(streamId)).toHaveLength(2);
      });
    });

    describe('a conflicting append', () => {
      it('changes nothing and leaves the stream appendable at the right revision', async () => {
        const streamId = uniqueStreamId();
        await store.append(streamId, newEvents(3), expected.noStream);
        const before = await store.readStream(streamId);
        const headBefore = await store.headPosition();

        const rejected = newEvents(2);
        for (let attempt = 0; attempt < 3; attempt++) {
          await conflictOf(store.append(streamId, rejected, expected.revision(1n)));
          await conflictOf(store.append(streamId, rejected, expected.noStream));
        }
        expect(await store.readStream(streamId)).toEqual(before);
        expect(await store.streamRevision(streamId)).toBe(2n);
        expect(await store.headPosition()).toBe(headBefore);

        // The stream is not stuck: the writer that re-read revision 2 appends, even the same events.
        const result = await store.append(streamId, rejected, expected.revision(2n));
        expect(result).toEqual({ nextExpectedRevision: 4n, position: headBefore + 2n });
        expect((await store.append(streamId, newEvents(1), expected.any)).nextExpectedRevision).toBe(5n);
        const after = await store.readStream(streamId);
        expect(after.map((event) => event.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
        expect(after.slice(3, 5).map((event) => event.eventId)).toEqual(rejected.map((event) => event.eventId));
        expect(verifyChain(after)).toBeUndefined();
      });
    });

    describe('a batch', () => {
      it('is written whole or not at all: a duplicate event id in the store writes none', async () => {
        const streamId = uniqueStreamId();
        const [stored] = newEvents(1);
        await store.append(uniqueStreamId(), [stored], expected.noStream);
        await store.append(streamId, newEvents(1), expected.noStream);
        const headBefore = await store.headPosition();

        const batch = [newEvent({ n: 0 }), newEvent({ n: 1 }), newEvent({ n: 2 }, { eventId: stored.eventId }), newEvent({ n: 3 })];
        const error = await store.append(streamId, batch, expected.any).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(DuplicateEventIdError);
        expect(error).toMatchObject({ streamId, eventId: stored.eventId });

        expect(await store.readStream(streamId)).toHaveLength(1);
        expect(await store.streamRevision(streamId)).toBe(0n);
        expect(await store.headPosition()).toBe(headBefore);
        // None of the batch's other ids were taken, and the stream goes on at revision 1.
        const result = await store.append(streamId, [batch[0], batch[1], batch[3]], expected.revision(0n));
        expect(result).toEqual({ nextExpectedRevision: 3n, position: headBefore + 3n });
      });

      it('with the same event id twice writes none', async () => {
        const streamId = uniqueStreamId();
        const first = newEvent();
        const error = await store.append(streamId, [first, newEvent(), newEvent({}, { eventId: first.eventId })], expected.noStream).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(DuplicateEventIdError);
        expect(await store.streamRevision(streamId)).toBeUndefined();
        await store.append(streamId, [first], expected.noStream);
      });

      it('is read back exactly as appended, with its store fields', async () => {
        const streamId = uniqueStreamId();
        const withKey = newEvent({ amount: '1050', nested: { b: [1, 'two', null, true], a: -0.5 } });
        const appended = [
          { ...withKey, metadata: { ...withKey.metadata, idempotencyKey: 'caller:key-1' } },
          newEvent({ unicode: 'é ✓ 💳' }, { type: 'test.Other.v2', schemaVersion: 2 }),
        ];
        await store.append(streamId, appended, expected.noStream);
        const read = await store.readStream(streamId);
        expect(read).toHaveLength(2);
        read.forEach((event, index) => {
          const { metadata, ...envelope } = appended[index];
          expect(event).toMatchObject({ ...envelope, metadata, streamId, revision: BigInt(index) });
          expect(typeof event.position).toBe('bigint');
          expect(new Date(event.recordedAt).toISOString()).toBe(event.recordedAt);
        });
        expect(read[1].metadata).not.toHaveProperty('idempotencyKey');
      });
    });

    describe('many streams in one commit (appendMany)', () => {
      it('writes every request in order, as separate appends would, with contiguous positions and chains', async () => {
        const [a, b] = [uniqueStreamId(), uniqueStreamId()];
        await store.append(b, newEvents(1), expected.noStream);
        const headBefore = await store.headPosition();
        const outcomes = await store.appendMany([
          { streamId: a, events: newEvents(2), expected: expected.noStream },
          { streamId: b, events: newEvents(1), expected: expected.revision(0n) },
          { streamId: a, events: newEvents(1), expected: expected.revision(1n) },
        ]);
        expect(outcomes).toEqual([
          { ok: true, result: { nextExpectedRevision: 1n, position: headBefore + 2n } },
          { ok: true, result: { nextExpectedRevision: 1n, position: headBefore + 3n } },
          { ok: true, result: { nextExpectedRevision: 2n, position: headBefore + 4n } },
        ]);
        expect((await store.readStream(a)).map((event) => event.position)).toEqual([headBefore + 1n, headBefore + 2n, headBefore + 4n]);
        expect(verifyChain(await store.readStream(a))).toBeUndefined();
        expect(verifyChain(await store.readStream(b))).toBeUndefined();
      });

      it('fails only the request whose expectation fails, and writes the others', async () => {
        const [taken, fresh, other] = [uniqueStreamId(), uniqueStreamId(), uniqueStreamId()];
        await store.append(taken, newEvents(1), expected.noStream);
        const outcomes = await store.appendMany([
          { streamId: fresh, events: newEvents(1), expected: expected.noStream },
          { streamId: taken, events: newEvents(2), expected: expected.noStream },
          { streamId: other, events: newEvents(1), expected: expected.noStream },
        ]);
        expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, false, true]);
        const failed = outcomes[1];
        expect(!failed.ok && failed.error).toBeInstanceOf(WrongExpectedVersionError);
        expect(!failed.ok && failed.error).toMatchObject({ streamId: taken, expected: expected.noStream, actualRevision: 0n });
        expect(await store.streamRevision(taken)).toBe(0n);
        expect(await store.streamRevision(fresh)).toBe(0n);
        expect(await store.streamRevision(other)).toBe(0n);
      });

      it('fails only the request with a taken event id: none of its events are written', async () => {
        const [first, second] = [uniqueStreamId(), uniqueStreamId()];
        const [stored] = newEvents(1);
        await store.append(uniqueStreamId(), [stored], expected.noStream);
        const outcomes = await store.appendMany([
          { streamId: first, events: [newEvent(), newEvent({}, { eventId: stored.eventId })], expected: expected.any },
          { streamId: second, events: newEvents(2), expected: expected.any },
        ]);
        expect(!outcomes[0].ok && outcomes[0].error).toBeInstanceOf(DuplicateEventIdError);
        expect(outcomes[1].ok).toBe(true);
        expect(await store.streamRevision(first)).toBeUndefined();
        expect(await store.readStream(second)).toHaveLength(2);
      });

      it('fails only the request with an event id twice, in itself or in an earlier request', async () => {
        const [twice, later, fine] = [uniqueStreamId(), uniqueStreamId(), uniqueStreamId()];
        const [repeated, shared] = [newEvent(), newEvent()];
        const outcomes = await store.appendMany([
          { streamId: twice, events: [repeated, newEvent(), repeated], expected: expected.any },
          { streamId: fine, events: [shared], expected: expected.noStream },
          { streamId: later, events: [newEvent(), shared], expected: expected.any },
        ]);
        expect(outcomes.map((outcome) => outcome.ok)).toEqual([false, true, false]);
        expect(!outcomes[0].ok && outcomes[0].error).toMatchObject({ name: 'DuplicateEventIdError', streamId: twice, eventId: repeated.eventId });
        expect(!outcomes[2].ok && outcomes[2].error).toMatchObject({ name: 'DuplicateEventIdError', streamId: later, eventId: shared.eventId });
        expect(!outcomes[0].ok && outcomes[0].error).toBeInstanceOf(DuplicateEventIdError);
        expect(await store.streamRevision(twice)).toBeUndefined();
        expect(await store.streamRevision(later)).toBeUndefined();
        expect(await store.readStream(fine)).toHaveLength(1);
      });

      it('wakes subscriptions, and an empty list writes nothing', async () => {
        expect(await store.appendMany([])).toEqual([]);
        const headBefore = await store.headPosition();
        const { received } = collect({ afterPosition: headBefore });
        const streams = [uniqueStreamId(), uniqueStreamId()];
        await store.appendMany(streams.map((streamId) => ({ streamId, events: newEvents(1), expected: expected.noStream })));
        await waitFor('both appends delivered', () => received.length >= 2, { timeoutMs: WAIT_MS });
        expect(received.map((event) => event.streamId)).toEqual(streams);
      });

      it('refuses a bad request before writing anything', async () => {
        const streamId = uniqueStreamId();
        const error = await store
          .appendMany([
            { streamId, events: newEvents(1), expected: expected.noStream },
            { streamId: '', events: newEvents(1), expected: expected.noStream },
          ])
          .catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(RangeError);
        expect(await store.streamRevision(streamId)).toBeUndefined();
      });
    });

    describe('reading a stream', () => {
      it('reads from a revision, at most maxCount events', async () => {
        const streamId = uniqueStreamId();
        await store.append(streamId, newEvents(5), expected.noStream);
        await store.append(streamId, newEvents(5, (n) => ({ later: n })), expected.revision(4n));

        expect((await store.readStream(streamId)).map((event) => event.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
        expect((await store.readStream(streamId, { fromRevision: 4n, maxCount: 3 })).map((event) => event.revision)).toEqual([4n, 5n, 6n]);
        expect((await store.readStream(streamId, { fromRevision: 8n })).map((event) => event.revision)).toEqual([8n, 9n]);
        expect(await store.readStream(streamId, { fromRevision: 10n })).toEqual([]);
        expect(await store.readStream(streamId, { maxCount: 0 })).toEqual([]);
        expect(await store.readStream(uniqueStreamId())).toEqual([]);
        expect(await store.streamRevision(uniqueStreamId())).toBeUndefined();
      });
    });

    describe('global positions', () => {
      it('are strictly increasing and gap-free across streams', async () => {
        const head = await store.headPosition();
        const streams = [uniqueStreamId(), uniqueStreamId(), uniqueStreamId()];
        const results: AppendResult[] = [];
        for (let round = 0; round < 4; round++) {
          for (const [index, streamId] of streams.entries()) results.push(await store.append(streamId, newEvents(index + 1), expected.any));
        }
        const all = await store.readAll({ afterPosition: head });
        expect(all.map((event) => event.position)).toEqual(Array.from({ length: 24 }, (_, index) => head + 1n + BigInt(index)));
        expect(await store.headPosition()).toBe(head + 24n);
        // Each append's result names the position of its last event.
        for (const result of results) expect(all.find((event) => event.position === result.position)).toBeDefined();
        for (const streamId of streams) {
          const positions = all.filter((event) => event.streamId === streamId).map((event) => event.position);
          expect(positions).toEqual((await store.readStream(streamId)).map((event) => event.position));
        }
      });
    });

    describe('reading all', () => {
      it('filters by stream prefix and pages with afterPosition and maxCount', async () => {
        const head = await store.headPosition();
        const run = uuidv7.next();
        const p = (suffix: string) => `${run}-${suffix}`;
        // Prefixes with LIKE and GLOB wildcards must match literally.
        const streams = [p('card-1'), p('cards-2'), p('ledger-0'), p('user-%1'), p('user_2'), p('user-*'), p('car')];
        for (let round = 0; round < 3; round++) {
          for (const streamId of streams) await store.append(streamId, newEvents(1, () => ({ round })), expected.any);
        }
        const all = await store.readAll({ afterPosition: head });
        expect(all).toHaveLength(21);

        const streamsOf = (events: RecordedEvent[]) => [...new Set(events.map((event) => event.streamId))].sort();
        expect(streamsOf(await store.readAll({ afterPosition: head, streamPrefixes: [p('card')] }))).toEqual([p('card-1'), p('cards-2')]);
        expect(streamsOf(await store.readAll({ afterPosition: head, streamPrefixes: [p('user-%')] }))).toEqual([p('user-%1')]);
        expect(streamsOf(await store.readAll({ afterPosition: head, streamPrefixes: [p('user-*')] }))).toEqual([p('user-*')]);
        expect(streamsOf(await store.readAll({ afterPosition: head, streamPrefixes: [p('user_')] }))).toEqual([p('user_2')]);
        const twoPrefixes = await store.readAll({ afterPosition: head, streamPrefixes: [p('ledger-'), p('cards-')] });
        expect(streamsOf(twoPrefixes)).toEqual([p('cards-2'), p('ledger-0')]);
        expect(twoPrefixes.map((event) => event.position)).toEqual(
          all.filter((event) => event.streamId === p('ledger-0') || event.streamId === p('cards-2')).map((event) => event.position),
        );
        expect(await store.readAll({ afterPosition: head, streamPrefixes: [`${run}-nothing`] })).toEqual([]);

        // Paging, with and without a filter, returns every event once, in order.
        for (const streamPrefixes of [undefined, [p('user')]]) {
          const paged: RecordedEvent[] = [];
          let after = head;
          for (;;) {
            const page = await store.readAll({ afterPosition: after, maxCount: 4, streamPrefixes });
            expect(page.length).toBeLessThanOrEqual(4);
            if (page.length === 0) break;
            paged.push(...page);
            after = page[page.length - 1].position;
          }
          const wanted = streamPrefixes === undefined ? all : all.filter((event) => event.streamId.startsWith(p('user')));
          expect(paged).toEqual(wanted);
        }
        expect(await store.readAll({ afterPosition: head + 20n })).toEqual([all[20]]);
      });

      it('refuses an empty prefix list', async () => {
        await expect(store.readAll({ streamPrefixes: [] })).rejects.toThrow(RangeError);
      });
    });

    describe('appenders in flight at once', () => {
      it('with "any" all succeed, on the same and on different streams', async () => {
        const shared = uniqueStreamId();
        const others = Array.from({ length: 8 }, () => uniqueStreamId());
        const appends = Array.from({ length: 64 }, (_, index) =>
          store.append(index % 2 === 0 ? shared : others[index % others.length], newEvents(1 + (index % 3)), expected.any),
        );
        const results = await Promise.all(appends);
        expect(results).toHaveLength(64);

        const sharedEvents = await store.readStream(shared);
        const sharedCount = Array.from({ length: 64 }, (_, index) => index).filter((index) => index % 2 === 0).reduce((sum, index) => sum + 1 + (index % 3), 0);
        expect(sharedEvents.map((event) => event.revision)).toEqual(Array.from({ length: sharedCount }, (_, index) => BigInt(index)));
        expect(verifyChain(sharedEvents)).toBeUndefined();
        for (const streamId of others) expect(verifyChain(await store.readStream(streamId))).toBeUndefined();
        expect(new Set(results.map((result) => result.position)).size).toBe(64);
      });

      it('with the same expected revision exactly one wins; the others get WrongExpectedVersionError', async () => {
        const streamId = uniqueStreamId();
        await store.append(streamId, newEvents(1), expected.noStream);
        const outcomes = await Promise.allSettled(Array.from({ length: 64 }, () => store.append(streamId, newEvents(2), expected.revision(0n))));
        const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        const lost = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(63);
        for (const reason of lost) expect(reason).toBeInstanceOf(WrongExpectedVersionError);
        expect(await store.streamRevision(streamId)).toBe(2n);
      });

      it('racing writers that re-read on conflict all get their appends in, in a gap-free chain', async () => {
        const streamId = uniqueStreamId();
        const writers = 8;
        const appendsPerWriter = 8;
        let conflicts = 0;
        const writer = async (id: number) => {
          for (let done = 0; done < appendsPerWriter; ) {
            const revision = await store.streamRevision(streamId);
            const expectation = revision === undefined ? expected.noStream : expected.revision(revision);
            try {
              await store.append(streamId, newEvents(1, () => ({ writer: id, done })), expectation);
              done++;
            } catch (error) {
              if (!(error instanceof WrongExpectedVersionError)) throw error;
              conflicts++;
            }
            await new Promise((resolve) => setImmediate(resolve));
          }
        };
        await Promise.all(Array.from({ length: writers }, (_, id) => writer(id)));
        const events = await store.readStream(streamId);
        expect(events).toHaveLength(writers * appendsPerWriter);
        expect(verifyChain(events)).toBeUndefined();
        expect(conflicts).toBeGreaterThan(0); // the writers did race
      });
    });

    describe('a subscription', () => {
      it('delivers every event exactly once, in order, across the catch-up to live switch under concurrent appends', async () => {
        const head = await store.headPosition();
        const initial = 300;
        const concurrent = 300;
        for (let batch = 0; batch < initial / 30; batch++) await store.append(uniqueStreamId('before'), newEvents(30), expected.noStream);

        let inHandler = 0;
        let maxInHandler = 0;
        const { received, subscription } = collect({ afterPosition: head }, async () => {
          inHandler++;
          maxInHandler = Math.max(maxInHandler, inHandler);
          await new Promise((resolve) => setImmediate(resolve));
          inHandler--;
        });

        // Four writers append while the subscription catches up and goes live.
        const writer = async (id: number) => {
          const streamId = uniqueStreamId(`live-${id}`);
          for (let appended = 0; appended < concurrent / 4; appended += 5) {
            await store.append(streamId, newEvents(5), expected.any);
            await new Promise((resolve) => setImmediate(resolve));
          }
        };
        await Promise.all([0, 1, 2, 3].map(writer));
        await waitFor('every event delivered', () => received.length >= initial + concurrent, { timeoutMs: WAIT_MS });

        expect(received.map((event) => event.position)).toEqual(Array.from({ length: initial + concurrent }, (_, index) => head + 1n + BigInt(index)));
        expect(maxInHandler).toBe(1);
        expect(subscription.lastPosition()).toBe(head + BigInt(initial + concurrent));

        // Still live after the burst: one more append arrives, once.
        const late = await store.append(uniqueStreamId(), newEvents(1), expected.noStream);
        await waitFor('the late event', () => received.length === initial + concurrent + 1, { timeoutMs: WAIT_MS });
        expect(received[received.length - 1].position).toBe(late.position);
      });

      it('starts after the given position and filters by stream prefix', async () => {
        const head = await store.headPosition();
        const run = uuidv7.next();
        for (let index = 0; index < 10; index++) await store.append(`${run}-${index % 2 === 0 ? 'even' : 'odd'}`, newEvents(1), expected.any);

        const fromMiddle = collect({ afterPosition: head + 5n });
        const oddOnly = collect({ afterPosition: head, streamPrefixes: [`${run}-odd`] });
        expect(fromMiddle.subscription.lastPosition()).toBe(0n);
        await waitFor('both subscriptions caught up', () => fromMiddle.received.length === 5 && oddOnly.received.length === 5, { timeoutMs: WAIT_MS });
        expect(fromMiddle.received.map((event) => event.position)).toEqual([6n, 7n, 8n, 9n, 10n].map((offset) => head + offset));
        expect(oddOnly.received.map((event) => event.position)).toEqual([2n, 4n, 6n, 8n, 10n].map((offset) => head + offset));

        await store.append(`${run}-even`, newEvents(1), expected.any);
        await store.append(`${run}-odd`, newEvents(1), expected.any);
        await waitFor('live events', () => fromMiddle.received.length === 7 && oddOnly.received.length === 6, { timeoutMs: WAIT_MS });
        expect(oddOnly.received[5].position).toBe(head + 12n);
        expect(oddOnly.subscription.lastPosition()).toBe(head + 12n);
      });

      it('stops cleanly: stop() waits for the handler in flight, and no event is handed over after it', async () => {
        const head = await store.headPosition();
        const streamId = uniqueStreamId();
        await store.append(streamId, newEvents(3), expected.noStream);
        let release: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let finished = 0;
        const { received, subscription } = collect({ afterPosition: head }, async () => {
          await gate;
          finished++;
        });
        await waitFor('the first event in the handler', () => received.length === 1, { timeoutMs: WAIT_MS });
        const stopped = subscription.stop();
        release();
        await stopped;
        expect(finished).toBe(1);
        await expect(subscription.closed).resolves.toBeUndefined();

        await store.append(streamId, newEvents(2), expected.any);
        const probe = collect({ afterPosition: head });
        await waitFor('a second subscription sees all', () => probe.received.length === 5, { timeoutMs: WAIT_MS });
        expect(received).toHaveLength(1);
      });

      it('stops when its handler throws: closed rejects with that error', async () => {
        const streamId = uniqueStreamId();
        const head = await store.headPosition();
        await store.append(streamId, newEvents(3), expected.noStream);
        const failure = new Error('projection broke');
        const { received, subscription } = collect({ afterPosition: head }, (event) => {
          if (event.revision === 1n) throw failure;
        });
        await expect(subscription.closed).rejects.toBe(failure);
        expect(received.map((event) => event.revision)).toEqual([0n, 1n]);
        expect(subscription.lastPosition()).toBe(received[0].position);
        await store.append(streamId, newEvents(1), expected.any);
        await subscription.stop();
        expect(received).toHaveLength(2);
      });
    });

    describe('the hash chain', () => {
      it('starts at GENESIS_HASH, links every event, and each batch continues the previous one', async () => {
        const streamId = uniqueStreamId();
        const other = uniqueStreamId();
        await store.append(streamId, newEvents(3), expected.noStream);
        await store.append(other, newEvents(2), expected.noStream);
        await store.append(streamId, newEvents(1), expected.revision(2n));
        await store.append(streamId, newEvents(4), expected.any);

        const events = await store.readStream(streamId);
        expect(events).toHaveLength(8);
        expect(events[0].metadata.prevHash).toBe(GENESIS_HASH);
        expect(verifyChain(events)).toBeUndefined();
        for (let index = 1; index < events.length; index++) expect(events[index].metadata.prevHash).toBe(events[index - 1].metadata.hash);
        for (const event of events) expect(event.metadata.hash).toBe(chainHash(event.metadata.prevHash, event));
        // Every stream has its own chain.
        const otherEvents = await store.readStream(other);
        expect(otherEvents[0].metadata.prevHash).toBe(GENESIS_HASH);
        expect(verifyChain(otherEvents)).toBeUndefined();
        // A chain read from the middle verifies from the hash before it.
        expect(verifyChain(events.slice(4), events[3].metadata.hash)).toBeUndefined();
      });

      it('reads back every string as given, NUL and 4-byte characters included, with the chain intact', async () => {
        const streamId = `${uniqueStreamId()}-\u0000-\u{1F4B3}`;
        const event = newEvent({ text: 'a\u0000b \u{1F4B3}', lone: '\uD800' }, { eventId: `${uuidv7.next()}\u0000\u{1F4B3}`, type: 'test.\u{1F4B3}\u0000.v1' });
        await store.append(streamId, [event], expected.noStream);
        const [read] = await store.readStream(streamId);
        expect(read).toMatchObject({ streamId, eventId: event.eventId, type: event.type, data: event.data });
        expect(verifyChain([read])).toBeUndefined();
        expect(await store.readAll({ afterPosition: read.position - 1n, streamPrefixes: [streamId] })).toHaveLength(1);
      });

      it('refuses a stream id, event id or type with a lone surrogate: it could not give it back (a type so read failed its hash; two such ids read back as one)', async () => {
        const streamId = uniqueStreamId();
        const headBefore = await store.headPosition();
        await expect(store.append(`${streamId}\uD800`, newEvents(1), expected.any)).rejects.toThrow(RangeError);
        await expect(store.append(streamId, [newEvent({}, { eventId: `${uuidv7.next()}\uDC00` })], expected.any)).rejects.toThrow(TypeError);
        await expect(store.append(streamId, [newEvent({}, { type: 'test.\uD800.v1' })], expected.any)).rejects.toThrow(TypeError);
        await expect(store.readAll({ streamPrefixes: [`${streamId}\uD800`] })).rejects.toThrow(RangeError);
        expect(() => store.subscribe(() => undefined, { streamPrefixes: ['\uDBFF'] })).toThrow(RangeError);
        expect(await store.headPosition()).toBe(headBefore);
        // No stream can have such an id, so reading one finds none (not the stream its replacement characters name).
        await store.append(`${streamId}\uFFFD`, newEvents(1), expected.noStream);
        expect(await store.readStream(`${streamId}\uD800`)).toEqual([]);
        expect(await store.streamRevision(`${streamId}\uDC00`)).toBeUndefined();
      });

      it('refuses data JSON would write differently from how it is hashed (a Date, a boxed string)', async () => {
        const streamId = uniqueStreamId();
        for (const data of [{ at: new Date(0) }, { name: new String('x') }]) {
          await expect(store.append(streamId, [newEvent(data as never)], expected.any)).rejects.toThrow(TypeError);
        }
        expect(await store.streamRevision(streamId)).toBeUndefined();
      });

      it('detects an edited event', async () => {
        const streamId = uniqueStreamId();
        await store.append(streamId, newEvents(3), expected.noStream);
        const events = await store.readStream(streamId);
        const edited = events.map((event, index) => (index === 1 ? { ...event, data: { n: 99 } } : event));
        expect(verifyChain(edited)).toMatchObject({ index: 1, problem: 'hash_mismatch' });
      });
    });

    describe('closing', () => {
      it('a close() called while another is under way resolves only once the store is closed', async () => {
        let settled = false;
        const pending = store.append(uniqueStreamId(), newEvents(2_000), expected.noStream).finally(() => (settled = true));
        const first = store.close();
        // It resolved at once, with the first close still waiting for the append: a caller removing the files next raced it.
        await store.close();
        expect(settled).toBe(true);
        await first;
        await expect(pending).resolves.toMatchObject({ nextExpectedRevision: 1_999n });
      });

      it('stops subscriptions, is idempotent, and later calls fail with EventStoreClosedError', async () => {
        const streamId = uniqueStreamId();
        await store.append(streamId, newEvents(1), expected.noStream);
        const { subscription } = collect();
        await store.close();
        await expect(subscription.closed).resolves.toBeUndefined();
        await store.close();

        await expect(store.append(streamId, newEvents(1), expected.any)).rejects.toBeInstanceOf(EventStoreClosedError);
        await expect(store.readStream(streamId)).rejects.toBeInstanceOf(EventStoreClosedError);
        await expect(store.readAll()).rejects.toBeInstanceOf(EventStoreClosedError);
        await expect(store.streamRevision(streamId)).rejects.toBeInstanceOf(EventStoreClosedError);
        await expect(store.headPosition()).rejects.toBeInstanceOf(EventStoreClosedError);
        expect(() => store.subscribe(() => undefined)).toThrow(EventStoreClosedError);
      });
    });
  });
}
