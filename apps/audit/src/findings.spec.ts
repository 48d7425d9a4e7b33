import type { Json, RecordedEvent } from '@ledger/contracts';
import { WITHHELD } from './card-number-filter';
import { checkChains } from './chain-check';
import { Findings, formatViolation, Progress, VIOLATIONS_KEPT_MAX } from './findings';
import type { StoreReader } from './store-reader.port';

describe('findings', () => {
  it('prints a violation with its place, and --json with bigints as digit strings', () => {
    const findings = new Findings();
    findings.violation({ check: 'chain', streamId: 'ledger-0', revision: 3n, position: 7n, message: 'hash mismatch' });
    expect(findings.toText()).toBe('VIOLATION [chain] stream=ledger-0 revision=3 position=7: hash mismatch');
    expect(findings.toJson()).toEqual({
      ok: false,
      violationCount: 1,
      violations: [{ check: 'chain', streamId: 'ledger-0', revision: '3', position: '7', message: 'hash mismatch' }],
      notes: [],
    });
    expect(formatViolation({ check: 'projection', message: 'row differs' })).toBe('VIOLATION [projection] stream=- revision=- position=-: row differs');
  });

  it("withholds a stream id that looks like a card number (an unknown PAN's authorization is routed by its free-text id)", () => {
    const findings = new Findings();
    findings.violation({ check: 'chain', streamId: 'card-auth-4111 1111 1111 1111', revision: 0n, position: 9n, message: 'hash mismatch' });
    expect(findings.toText()).toBe(`VIOLATION [chain] stream=${WITHHELD} revision=0 position=9: hash mismatch`);
    expect(JSON.stringify(findings.toJson())).not.toContain('4111');
  });

  it('keeps VIOLATIONS_KEPT_MAX violations and counts the rest', () => {
    const findings = new Findings();
    for (let i = 0; i < VIOLATIONS_KEPT_MAX + 5; i++) findings.violation({ check: 'ledger', message: `v${i}` });
    expect(findings.violations).toHaveLength(VIOLATIONS_KEPT_MAX);
    expect(findings.count).toBe(VIOLATIONS_KEPT_MAX + 5);
    expect(findings.toText()).toMatch(/\.\.\. and 5 more violations$/);
  });

  it("absorbs another's violations after its own, counting the ones the other did not keep", () => {
    const findings = new Findings();
    findings.violation({ check: 'ledger', message: 'own' });
    findings.absorb([{ check: 'projection', message: 'kept' }], 3);
    expect(findings.violations.map((violation) => violation.message)).toEqual(['own', 'kept']);
    expect(findings.count).toBe(4);
  });
});

describe('progress', () => {
  it('says nothing during the first second, then at most once a second', () => {
    let nowMs = 0;
    const lines: string[] = [];
    const progress = new Progress((line) => lines.push(line), () => nowMs);
    for (nowMs = 0; nowMs < 1_000; nowMs += 100) progress.tick(() => `at ${nowMs}`);
    expect(lines).toEqual([]);
    for (nowMs = 1_000; nowMs <= 2_500; nowMs += 100) progress.tick(() => `at ${nowMs}`);
    expect(lines).toEqual(['[1.0 s] at 1000', '[2.0 s] at 2000']);
  });

  it('withholds card numbers from its lines too: the chain check names the stream it is on (card-auth-{authorization id})', async () => {
    const streamId = 'card-auth-4111 1111 1111 1111';
    const event: RecordedEvent = {
      eventId: 'e1', type: 'cards.AuthorizationDeclined.v1', schemaVersion: 1, data: {} as Json, streamId, revision: 0n, position: 1n, recordedAt: '2026-01-05T09:00:00.000Z',
      metadata: { correlationId: 'c', causationId: 'c', actor: 't', occurredAt: '', prevHash: '', hash: '' },
    };
    const reader: StoreReader = {
      headPosition: async () => 1n,
      readAll: async () => [],
      readStream: async (_, from) => (from === 0n ? [event] : []),
      streamIds: async (after) => (after === undefined ? [streamId] : []),
      streamHead: async () => undefined,
      streamHeads: async () => [],
      close: async () => undefined,
    };
    let nowMs = 0;
    const lines: string[] = [];
    // A second passes at every look at the clock: every tick prints.
    await checkChains(reader, new Findings(), new Progress((line) => lines.push(line), () => (nowMs += 1_000)));
    expect(lines).toEqual([expect.stringContaining(`(stream card-auth-${WITHHELD})`)]);
  });
});
