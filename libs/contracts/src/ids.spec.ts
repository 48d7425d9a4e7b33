import { idFromKey, isUuid, isUuidV7, UuidV7Generator } from './ids';

describe('UUIDv7 ids', () => {
  it('are valid v7 and sort in creation order, also within one millisecond', () => {
    const generator = new UuidV7Generator(() => 1_700_000_000_000);
    const ids = Array.from({ length: 5000 }, () => generator.next());
    ids.forEach((id) => expect(isUuidV7(id)).toBe(true));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never go backwards when the clock does', () => {
    let now = 2_000_000_000_000;
    const generator = new UuidV7Generator(() => now);
    const first = generator.next();
    now -= 10_000;
    expect(generator.next() > first).toBe(true);
  });

  it('carry the millisecond timestamp in the first 48 bits', () => {
    const ms = Date.UTC(2026, 10, 24);
    const id = new UuidV7Generator(() => ms).next();
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(ms);
  });
});

describe('idFromKey', () => {
  it('names the same thing for the same key and namespace, and different things otherwise', () => {
    const id = idFromKey('entry', 'caller-1:key-1');
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('8');
    expect(idFromKey('entry', 'caller-1:key-1')).toBe(id);
    expect(idFromKey('entry', 'caller-1:key-2')).not.toBe(id);
    expect(idFromKey('hold', 'caller-1:key-1')).not.toBe(id);
  });
});
