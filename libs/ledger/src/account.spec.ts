import { accountShard, availableBalance, hasZeroBalance, isOverdrawn, pendingBalance, postedBalance, ZERO_SUMS, type Account } from './account';
import fc from 'fast-check';
import { fnv1a32, fnv1a64Hex } from './fnv1a';

const SEED = Number(process.env.LEDGER_PROPERTY_SEED ?? 42);

const wallet: Account = {
  id: 'w',
  currency: 'USD',
  normalSide: 'credit',
  flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false },
  kind: 'wallet',
  ownerId: 'u',
  status: 'active',
  openedAtMs: 0,
  ...ZERO_SUMS,
};
const asset: Account = { ...wallet, id: 'a', normalSide: 'debit', kind: 'system', ownerId: null, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: true } };

describe('balances', () => {
  it('read a credit-normal account: posted = credits - debits, pending = debitsPending, available = posted - pending', () => {
    const account = { ...wallet, creditsPosted: 1_000n, debitsPosted: 300n, debitsPending: 200n, creditsPending: 50n };
    expect([postedBalance(account), pendingBalance(account), availableBalance(account)]).toEqual([700n, 200n, 500n]);
  });

  it('read a debit-normal account as the mirror', () => {
    const account = { ...asset, debitsPosted: 1_000n, creditsPosted: 300n, creditsPending: 200n, debitsPending: 50n };
    expect([postedBalance(account), pendingBalance(account), availableBalance(account)]).toEqual([700n, 200n, 500n]);
  });

  it('call a flagged account overdrawn when what goes out (posted and pending) exceeds what came in', () => {
    expect(isOverdrawn({ ...wallet, creditsPosted: 100n, debitsPosted: 60n, debitsPending: 40n })).toBe(false);
    expect(isOverdrawn({ ...wallet, creditsPosted: 100n, debitsPosted: 60n, debitsPending: 41n })).toBe(true);
    expect(isOverdrawn({ ...wallet, creditsPending: 1_000n, debitsPosted: 1n })).toBe(true); // pending credits do not fund
    expect(isOverdrawn({ ...asset, debitsPosted: 100n, creditsPosted: 60n, creditsPending: 41n })).toBe(true);
    expect(isOverdrawn({ ...asset, flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, creditsPosted: 5n })).toBe(false);
  });

  it('are zero when posted nets to zero and nothing is pending', () => {
    expect(hasZeroBalance({ ...wallet, debitsPosted: 5n, creditsPosted: 5n })).toBe(true);
    expect(hasZeroBalance({ ...wallet, debitsPending: 1n })).toBe(false);
    expect(hasZeroBalance({ ...wallet, creditsPosted: 1n })).toBe(false);
  });
});

describe('accountShard', () => {
  it('is FNV-1a 32 of the UTF-8 id modulo the shard count', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(accountShard('foobar', 1_000)).toBe(0xbf9cf968 % 1_000);
    expect(accountShard('sys:funding:USD:3', 1)).toBe(0);
  });

  it('spreads UUID-like ids roughly evenly', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8_000; i += 1) counts[accountShard(`0190a1b2-c3d4-7e5f-8a6b-${i.toString(16).padStart(12, '0')}`, 8)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });

  it.each([0, -1, 1.5, 4097, Number.NaN])('refuses %p shards (a configuration bug)', (shards) => {
    expect(() => accountShard('a', shards)).toThrow(RangeError);
  });
});

describe('fnv1a64Hex', () => {
  it('matches the published FNV-1a 64 vectors and a BigInt reference', () => {
    expect(fnv1a64Hex('')).toBe('cbf29ce484222325');
    expect(fnv1a64Hex('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64Hex('foobar')).toBe('85944171f73967e8');
    const reference = (text: string) => {
      let hash = 0xcbf29ce484222325n;
      for (const byte of new TextEncoder().encode(text)) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
      return hash.toString(16).padStart(16, '0');
    };
    for (const text of ['héllo €𝄞', '{"amount":"1050"}', 'x'.repeat(1_000)]) expect(fnv1a64Hex(text)).toBe(reference(text));
  });
});

describe('FNV-1a over UTF-8 encoded on the fly', () => {
  // References over TextEncoder's bytes: what the hashes are defined on (a lone surrogate is U+FFFD).
  const bytesOf = (text: string) => new TextEncoder().encode(text);
  const reference32 = (text: string) => bytesOf(text).reduce((hash, byte) => Math.imul(hash ^ byte, 0x01000193), 0x811c9dc5) >>> 0;
  const reference64 = (text: string) =>
    bytesOf(text)
      .reduce((hash, byte) => ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn, 0xcbf29ce484222325n)
      .toString(16)
      .padStart(16, '0');
  // Any UTF-16 code units: pairs, lone high and low surrogates, at the start, middle and end.
  const anyText = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd7f0, max: 0xe010 })), { maxLength: 40 }).map((codes) => String.fromCharCode(...codes)),
  );

  it('hashes the same bytes as TextEncoder, for any string', () => {
    for (const text of ['\ud800', 'a\udc00b', '\udbff\udfff', '\ud83d\ude00\ud83d', 'ß€\u07ff\u0800\uffff']) {
      expect([fnv1a32(text), fnv1a64Hex(text)]).toEqual([reference32(text), reference64(text)]);
    }
    fc.assert(
      fc.property(anyText, (text) => fnv1a32(text) === reference32(text) && fnv1a64Hex(text) === reference64(text)),
      { numRuns: 2_000, seed: SEED },
    );
  });
});
