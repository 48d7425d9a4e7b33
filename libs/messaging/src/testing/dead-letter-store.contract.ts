// The contract every DeadLetterStore adapter passes (./../dead-letter/dead-letter-store.ts).
import { ManualClock } from '@ledger/contracts';
import type { DeadLetter, DeadLetterStore } from '../dead-letter/dead-letter-store';

export interface DeadLetterStoreFixture {
  /** A fresh store holding at most `maxMessages`, on `clock`. */
  open(maxMessages: number, clock: ManualClock): DeadLetterStore;
}

function letter(n: number, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    topic: 'ledger.events',
    partition: n % 4,
    offset: String(100 + n),
    groupId: 'card-issuer.ledger-events',
    attempts: 5,
    error: `Error: poison ${n}`,
    key: `key-${n}`,
    value: Buffer.from(JSON.stringify({ n })),
    headers: { eventId: `event-${n}`, 'dlq-error': `Error: poison ${n}` },
    ...overrides,
  };
}

export function deadLetterStoreContract(name: string, fixture: DeadLetterStoreFixture): void {
  describe(`DeadLetterStore contract: ${name}`, () => {
    let store: DeadLetterStore;
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));

    afterEach(() => store?.close());

    it('keeps each letter whole, oldest first, with when it was kept', async () => {
      store = fixture.open(10, clock);
      expect(await store.add(letter(1))).toBe(true);
      clock.advance(1_000);
      expect(await store.add(letter(2, { value: null, headers: {} }))).toBe(true);
      const [first, second] = await store.list({ limit: 10 });
      expect(first).toEqual({ ...letter(1), id: first.id, deadAt: '2026-03-01T12:00:00.000Z' });
      expect(second).toEqual({ ...letter(2, { value: null, headers: {} }), id: second.id, deadAt: '2026-03-01T12:00:01.000Z' });
      expect(second.id).toBeGreaterThan(first.id);
      expect(await store.count()).toBe(2);
    });

    it('pages by id', async () => {
      store = fixture.open(10, clock);
      for (let n = 0; n < 5; n++) await store.add(letter(n));
      const page = await store.list({ limit: 2 });
      expect(page.map((each) => each.key)).toEqual(['key-0', 'key-1']);
      const next = await store.list({ afterId: page[1].id, limit: 10 });
      expect(next.map((each) => each.key)).toEqual(['key-2', 'key-3', 'key-4']);
      await expect(store.list({ limit: 0 })).rejects.toThrow(RangeError);
    });

    it('holds at most maxMessages: the oldest are kept, a new one is refused', async () => {
      store = fixture.open(3, clock);
      for (let n = 0; n < 3; n++) expect(await store.add(letter(n))).toBe(true);
      expect(await store.add(letter(3))).toBe(false);
      expect(await store.count()).toBe(3);
      expect((await store.list({ limit: 10 })).map((each) => each.key)).toEqual(['key-0', 'key-1', 'key-2']);
    });
  });
}
