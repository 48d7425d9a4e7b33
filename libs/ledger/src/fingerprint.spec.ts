import fc from 'fast-check';
import type { OpenedAccountFields } from './fingerprint';
import { fingerprintOf, openAccountFingerprint, openAccountPayload } from './fingerprint';

const SEED = Number(process.env.LEDGER_PROPERTY_SEED ?? 42);

describe('openAccountFingerprint', () => {
  // Strings that need escaping, unicode and lone surrogates; and values of the wrong type, as a hand-edited event could carry.
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('w-1', 'USD', 'credit', 'a"b\\c', '\n\u0000', '\ud800'));
  const odd = fc.oneof(text, fc.constant(null), fc.constant(undefined), fc.integer(), fc.boolean());
  const fields = fc.record({
    accountId: fc.oneof(text, odd),
    currency: fc.oneof(text, odd),
    normalSide: fc.oneof(fc.constantFrom('debit', 'credit'), odd),
    flags: fc.record({ debitsMustNotExceedCredits: fc.oneof(fc.boolean(), odd), creditsMustNotExceedDebits: fc.oneof(fc.boolean(), odd) }),
    kind: fc.oneof(fc.constantFrom('wallet', 'system'), odd),
    ownerId: fc.oneof(text, fc.constant(null), odd),
  }) as unknown as fc.Arbitrary<OpenedAccountFields>;

  it('is the fingerprint of the canonical OpenAccount payload, for any fields', () => {
    const wallet: OpenedAccountFields = {
      accountId: 'w-1',
      currency: 'USD',
      normalSide: 'credit',
      flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false },
      kind: 'wallet',
      ownerId: 'u-1',
    };
    expect(openAccountFingerprint(wallet)).toBe(fingerprintOf(openAccountPayload(wallet)));
    expect(openAccountFingerprint({ ...wallet, ownerId: null })).toBe(fingerprintOf(openAccountPayload({ ...wallet, ownerId: null })));
    fc.assert(
      fc.property(fields, (each) => openAccountFingerprint(each) === fingerprintOf(openAccountPayload(each))),
      { numRuns: 2_000, seed: SEED },
    );
  });
});
