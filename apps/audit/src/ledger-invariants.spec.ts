// The ledger checks on hand-made histories: valid events come from libs/ledger's `decide`; each
// broken rule is one tampered event, reported with its place and not applied.
import type { DomainError, Json, RecordedEvent } from '@ledger/contracts';
import { decide, evolve, initialState, ledgerEventOf, openSystemAccount, rejectionEvent, type LedgerCommand, type LedgerEvent } from '@ledger/ledger';
import { entry, openWallet } from '../../wallet-ledger/src/projections/testing/ledger-history';
import type { Violation } from './findings';
import { LedgerInvariants } from './ledger-invariants';

const T0 = Date.UTC(2026, 0, 1);

/** Decides `commands` on one shard and returns the events as recorded on `ledger-{shard}`. */
function history(shard: number, commands: readonly LedgerCommand[], firstPosition = 1n): RecordedEvent[] {
  const state = initialState();
  return commands.map((command, index) => {
    const decision = decide(command, state, { nowMs: T0 + index });
    if (!decision.ok) throw new Error(`${command.type}: ${JSON.stringify(decision.error)}`);
    const [event] = decision.events;
    evolve(state, event);
    return recorded(event, shard, BigInt(index), firstPosition + BigInt(index));
  });
}

function recorded(event: LedgerEvent, shard: number, revision: bigint, position: bigint): RecordedEvent {
  return {
    eventId: `e-${position}`,
    type: event.type,
    schemaVersion: 1,
    data: event.data as unknown as Json,
    metadata: { correlationId: 'c', causationId: 'c', actor: 't', occurredAt: '', prevHash: '', hash: '' },
    streamId: `ledger-${shard}`,
    revision,
    position,
    recordedAt: new Date(T0).toISOString(),
  };
}

/** The same event with its data changed. */
function tampered(event: RecordedEvent, change: (data: Record<string, unknown>) => void): RecordedEvent {
  const data = structuredClone(event.data) as Record<string, unknown>;
  change(data);
  return { ...event, data: data as Json };
}

function check(events: readonly RecordedEvent[]): Violation[] {
  const invariants = new LedgerInvariants();
  const found: Violation[] = [];
  for (const event of events) invariants.check(event, (violation) => found.push({ check: 'ledger', ...violation }));
  return found;
}

/** The in leg the transfer saga has the destination shard 1 post for t-1 (100 from shard 0), as the writer plans it. */
function sagaInLeg(toWalletId: string, refs: { transferId: string; fromWalletId: string; toWalletId: string }): LedgerCommand {
  return entry('transfer-in:t-1', 't-1', 'transfer', 'sys:transit-from-0:USD:1', toWalletId, 100n, { ...refs, leg: 'in', sourceShard: '0' });
}

/** The reversal of t-1 on its source shard 0, as the writer plans it (the reason is the in leg's refusal). */
function sagaReversal(toWalletId: string, refs: { transferId: string; fromWalletId: string; toWalletId: string }): LedgerCommand {
  return entry('transfer-reverse:t-1', 't-1:reversal', 'reversal', 'sys:transit-to-1:USD:0', toWalletId, 100n, { ...refs, leg: 'reversal', reason: 'wallet_not_active' });
}

const FUNDING = 'sys:funding:USD:0';
const CLEARING = 'sys:card-clearing:USD:0';

const base: LedgerCommand[] = [
  openSystemAccount(FUNDING)!,
  openSystemAccount(CLEARING)!,
  openWallet('w1', 'u1'),
  openWallet('w2', 'u2'),
  entry('top-1', 'top-1', 'top_up', FUNDING, 'w1', 500n),
  { type: 'PlaceHold', idempotencyKey: 'hold-1', holdId: 'hold-1', debitAccountId: 'w1', creditAccountId: CLEARING, amount: 100n, expiresAtMs: T0 + 60_000 },
  { type: 'CaptureHold', idempotencyKey: 'capture-1', holdId: 'hold-1', amount: 60n },
];

describe('ledger invariants', () => {
  it('finds nothing wrong in a history the ledger decided', () => {
    expect(check(history(0, base))).toEqual([]);
  });

  it('reports an unbalanced entry with its place', () => {
    const events = history(0, base);
    events[4] = tampered(events[4], (data) => ((data.postings as { amount: string }[])[1].amount = '400'));
    expect(check(events)).toEqual([
      expect.objectContaining({ streamId: 'ledger-0', revision: 4n, position: 5n, message: 'entry top-1 is not balanced: USD debits 500 credits 400' }),
      // Not applied, so w1 never had the money the hold needs: reported too, not silently skipped.
      expect.objectContaining({ revision: 5n, message: expect.stringContaining('w1 overdrawn') }),
      expect.objectContaining({ revision: 6n, message: 'hold hold-1 captured but it is not open (never placed, or closed over 24 h before)' }),
    ]);
  });

  it('reports an entry that overdraws a no-overdraft account', () => {
    const events = history(0, [...base, entry('pay', 'pay', 'transfer', 'w1', 'w2', 100n)]);
    events[7] = tampered(events[7], (data) => (data.postings as { amount: string }[]).forEach((posting) => (posting.amount = '441')));
    expect(check(events)).toEqual([expect.objectContaining({ revision: 7n, message: 'entry pay overdraws no-overdraft account w1' })]);
  });

  it('reports a hold captured above what it holds, and a hold touched after it closed', () => {
    const events = history(0, base);
    const above = tampered(events[6], (data) => {
      data.capturedAmount = '150';
      data.releasedAmount = '0';
    });
    expect(check([...events.slice(0, 6), above])).toEqual([expect.objectContaining({ revision: 6n, message: 'hold hold-1 captured 150 above what it holds (100)' })]);
    const again = { ...tampered(events[6], (data) => (data.idempotencyKey = 'capture-again')), revision: 7n, position: 8n };
    expect(check([...events, again])).toEqual([expect.objectContaining({ revision: 7n, message: 'hold hold-1 captured after it closed (captured)' })]);
  });

  it("never prints a card number from evolve's own messages (a hold id is the network's free text)", () => {
    const pan = '4111 1111 1111 1111';
    const withPanHold = base.map((command) => ('holdId' in command ? { ...command, holdId: pan } : command));
    const events = history(0, withPanHold);
    // Within the hold, but captured + released no longer add up: only evolve's invariant refuses it, naming the hold.
    events[6] = tampered(events[6], (data) => (data.releasedAmount = '1'));
    const found = check(events);
    expect(found).toEqual([expect.objectContaining({ revision: 6n, message: expect.stringContaining('capture does not add up') })]);
    expect(JSON.stringify(found, (_, value) => (typeof value === 'bigint' ? value.toString() : value))).not.toContain('1111');
  });

  it('reports an event whose data is not what its type says (sealed on the chain), instead of failing the audit', () => {
    const events = history(0, base);
    const malformed: RecordedEvent[] = [
      { ...events[4], data: {} },
      { ...events[4], data: { entryId: 7, postings: 'none' } },
      { ...events[6], data: { holdId: ['h'] } },
      { ...events[0], streamId: 'card-c1', type: 'cards.AuthorizationCaptured.v1', data: { authorizationId: 42 } },
      { ...events[0], streamId: 'card-c1', type: 'cards.AuthorizationRequested.v1', data: null },
    ];
    expect(check([...events.slice(0, 4), malformed[4]])).toEqual([expect.objectContaining({ message: expect.stringContaining('its data is not what a cards.AuthorizationRequested.v1 holds') })]);
    for (const event of malformed) {
      const found = check([...events.slice(0, 4), event]);
      expect({ data: event.data, found }).toEqual({ data: event.data, found: [expect.objectContaining({ streamId: event.streamId, position: event.position })] });
    }
  });

  it("reports a hold's capture naming other accounts than the hold's (evolve moves the hold's, the projections the named ones)", () => {
    const events = history(0, [...base.slice(0, 4), entry('top-2', 'top-2', 'top_up', FUNDING, 'w2', 500n), ...base.slice(4)]);
    events[7] = tampered(events[7], (data) => (data.debitAccountId = 'w2'));
    expect(check(events)).toEqual([expect.objectContaining({ revision: 7n, message: `hold hold-1 captured naming w2 -> ${CLEARING} (USD), but it holds w1 -> ${CLEARING} (USD)` })]);
  });

  it("reports a hold event the shard's state then refuses: expired before its time, placed on a frozen wallet or for longer than a hold may run", () => {
    const placed = history(0, base.slice(0, 6));
    const hold = placed[5];
    const expiresAtMs = (hold.data as { expiresAtMs: number }).expiresAtMs;
    const stamp = (atMs: number, key: string) => ({ idempotencyKey: key, fingerprint: 'f', atMs });
    const holdData = { holdId: 'hold-1', debitAccountId: 'w1', creditAccountId: CLEARING, currency: 'USD' as const, releasedAmount: '100' };
    const expired = (atMs: number) => recorded({ type: 'ledger.HoldExpired.v1', data: { ...stamp(atMs, 'expire:hold-1'), ...holdData } }, 0, 6n, 7n);
    // The writer expires a hold only from its expiresAtMs on: an earlier expiry hands the wallet back money a card may still capture.
    expect(check([...placed, expired(expiresAtMs)])).toEqual([]);
    expect(check([...placed, expired(expiresAtMs - 1)])).toEqual([
      expect.objectContaining({ revision: 6n, message: `hold hold-1 expired at ${new Date(expiresAtMs - 1).toISOString()}, but the shard's state then refuses it (hold_not_expired)` }),
    ]);
    const frozen = history(0, [...base.slice(0, 5), { type: 'FreezeAccount', idempotencyKey: 'freeze-w1', accountId: 'w1' }]);
    const onFrozen = { ...hold, revision: 6n, position: 7n };
    expect(check([...frozen, onFrozen])).toEqual([expect.objectContaining({ revision: 6n, message: `hold hold-1 placed at ${new Date(T0 + 5).toISOString()}, but the shard's state then refuses it (wallet_not_active)` })]);
    const forever = tampered(hold, (data) => (data.expiresAtMs = (data.atMs as number) + 366 * 24 * 3_600_000));
    expect(check([...placed.slice(0, 5), forever])).toEqual([expect.objectContaining({ revision: 5n, message: expect.stringContaining("but the shard's state then refuses it (validation_failed)") })]);
  });

  it('reports an account opened otherwise than the writer opens it (a wallet without its no-overdraft flag, a "system" account no system id names), reported once', () => {
    const events = history(0, base);
    const noFlag = tampered(events[2], (data) => (data.flags = { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }));
    // Then w1, holding nothing, pays 900 out: possible once the flag is gone, so only the opening is reported.
    const overdraw = tampered(events[4], (data) => (data.postings = [
      { accountId: 'w1', side: 'debit', amount: '900', currency: 'USD' },
      { accountId: FUNDING, side: 'credit', amount: '900', currency: 'USD' },
    ]));
    expect(check([...events.slice(0, 2), noFlag, events[3], overdraw])).toEqual([
      expect.objectContaining({ revision: 2n, message: expect.stringMatching(/^account w1 opened at .*, but the shard's state then decides flags \{"debitsMustNotExceedCredits":true/) }),
    ]);
    const asSystem = tampered(events[2], (data) => Object.assign(data, { kind: 'system', normalSide: 'debit', flags: { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }, ownerId: null }));
    expect(check([...events.slice(0, 2), asSystem])).toEqual([expect.objectContaining({ revision: 2n, message: 'account w1 opened as system, but the writer opens no such account' })]);
  });

  it('reports a hold placed for another account than the card clearing one (its capture would pay a wallet)', () => {
    const events = history(0, base);
    const placed = tampered(events[5], (data) => (data.creditAccountId = 'w2'));
    expect(check([...events.slice(0, 5), placed])).toEqual([
      expect.objectContaining({ revision: 5n, message: expect.stringMatching(/^hold hold-1 placed at .*, but the shard's state then decides creditAccountId sys:card-clearing:USD:0 \(recorded w2\)$/) }),
    ]);
  });

  it('reports a ledger or card event of a schemaVersion it cannot read (a newer writer may mean anything by it), and does not apply it', () => {
    const events = history(0, base);
    const newer = { ...events[4], schemaVersion: 2 };
    const cardEvent: RecordedEvent = { ...events[0], streamId: 'card-c1', type: 'cards.CardFrozen.v1', schemaVersion: 3, data: {} };
    expect(check([...events.slice(0, 4), newer, cardEvent])).toEqual([
      expect.objectContaining({ check: 'ledger', revision: 4n, message: 'schemaVersion 2 of ledger.EntryPosted.v1: this audit reads schemaVersion 1 only' }),
      expect.objectContaining({ check: 'card', streamId: 'card-c1', message: 'schemaVersion 3 of cards.CardFrozen.v1: this audit reads schemaVersion 1 only' }),
    ]);
  });

  it('reports a reused idempotency key (evolve refuses a second outcome)', () => {
    const events = history(0, base);
    const twice = { ...tampered(events[4], (data) => (data.entryId = 'top-2')), revision: 7n, position: 8n };
    expect(check([...events, twice])).toEqual([expect.objectContaining({ revision: 7n, message: expect.stringContaining('two outcomes for idempotency key top-1') })]);
  });

  it('reports an in leg that comes before any out leg of its transfer', () => {
    const inLeg = history(1, [openSystemAccount('sys:transit-from-0:USD:1')!, openWallet('w3', 'u3'), entry('in', 't-1', 'transfer', 'sys:transit-from-0:USD:1', 'w3', 5n, { transferId: 't-1', leg: 'in' })]);
    expect(check(inLeg)).toEqual([expect.objectContaining({ check: 'transfer', streamId: 'ledger-1', revision: 2n, message: 'transfer t-1: in leg without an open out leg before it' })]);
  });

  it('reports an in leg or reversal that moves another amount than its out leg (money made in transit)', () => {
    const TO = 'sys:transit-to-1:USD:0';
    const FROM = 'sys:transit-from-0:USD:1';
    const refs = { transferId: 't-1', fromWalletId: 'w1', toWalletId: 'w3' };
    const outLeg: LedgerCommand[] = [openSystemAccount(FUNDING)!, openSystemAccount(TO)!, openWallet('w1', 'u1'), entry('top', 'top', 'top_up', FUNDING, 'w1', 500n), entry('t', 't-1', 'transfer', 'w1', TO, 100n, { ...refs, leg: 'out', destinationShard: '1' })];
    const out = history(0, outLeg);
    const landed = history(1, [openSystemAccount(FROM)!, openWallet('w3', 'u3'), sagaInLeg('w3', refs)], 6n);
    const reversed = history(0, [...outLeg, sagaReversal('w1', refs)]);
    expect(check([...out, ...landed])).toEqual([]);
    expect(check(reversed)).toEqual([]);
    const setAmount = (amount: string) => (data: Record<string, unknown>) => (data.postings as { amount: string }[]).forEach((posting) => (posting.amount = amount));
    // Each entry balances and every sum stays zero: only the transfer's two legs disagree.
    landed[2] = tampered(landed[2], setAmount('100000'));
    expect(check([...out, ...landed])).toEqual([expect.objectContaining({ check: 'transfer', streamId: 'ledger-1', revision: 2n, message: 'transfer t-1: in leg moves USD 100000, its out leg USD 100' })]);
    reversed[5] = tampered(reversed[5], setAmount('400'));
    expect(check(reversed)).toEqual([expect.objectContaining({ check: 'transfer', streamId: 'ledger-0', revision: 5n, message: 'transfer t-1: reversal leg moves USD 400, its out leg USD 100' })]);
  });

  it('reports an in leg or reversal that credits another wallet than its out leg names', () => {
    const TO = 'sys:transit-to-1:USD:0';
    const FROM = 'sys:transit-from-0:USD:1';
    const refs = { transferId: 't-1', fromWalletId: 'w1', toWalletId: 'w3' };
    const outLeg: LedgerCommand[] = [openSystemAccount(FUNDING)!, openSystemAccount(TO)!, openWallet('w1', 'u1'), openWallet('w2', 'u2'), entry('top', 'top', 'top_up', FUNDING, 'w1', 500n), entry('t', 't-1', 'transfer', 'w1', TO, 100n, { ...refs, leg: 'out', destinationShard: '1' })];
    const out = history(0, outLeg);
    const elsewhere = history(1, [openSystemAccount(FROM)!, openWallet('w4', 'u4'), sagaInLeg('w4', refs)], 7n);
    expect(check([...out, ...elsewhere])).toEqual([expect.objectContaining({ check: 'transfer', streamId: 'ledger-1', revision: 2n, message: 'transfer t-1: in leg credits w4, its out leg names w3' })]);
    const reversedToW2 = history(0, [...outLeg, sagaReversal('w2', refs)]);
    expect(check(reversedToW2)).toEqual([expect.objectContaining({ check: 'transfer', streamId: 'ledger-0', revision: 6n, message: 'transfer t-1: reversal leg credits w2, its out leg names w1' })]);
    const landed = history(1, [openSystemAccount(FROM)!, openWallet('w3', 'u3'), sagaInLeg('w3', refs)], 7n);
    expect(check([...out, ...landed])).toEqual([]);
  });

  it("reports an in leg that pays what its out leg moved to the wallet it names, but not from the transit account (a bystander pays part)", () => {
    const TO = 'sys:transit-to-1:USD:0';
    const FROM = 'sys:transit-from-0:USD:1';
    const refs = { transferId: 't-1', fromWalletId: 'w1', toWalletId: 'w3' };
    const out = history(0, [openSystemAccount(FUNDING)!, openSystemAccount(TO)!, openWallet('w1', 'u1'), entry('top', 'top', 'top_up', FUNDING, 'w1', 500n), entry('t', 't-1', 'transfer', 'w1', TO, 100n, { ...refs, leg: 'out', destinationShard: '1' })]);
    const landed = history(1, [openSystemAccount(FROM)!, openSystemAccount('sys:funding:USD:1')!, openWallet('w3', 'u3'), openWallet('w5', 'u5'), entry('top-5', 'top-5', 'top_up', 'sys:funding:USD:1', 'w5', 50n), sagaInLeg('w3', refs)], 6n);
    landed[5] = tampered(landed[5], (data) => (data.postings = [
      { accountId: FROM, side: 'debit', amount: '60', currency: 'USD' },
      { accountId: 'w5', side: 'debit', amount: '40', currency: 'USD' },
      { accountId: 'w3', side: 'credit', amount: '100', currency: 'USD' },
    ]));
    expect(check([...out, ...landed])).toEqual([expect.objectContaining({ check: 'ledger', streamId: 'ledger-1', revision: 5n, message: expect.stringContaining("but the shard's state then decides postings") })]);
  });
});

describe('ledger invariants: a refused in leg', () => {
  const TO = 'sys:transit-to-1:USD:0';
  const FROM = 'sys:transit-from-0:USD:1';
  const refs = { transferId: 't-1', fromWalletId: 'w1', toWalletId: 'w3' };
  const out = history(0, [openSystemAccount(FUNDING)!, openSystemAccount(TO)!, openWallet('w1', 'u1'), entry('top', 'top', 'top_up', FUNDING, 'w1', 500n), entry('t', 't-1', 'transfer', 'w1', TO, 100n, { ...refs, leg: 'out', destinationShard: '1' })]);
  const destination: LedgerCommand[] = [openSystemAccount(FROM)!, openWallet('w3', 'u3')];

  /** The refusal the destination's writer records for the saga's in leg on `commands`' state, as it decides it. */
  function refusal(commands: readonly LedgerCommand[]): RecordedEvent {
    const state = initialState();
    for (const event of history(1, commands)) evolve(state, ledgerEventOf(event));
    const inLeg = entry('transfer-in:t-1', 't-1', 'transfer', FROM, 'w3', 100n, { ...refs, leg: 'in', sourceShard: '0' });
    const decided = decide(inLeg, state, { nowMs: T0 });
    const error = decided.ok ? { code: 'account_frozen', message: 'forged' } : decided.error;
    const event = rejectionEvent(state, inLeg, error as DomainError, { nowMs: T0 })!;
    return recorded(event, 1, BigInt(commands.length), 6n + BigInt(commands.length));
  }

  it('accepts a refusal the state at that point gives (the destination wallet closed, or never opened)', () => {
    const closed: LedgerCommand[] = [...destination, { type: 'CloseAccount', idempotencyKey: 'close-w3', accountId: 'w3' }];
    expect(check([...out, ...history(1, closed, 6n), refusal(closed)])).toEqual([]);
    expect(check([...out, ...history(1, [openSystemAccount(FROM)!], 6n), refusal([openSystemAccount(FROM)!])])).toEqual([]);
  });

  it('reports a refusal in place of an in leg the state would have taken, or one naming another reason', () => {
    // The in leg's event replaced by a refusal (its chain recomputed): the money would only show as in flight.
    expect(check([...out, ...history(1, destination, 6n), refusal(destination)])).toEqual([
      expect.objectContaining({ check: 'transfer', streamId: 'ledger-1', revision: 2n, message: "transfer t-1: in leg refused (account_frozen), but the destination shard's state then takes it" }),
    ]);
    const closed: LedgerCommand[] = [...destination, { type: 'CloseAccount', idempotencyKey: 'close-w3', accountId: 'w3' }];
    const relabeled = tampered(refusal(closed), (data) => ((data.error as { code: string }).code = 'insufficient_funds'));
    expect(check([...out, ...history(1, closed, 6n), relabeled])).toEqual([
      expect.objectContaining({ check: 'transfer', message: expect.stringMatching(/^transfer t-1: in leg refused \(insufficient_funds\), but the destination shard's state then refuses it with /) }),
    ]);
  });
});

describe('ledger invariants: a refused reversal', () => {
  it('reports a refusal of the reversal the source shard would have taken (the money left in transit)', () => {
    const TO = 'sys:transit-to-1:USD:0';
    const FROM = 'sys:transit-from-0:USD:1';
    const refs = { transferId: 't-1', fromWalletId: 'w1', toWalletId: 'w3', destinationShard: '1' };
    const source: LedgerCommand[] = [openSystemAccount(FUNDING)!, openSystemAccount(TO)!, openWallet('w1', 'u1'), entry('top', 'top', 'top_up', FUNDING, 'w1', 500n), entry('t', 't-1', 'transfer', 'w1', TO, 100n, { ...refs, leg: 'out' })];
    const out = history(0, source);
    // The destination never opened w3: its in leg is refused (recorded), as the writer decides it.
    const destination = initialState();
    const opened = history(1, [openSystemAccount(FROM)!], 6n);
    for (const event of opened) evolve(destination, ledgerEventOf(event));
    const inLeg = entry('transfer-in:t-1', 't-1', 'transfer', FROM, 'w3', 100n, { ...refs, leg: 'in', sourceShard: '0' });
    const inRefused = decide(inLeg, destination, { nowMs: T0 });
    if (inRefused.ok) throw new Error('the in leg was taken');
    const refusedIn = recorded(rejectionEvent(destination, inLeg, inRefused.error, { nowMs: T0 })!, 1, 1n, 7n);
    // Then a refusal of the reversal on the source shard, where w1 is open and takes it.
    const reversal = entry('transfer-reverse:t-1', 't-1:reversal', 'reversal', TO, 'w1', 100n, { ...refs, leg: 'reversal', reason: inRefused.error.code });
    const forged = recorded(rejectionEvent(initialState(), reversal, { code: 'wallet_not_active', message: 'forged' } as DomainError, { nowMs: T0 })!, 0, 5n, 8n);
    expect(check([...out, ...opened, refusedIn, forged])).toEqual([
      expect.objectContaining({ check: 'transfer', streamId: 'ledger-0', revision: 5n, message: "transfer t-1: reversal leg refused (wallet_not_active), but the source shard's state then takes it" }),
    ]);
  });
});

describe('ledger invariants: shards', () => {
  it('reports an account opened on a shard that does not own it', () => {
    const meta: RecordedEvent = { ...history(0, [openWallet('w1', 'u1')])[0], type: 'ledger.ShardsConfigured.v1', streamId: 'ledger-meta', data: { shards: 4 } };
    // A system account names its shard: `sys:funding:USD:2` belongs on shard 2, not 1.
    const misplaced = history(1, [openSystemAccount('sys:funding:USD:2')!], 2n);
    expect(check([meta, ...misplaced])).toEqual([expect.objectContaining({ streamId: 'ledger-1', message: 'account sys:funding:USD:2 opened on shard 1, but shard 2 owns it' })]);
    expect(check([meta, ...history(2, [openSystemAccount('sys:funding:USD:2')!], 2n)])).toEqual([]);
  });
});

describe("ledger invariants: the card-issuer's journal against the ledger", () => {
  const withCardWork: LedgerCommand[] = [
    ...base,
    { type: 'PlaceHold', idempotencyKey: 'hold-2', holdId: 'hold-2', debitAccountId: 'w1', creditAccountId: CLEARING, amount: 50n, expiresAtMs: T0 + 60_000 },
    { type: 'ReleaseHold', idempotencyKey: 'release-2', holdId: 'hold-2', amount: 20n },
    { type: 'PlaceHold', idempotencyKey: 'hold-3', holdId: 'hold-3', debitAccountId: 'w1', creditAccountId: CLEARING, amount: 10n, expiresAtMs: T0 + 10 },
    entry('refund-slot-1', 'refund-entry', 'card_refund', CLEARING, 'w1', 30n, { authorizationId: 'hold-1', refundId: 'r1' }),
    { type: 'ExpireHold', idempotencyKey: 'expire-3', holdId: 'hold-3' },
  ];
  const ledger = history(0, withCardWork);
  /** What the card-issuer records around each: the request and approval of hold-1, its capture, the reversal, the expiry and the refund. */
  const cardEvents = (): RecordedEvent[] =>
    (
      [
        { type: 'cards.AuthorizationRequested.v1', data: { authorizationId: 'hold-1', amount: '100', currency: 'USD', merchant: {}, atMs: T0, walletId: 'w1', holdTimeoutMs: null } },
        { type: 'cards.AuthorizationApproved.v1', data: { authorizationId: 'hold-1', atMs: T0 } },
        { type: 'cards.AuthorizationCaptured.v1', data: { authorizationId: 'hold-1', capturedAmount: '60', releasedAmount: '40', idempotencyKey: null, atMs: T0 } },
        { type: 'cards.AuthorizationReversed.v1', data: { authorizationId: 'hold-2', releasedAmount: '20', sequence: 1, idempotencyKey: 'net-1', ledgerKey: 'release-2', atMs: T0 } },
        { type: 'cards.AuthorizationExpired.v1', data: { authorizationId: 'hold-3', releasedAmount: '10', atMs: T0 } },
        { type: 'cards.AuthorizationRefunded.v1', data: { authorizationId: 'hold-1', refundId: 'r1', entryId: 'refund-entry', amount: '30', atMs: T0 } },
      ] as { type: string; data: Json }[]
    ).map((event, index) => ({ ...ledger[0], ...event, eventId: `card-${index}`, streamId: 'card-c1', revision: BigInt(index), position: BigInt(ledger.length + 1 + index) }));

  it('finds nothing wrong when each card event has its counterpart in the ledger', () => {
    expect(check([...ledger, ...cardEvents()])).toEqual([]);
  });

  it('reports each card event whose amount, hold or entry the ledger does not bear out', () => {
    const edits: [number, (data: Record<string, unknown>) => void, string][] = [
      // The hold the ledger placed takes another wallet's money, or another amount, than the card asked for.
      [0, (data) => (data.walletId = 'w2'), 'authorization hold-1 approved on the card for USD 100 of wallet w2, but the ledger holds USD 100 of w1'],
      [0, (data) => (data.amount = '90'), 'authorization hold-1 approved on the card for USD 90 of wallet w1, but the ledger holds USD 100 of w1'],
      [2, (data) => Object.assign(data, { capturedAmount: '10', releasedAmount: '90' }), 'authorization hold-1 captured 10 on the card, but the ledger has its hold captured for 60'],
      [2, (data) => (data.authorizationId = 'hold-2'), 'authorization hold-2 captured 60 on the card, but the ledger has its hold pending'],
      [3, (data) => (data.releasedAmount = '50'), 'authorization hold-2 reversed 50 on the card, but the ledger released no such amount of its hold by that command'],
      [3, (data) => (data.ledgerKey = 'release-9'), 'authorization hold-2 reversed 20 on the card, but the ledger released no such amount of its hold by that command'],
      [4, (data) => (data.authorizationId = 'hold-9'), 'authorization hold-9 expired on the card, but the ledger has no such hold'],
      [5, (data) => (data.amount = '300'), 'authorization hold-1 refunded 300 on the card (entry refund-entry), but the ledger credited 30 to w1 by that entry'],
      [5, (data) => (data.entryId = 'other-entry'), 'authorization hold-1 refunded 30 on the card (entry other-entry), but the ledger posted no such refund entry before it'],
    ];
    for (const [index, edit, message] of edits) {
      const events = cardEvents();
      events[index] = tampered(events[index], edit);
      // A request is checked when its approval comes.
      const at = index === 0 ? 1 : index;
      expect(check([...ledger, ...events])).toEqual([expect.objectContaining({ check: 'card', streamId: 'card-c1', revision: BigInt(at), message: expect.stringContaining(message) })]);
    }
  });

  it("reports a refund whose entry pays another wallet than the card's (the card's wallet from its CardIssued)", () => {
    const issued: RecordedEvent = { ...cardEvents()[0], type: 'cards.CardIssued.v1', revision: 0n, data: { cardId: 'c1', ownerId: 'u1', walletId: 'w1', currency: 'USD', atMs: T0 } as Json };
    const events = cardEvents().map((event) => ({ ...event, revision: event.revision + 1n }));
    const redirected = tampered(ledger[10], (data) => ((data.postings as { accountId: string; side: string }[]).find((posting) => posting.side === 'credit')!.accountId = 'w2'));
    expect(check([...ledger.slice(0, 10), redirected, ledger[11], issued, ...events])).toEqual([
      expect.objectContaining({ check: 'card', revision: 6n, message: "authorization hold-1 refunded 30 on the card (entry refund-entry), but the ledger credited 30 to w2 by that entry (the card's wallet is w1)" }),
    ]);
  });

  it("takes a refund entry's credit to the card's wallet as the refund, whatever else it credits", () => {
    const events = cardEvents();
    const [, , , , , refunded] = events;
    // The entry pays w1 30 and w2 5: the card counts w1's 30 (the card-issuer reads only its wallet's credit).
    const split = tampered(ledger[10], (data) => {
      data.postings = [
        { accountId: CLEARING, side: 'debit', amount: '35', currency: 'USD' },
        { accountId: 'w1', side: 'credit', amount: '30', currency: 'USD' },
        { accountId: 'w2', side: 'credit', amount: '5', currency: 'USD' },
      ];
    });
    expect(check([...ledger.slice(0, 10), split, ledger[11], refunded])).toEqual([]);
  });

  it('reports a card refund recorded before the ledger posted it', () => {
    const refunded = cardEvents()[5];
    expect(check([...ledger.slice(0, 10), { ...refunded, position: 11n }])).toEqual([expect.objectContaining({ check: 'card', message: expect.stringContaining('but the ledger posted no such refund entry before it') })]);
  });
});
