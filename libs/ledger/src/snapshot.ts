// A ledger shard's state as plain JSON and back, so a writer restarts from a snapshot plus the
// tail of its stream instead of the whole history. Maps keep their order: fold(tail) after a
// snapshot must equal fold(everything).
import { amountOf, formatAmount, type Currency } from '@ledger/contracts';
import { sumOf, type Account, type AccountKind, type AccountStatus, type Side } from './account';
import type { Hold, HoldStatus, IdempotencyRecord, LedgerShardState } from './ledger-shard';
import { indexEntry, initialState, sharedFlags } from './ledger-shard';

/** Bumped when the shape changes; a snapshot of another version is ignored (rebuilt from the stream). */
export const SNAPSHOT_FORMAT_VERSION = 2;

type AccountRow = [
  id: string,
  currency: Currency,
  normalSide: Side,
  flags: 0 | 1 | 2,
  kind: AccountKind,
  ownerId: string | null,
  status: AccountStatus,
  openedAtMs: number,
  debitsPosted: string,
  creditsPosted: string,
  debitsPending: string,
  creditsPending: string,
];

type HoldRow = [
  id: string,
  debitAccountId: string,
  creditAccountId: string,
  currency: Currency,
  placedAmount: string,
  heldAmount: string,
  capturedAmount: string,
  expiresAtMs: number,
  status: HoldStatus,
];

export interface LedgerSnapshot {
  readonly formatVersion: number;
  readonly accounts: AccountRow[];
  readonly holds: HoldRow[];
  readonly finishedHolds: [string, number][];
  /** An opened account's record is its id (see `LedgerShardState.idempotency`). */
  readonly idempotency: [string, IdempotencyRecord | string][];
}

/**
 * The snapshot in parts of at most `rowsPerPart` rows, each built only when asked for, so a
 * writer of a million accounts never holds the whole snapshot at once. Read them all before
 * changing the state again; `fromSnapshotParts` restores the state from them.
 */
export function* snapshotParts(state: LedgerShardState, rowsPerPart: number): Generator<LedgerSnapshot> {
  const part = (): { accounts: AccountRow[]; holds: HoldRow[]; finishedHolds: [string, number][]; idempotency: [string, IdempotencyRecord | string][] } => ({
    accounts: [],
    holds: [],
    finishedHolds: [],
    idempotency: [],
  });
  let current = part();
  let rows = 0;
  function* flushIfFull(): Generator<LedgerSnapshot> {
    if (++rows < rowsPerPart) return;
    yield { formatVersion: SNAPSHOT_FORMAT_VERSION, ...current };
    current = part();
    rows = 0;
  }
  for (const a of state.accounts.values()) {
    const flags = a.flags.debitsMustNotExceedCredits ? 1 : a.flags.creditsMustNotExceedDebits ? 2 : 0;
    current.accounts.push([
      a.id,
      a.currency,
      a.normalSide,
      flags,
      a.kind,
      a.ownerId,
      a.status,
      a.openedAtMs,
      formatAmount(a.debitsPosted),
      formatAmount(a.creditsPosted),
      formatAmount(a.debitsPending),
      formatAmount(a.creditsPending),
    ]);
    yield* flushIfFull();
  }
  for (const h of state.holds.values()) {
    current.holds.push([
      h.id,
      h.debitAccountId,
      h.creditAccountId,
      h.currency,
      formatAmount(h.placedAmount),
      formatAmount(h.heldAmount),
      formatAmount(h.capturedAmount),
      h.expiresAtMs,
      h.status,
    ]);
    yield* flushIfFull();
  }
  for (const entry of state.finishedHolds) {
    current.finishedHolds.push(entry);
    yield* flushIfFull();
  }
  for (const entry of state.idempotency) {
    current.idempotency.push(entry);
    yield* flushIfFull();
  }
  yield { formatVersion: SNAPSHOT_FORMAT_VERSION, ...current };
}

/**
 * The state of the snapshot whose parts (as `snapshotParts` made them) come in order, read one
 * at a time: a million-account shard is restored without its whole snapshot in memory beside it.
 */
export function fromSnapshotParts(parts: Iterable<LedgerSnapshot>): LedgerShardState {
  const state = initialState();
  for (const part of parts) restorePart(state, part);
  return state;
}

function restorePart(state: LedgerShardState, snapshot: LedgerSnapshot): void {
  if (snapshot.formatVersion !== SNAPSHOT_FORMAT_VERSION) throw new Error(`snapshot format ${snapshot.formatVersion} is not ${SNAPSHOT_FORMAT_VERSION}`);
  for (const row of snapshot.accounts) {
    const [id, currency, normalSide, flags, kind, ownerId, status, openedAtMs, dp, cp, dpe, cpe] = row;
    const account: Account = {
      id,
      currency,
      normalSide,
      flags: sharedFlags(flags === 1, flags === 2),
      kind,
      ownerId,
      status,
      openedAtMs,
      debitsPosted: sumOf(dp),
      creditsPosted: sumOf(cp),
      debitsPending: sumOf(dpe),
      creditsPending: sumOf(cpe),
    };
    state.accounts.set(id, account);
  }
  for (const row of snapshot.holds) {
    const [id, debitAccountId, creditAccountId, currency, placed, held, captured, expiresAtMs, status] = row;
    const hold: Hold = {
      id,
      debitAccountId,
      creditAccountId,
      currency,
      placedAmount: amountOf(placed),
      heldAmount: amountOf(held),
      capturedAmount: amountOf(captured),
      expiresAtMs,
      status,
    };
    state.holds.set(id, hold);
  }
  for (const [holdId, atMs] of snapshot.finishedHolds) state.finishedHolds.set(holdId, atMs);
  for (const [key, record] of snapshot.idempotency) {
    state.idempotency.set(key, record);
    indexEntry(state, key, record);
  }
}
