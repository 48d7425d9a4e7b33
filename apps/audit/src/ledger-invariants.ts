// The ledger's invariants over its whole history, event by event in position order: each
// `ledger-{shard}` stream is folded with libs/ledger's own `evolve` (which asserts every
// invariant where state changes), after checks that name the broken rule in a journal's words.
// An event that breaks a rule is reported and not applied, so one bad event does not make every
// later one look wrong. Memory: the shards' states (accounts, pending holds, the idempotency
// window), never the number of events.
import { amountOf, canonicalJson, formatAmount, type Currency, type DomainError, type Json, type LedgerCommandEnvelope, type LedgerCommandMessage, type RecordedEvent } from '@ledger/contracts';
import {
  decide,
  entryError,
  evolve,
  initialState,
  LEDGER_META_STREAM,
  ledgerEventOf,
  isTransitAccountId,
  openSystemAccount,
  postingToJson,
  postingFromJson,
  type Account,
  type EntryPosted,
  type Hold,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerShardState,
  shardOf,
  type Posting,
} from '@ledger/ledger';
import { shardOfStream } from '../../wallet-ledger/src/projections/wallet-ledger.projection';
import { planCommand, transferSagaKeys } from '../../wallet-ledger/src/domain/wallet-commands';
import type { Violation } from './findings';
import { printable, withCardNumbersWithheld } from './card-number-filter';
import { CardJournal } from './card-journal';
import { unreadableSchema } from './shard-fold';

/** The card-issuer's event types, which the card journal reads. */
const CARD_EVENT_PREFIX = 'cards.';

const LEDGER_EVENT_TYPES: ReadonlySet<string> = new Set<LedgerEvent['type']>([
  'ledger.AccountOpened.v1',
  'ledger.EntryPosted.v1',
  'ledger.HoldPlaced.v1',
  'ledger.HoldCaptured.v1',
  'ledger.HoldReleased.v1',
  'ledger.HoldExpired.v1',
  'ledger.AccountFrozen.v1',
  'ledger.AccountUnfrozen.v1',
  'ledger.AccountClosed.v1',
  'ledger.CommandRejected.v1',
]);

/** Out legs of cross-shard transfers not yet landed or reversed; beyond it the oldest are forgotten (and noted). */
export const OPEN_TRANSFERS_MAX = 1_000_000;

type Report = (violation: Omit<Violation, 'check'> & { check?: Violation['check'] }) => void;

export class LedgerInvariants {
  private readonly shards = new Map<number, LedgerShardState>();
  /** Per currency: sum over every account of debits - credits, posted and pending. Zero after every event. */
  private readonly totals = new Map<Currency, { posted: bigint; pending: bigint }>();
  /** transferId -> what its out leg moved and between which wallets, until the in leg or the reversal. */
  private readonly openTransfers = new Map<string, OutLeg>();
  private forgottenTransfers = 0;
  /** LEDGER_SHARDS as recorded in `ledger-meta`, once seen. */
  private shardCount: number | undefined;
  /** The card-issuer's journal against the ledger folded so far. */
  private readonly cards = new CardJournal({
    holds: (holdId) => [...this.shards.values()].flatMap((state) => state.holds.get(holdId) ?? []),
    outcomes: (key) =>
      [...this.shards.values()].flatMap((state) => {
        const record = state.idempotency.get(key);
        return typeof record === 'object' && record.outcome.ok ? [record.outcome.event] : [];
      }),
  });

  /** Checks and applies one event of any stream (only `ledger-{shard}` streams, and the card-issuer's, are looked at). */
  check(event: RecordedEvent, report: Report): void {
    try {
      this.checkEvent(event, report);
    } catch (error) {
      // Data sealed on the chain but not of its type's shape (a field missing or of another type): the event is named, the audit goes on.
      const message = `its data is not what a ${event.type} holds (${withCardNumbersWithheld((error as Error).message)})`;
      report({ streamId: event.streamId, revision: event.revision, position: event.position, check: 'ledger', message });
    }
  }

  private checkEvent(event: RecordedEvent, report: Report): void {
    const shard = shardOfStream(event.streamId);
    if (event.streamId === LEDGER_META_STREAM && event.type === 'ledger.ShardsConfigured.v1') {
      const shards = (event.data as { shards?: unknown }).shards;
      if (typeof shards === 'number') this.shardCount ??= shards;
    }
    const place = { streamId: event.streamId, revision: event.revision, position: event.position };
    const fail = (message: string, check: Violation['check'] = 'ledger') => report({ ...place, check, message });
    // Read as its type says, a newer writer's event may mean anything: the audit cannot vouch for it.
    const unreadable = shard !== undefined || event.type.startsWith(CARD_EVENT_PREFIX) ? unreadableSchema(event) : undefined;
    if (unreadable !== undefined) return fail(unreadable, shard === undefined ? 'card' : 'ledger');
    if (shard === undefined) {
      const unbacked = this.cards.check(event);
      if (unbacked !== undefined) fail(unbacked, 'card');
      return;
    }
    if (!LEDGER_EVENT_TYPES.has(event.type)) return fail(`unknown ledger event type ${event.type}`);
    const state = this.state(shard);
    const ledgerEvent = ledgerEventOf(event);
    const problem = ruleBroken(ledgerEvent, state) ?? this.misplaced(ledgerEvent, shard);
    if (problem !== undefined) return fail(problem);
    const unfounded = this.unfoundedSagaRefusal(ledgerEvent, state, shard) ?? (ledgerEvent.type === 'ledger.EntryPosted.v1' ? this.unpairedLeg(ledgerEvent.data) : undefined);
    if (unfounded !== undefined) return fail(unfounded, 'transfer');

    // Reported after evolve's own invariants, whose messages name the broken rule more closely.
    const refused = this.isRedecided(ledgerEvent) ? refusedByState(ledgerEvent, state, this.writerCommandOf(ledgerEvent, state, shard)) : undefined;
    const touched = touchedAccountIds(ledgerEvent, state);
    const before = new Map<string, Account | undefined>([...touched].map((id) => [id, state.accounts.get(id)]));
    const undo = snapshotFor(ledgerEvent, state, touched);
    try {
      evolve(state, ledgerEvent);
    } catch (error) {
      undo();
      // libs/ledger's invariant messages name holds and entries by their ids, caller text.
      return fail(withCardNumbersWithheld((error as Error).message));
    }
    if (refused !== undefined) {
      // An account stays open as recorded (the writer's state has it): its every later event is not reported again.
      if (ledgerEvent.type !== 'ledger.AccountOpened.v1') undo();
      return fail(refused);
    }
    const unbalanced = this.addToTotals(before, state);
    if (unbalanced !== undefined) fail(unbalanced, 'global-sum');
    if (ledgerEvent.type === 'ledger.EntryPosted.v1') {
      this.followTransfer(ledgerEvent.data, shard, (message) => fail(message, 'transfer'));
      this.cards.entryPosted(ledgerEvent.data);
    }
  }

  /** A shard's state as folded so far (undefined before its first event). */
  stateOf(shard: number): LedgerShardState | undefined {
    return this.shards.get(shard);
  }

  /** Notes for the report once every event is checked. */
  notes(): string[] {
    const notes: string[] = [];
    if (this.openTransfers.size > 0) notes.push(`${this.openTransfers.size} cross-shard transfers are in flight (out leg without an in leg or reversal yet)`);
    if (this.forgottenTransfers > 0) notes.push(`${this.forgottenTransfers} in-flight transfers beyond OPEN_TRANSFERS_MAX were not followed`);
    return [...notes, ...this.cards.notes()];
  }

  private state(shard: number): LedgerShardState {
    let state = this.shards.get(shard);
    if (state === undefined) {
      state = initialState();
      this.shards.set(shard, state);
    }
    return state;
  }

  /**
   * A refusal of a transfer's in leg stands for money sent back instead of credited, one of its reversal for money
   * left in transit: the writer records one only when its own plan and `decide` refuse the saga's command, so the
   * shard's state here must refuse that command with that code.
   */
  private unfoundedSagaRefusal(event: LedgerEvent, state: LedgerShardState, shard: number): string | undefined {
    if (event.type !== 'ledger.CommandRejected.v1') return undefined;
    const saga = sagaLegOfKey(event.data.idempotencyKey);
    const out = saga === undefined ? undefined : this.openTransfers.get(saga.transferId);
    if (saga === undefined || out === undefined) return undefined;
    const { transferId, leg } = saga;
    const meta = { idempotencyKey: event.data.idempotencyKey, actor: 'transfer-saga', correlationId: transferId };
    // The reason (the in leg's refusal) is only carried into the references: it decides nothing.
    const plan = this.writerPlan({ ...sagaMessageOf(transferId, leg, out, ''), meta }, state, shard, event.data.atMs);
    // A plan's refusal is answered, not recorded (shard-writer): a recorded one cannot come from it.
    const decided = 'code' in plan ? undefined : decide(plan.command, state, { nowMs: event.data.atMs });
    const recorded = event.data.error.code;
    const where = leg === 'in' ? 'destination' : 'source';
    if (decided === undefined) return `transfer ${transferId}: ${leg} leg refused (${recorded}) under its key, but the writer answers such a refusal without recording it (${(plan as DomainError).code})`;
    if (decided.ok) return `transfer ${transferId}: ${leg} leg refused (${recorded}), but the ${where} shard's state then takes it`;
    if (decided.error.code !== recorded) return `transfer ${transferId}: ${leg} leg refused (${recorded}), but the ${where} shard's state then refuses it with ${decided.error.code}`;
    return undefined;
  }

  /**
   * Re-decided from the command it records: every hold event, account opening and entry but an in leg or reversal without
   * an open out leg (reported by `followTransfer`) and an out leg while the shard count is unknown (no `ledger-meta` yet:
   * the Transfer command's plan finds the destination's shard by it).
   */
  private isRedecided(event: LedgerEvent): event is RedecidedEvent {
    if (event.type !== 'ledger.EntryPosted.v1') return isRedecidedType(event);
    const { references, kind, postings } = event.data;
    const { leg } = references;
    // An entry of no transfer kind, leg or transit account is what PostEntry's plan gives as it stands (its postings'
    // ids, amounts, currencies and shard are `ruleBroken`'s): not planned again, the hot path of a long log.
    if (leg === undefined) return TRANSFER_KINDS.has(kind) || postings.some((posting) => isTransitAccountId(posting.accountId));
    return (leg === 'out' && this.shardCount !== undefined) || this.openLegOf(event) !== undefined;
  }

  /** The out leg of a transfer's in leg or reversal, while it is open. */
  private openLegOf(event: Pick<EntryPosted, 'data'>): { transferId: string; leg: 'in' | 'reversal'; out: OutLeg } | undefined {
    const { leg, transferId } = event.data.references;
    if ((leg !== 'in' && leg !== 'reversal') || transferId === undefined) return undefined;
    const out = this.openTransfers.get(transferId);
    return out === undefined ? undefined : { transferId, leg, out };
  }

  /** The wallet-ledger writer's own plan of `message` on the shard's state at `atMs`. */
  private writerPlan(message: LedgerCommandEnvelope, state: LedgerShardState, shard: number, atMs: number): ReturnType<typeof planCommand> {
    return planCommand(message, state, { shards: this.shardCount ?? shard + 1, shard, nowMs: atMs, defaultHoldTimeoutMs: 0 });
  }

  /**
   * The command the writer gave `decide` for this event (an account's opening is the wallet-ledger's plan of
   * `OpenWallet`, or libs/ledger's `openSystemAccount`), or why the writer never decides such an event.
   */
  private writerCommandOf(event: RedecidedEvent, state: LedgerShardState, shard: number): LedgerCommand | string {
    const plan = (message: LedgerCommandMessage, what: string): LedgerCommand | string => {
      const meta = { idempotencyKey: event.data.idempotencyKey, actor: 'audit', correlationId: event.data.idempotencyKey };
      const planned = this.writerPlan({ ...message, meta }, state, shard, event.data.atMs);
      return 'code' in planned ? `${what}, but the writer's plan refuses it (${planned.code}: ${withCardNumbersWithheld(planned.message)})` : planned.command;
    };
    switch (event.type) {
      case 'ledger.AccountOpened.v1': {
        const { accountId, ownerId, currency, kind } = event.data;
        if (kind !== 'wallet') return openSystemAccount(accountId) ?? `account ${printable(accountId)} opened as ${printable(kind)}, but the writer opens no such account`;
        return plan({ type: 'OpenWallet', walletId: accountId, ownerId: ownerId ?? '', currency }, `wallet ${printable(accountId)} opened`);
      }
      case 'ledger.EntryPosted.v1': {
        const { entryId, kind, postings, references } = event.data;
        const what = `entry ${printable(entryId)} posted`;
        // A cross-shard transfer's in leg or reversal: the saga's command, made of its out leg.
        const out = this.openLegOf(event);
        if (out !== undefined) return plan(sagaMessageOf(out.transferId, out.leg, out.out, references.reason ?? ''), what);
        // A transfer (within the shard, or its out leg) is the Transfer command's; any other entry an internal PostEntry's.
        if (!TRANSFER_KINDS.has(kind)) return plan({ type: 'PostEntry', entryId, kind, postings, references }, what);
        const amount = postings.find((posting) => posting.side === 'debit')?.amount ?? '';
        const { fromWalletId = '', toWalletId = '', memo } = references;
        return plan({ type: 'Transfer', fromWalletId, toWalletId, amount, ...(memo === undefined ? {} : { memo }) }, what);
      }
      case 'ledger.HoldPlaced.v1': {
        // The writer holds a wallet's money for its card clearing account, never for another account.
        const { holdId, debitAccountId, amount, expiresAtMs, atMs } = event.data;
        return plan({ type: 'PlaceHold', holdId, walletId: debitAccountId, amount, timeoutMs: expiresAtMs - atMs }, `hold ${printable(holdId)} placed`);
      }
      default:
        return holdCommandOf(event);
    }
  }

  /** An account opened on a shard that does not own it (docs/decisions.md: shards). */
  private misplaced(event: LedgerEvent, shard: number): string | undefined {
    if (event.type !== 'ledger.AccountOpened.v1' || this.shardCount === undefined) return undefined;
    const owner = shardOf(event.data.accountId, this.shardCount);
    return owner === shard ? undefined : `account ${event.data.accountId} opened on shard ${shard}, but shard ${owner ?? 'none'} owns it`;
  }

  private addToTotals(before: ReadonlyMap<string, Account | undefined>, state: LedgerShardState): string | undefined {
    const deltas = new Map<Currency, { posted: bigint; pending: bigint }>();
    for (const [id, old] of before) {
      const now = state.accounts.get(id);
      if (now === undefined) continue;
      const delta = deltas.get(now.currency) ?? { posted: 0n, pending: 0n };
      delta.posted += now.debitsPosted - now.creditsPosted - (old === undefined ? 0n : old.debitsPosted - old.creditsPosted);
      delta.pending += now.debitsPending - now.creditsPending - (old === undefined ? 0n : old.debitsPending - old.creditsPending);
      deltas.set(now.currency, delta);
    }
    const broken: string[] = [];
    for (const [currency, delta] of deltas) {
      const total = this.totals.get(currency) ?? { posted: 0n, pending: 0n };
      total.posted += delta.posted;
      total.pending += delta.pending;
      this.totals.set(currency, total);
      if (total.posted !== 0n || total.pending !== 0n) broken.push(`${currency} posted ${formatAmount(total.posted)}, pending ${formatAmount(total.pending)}`);
    }
    return broken.length === 0 ? undefined : `global sum (debits - credits) is not zero after this event: ${broken.join('; ')}`;
  }

  /** Out leg first, then exactly one in leg or reversal of the same amount (docs/decisions.md: the transfer saga). */
  private followTransfer(data: EntryPosted['data'], shard: number, fail: (message: string) => void): void {
    const { leg, transferId } = data.references;
    if (transferId === undefined || leg === undefined) return;
    if (leg === 'out') {
      if (this.openTransfers.size >= OPEN_TRANSFERS_MAX) {
        this.forgottenTransfers++;
        return;
      }
      if (this.openTransfers.has(transferId)) fail(`transfer ${transferId}: a second out leg`);
      const [debit] = data.postings.filter((posting) => posting.side === 'debit');
      this.openTransfers.set(transferId, {
        moved: movedBy(data),
        from: walletsOf(data, 'debit'),
        to: data.references.toWalletId ?? '',
        shard,
        amount: debit?.amount ?? '0',
        currency: debit?.currency ?? '',
        references: data.references,
      });
      return;
    }
    if (leg !== 'in' && leg !== 'reversal') return;
    // Paired with its out leg before it was applied (`unpairedLeg`, then the saga's command re-decided).
    if (!this.openTransfers.delete(transferId)) fail(`transfer ${transferId}: ${leg} leg without an open out leg before it`);
  }

  /** What an in leg or reversal moves, or to whom, against its open out leg: each leg balances on its own shard, so only this sees money made, lost or redirected in transit. */
  private unpairedLeg(data: EntryPosted['data']): string | undefined {
    const open = this.openLegOf({ data });
    if (open === undefined) return undefined;
    const { transferId, leg, out } = open;
    const moved = movedBy(data);
    if (moved !== out.moved) return `transfer ${transferId}: ${leg} leg moves ${moved}, its out leg ${out.moved}`;
    const credited = walletsOf(data, 'credit');
    const owed = leg === 'in' ? out.to : out.from;
    return credited === owed ? undefined : `transfer ${transferId}: ${leg} leg credits ${credited}, its out leg names ${owed}`;
  }
}

/** What the transfer saga sends the writer for a transfer's in leg or reversal, made of its out leg. */
function sagaMessageOf(transferId: string, leg: 'in' | 'reversal', out: OutLeg, reason: string): LedgerCommandMessage {
  const common = { transferId, fromWalletId: out.references.fromWalletId ?? '', toWalletId: out.to, amount: out.amount, currency: out.currency };
  return leg === 'in'
    ? { type: 'TransferIn', ...common, sourceShard: out.shard, ...(out.references.memo === undefined ? {} : { memo: out.references.memo }) }
    : { type: 'TransferReverse', ...common, destinationShard: Number(out.references.destinationShard), reason };
}

/** The transfer and leg a saga key names (its in leg's or its reversal's), or undefined for any other key. */
function sagaLegOfKey(key: string): { transferId: string; leg: 'in' | 'reversal' } | undefined {
  for (const [leg, keyOf] of [['in', transferSagaKeys.in], ['reversal', transferSagaKeys.reverse]] as const) {
    const prefix = keyOf('');
    if (key.startsWith(prefix)) return { transferId: key.slice(prefix.length), leg };
  }
  return undefined;
}

/** The rules an auditor names, checked before `evolve`; undefined when the event keeps them. */
function ruleBroken(event: LedgerEvent, state: LedgerShardState): string | undefined {
  switch (event.type) {
    case 'ledger.EntryPosted.v1': {
      let postings: Posting[];
      try {
        postings = event.data.postings.map(postingFromJson);
      } catch (error) {
        return `entry ${printable(event.data.entryId)}: a posting is malformed (${(error as Error).message})`;
      }
      const unbalanced = unbalancedCurrencies(postings);
      if (unbalanced !== undefined) return `entry ${printable(event.data.entryId)} is not balanced: ${unbalanced}`;
      // The writer checked exactly this against the shard's state before appending (decide).
      const error = entryError(postings, state.accounts);
      if (error === undefined) return undefined;
      if (error.code === 'insufficient_funds') return `entry ${printable(event.data.entryId)} overdraws no-overdraft account ${String(error.details?.accountId)}`;
      return `entry ${printable(event.data.entryId)} could not have been posted: ${error.code} ${withCardNumbersWithheld(JSON.stringify(error.details ?? {}))}`;
    }
    case 'ledger.HoldCaptured.v1':
    case 'ledger.HoldReleased.v1':
    case 'ledger.HoldExpired.v1': {
      const hold = state.holds.get(event.data.holdId);
      const action = event.type.slice('ledger.Hold'.length, -'.v1'.length).toLowerCase();
      if (hold === undefined) return `hold ${printable(event.data.holdId)} ${action} but it is not open (never placed, or closed over 24 h before)`;
      if (hold.status !== 'pending') return `hold ${printable(hold.id)} ${action} after it closed (${hold.status})`;
      // evolve moves the hold's own accounts; the projections (balances, lines) move the ones the event names.
      const { debitAccountId, creditAccountId, currency } = event.data;
      if (debitAccountId !== hold.debitAccountId || creditAccountId !== hold.creditAccountId || currency !== hold.currency) {
        return `hold ${printable(hold.id)} ${action} naming ${debitAccountId} -> ${creditAccountId} (${currency}), but it holds ${hold.debitAccountId} -> ${hold.creditAccountId} (${hold.currency})`;
      }
      if (event.type === 'ledger.HoldCaptured.v1') return captureProblem(hold, event.data.capturedAmount);
      return undefined;
    }
    default:
      return undefined;
  }
}

type HoldEvent = Extract<LedgerEvent, { type: 'ledger.HoldPlaced.v1' | 'ledger.HoldCaptured.v1' | 'ledger.HoldReleased.v1' | 'ledger.HoldExpired.v1' }>;
/** The events re-decided from the command they record: holds, accounts opened (their flags decide who may overdraw) and entries. */
type RedecidedEvent = HoldEvent | Extract<LedgerEvent, { type: 'ledger.AccountOpened.v1' | 'ledger.EntryPosted.v1' }>;

/** The entry kinds of the transfer commands (the writer refuses them in an internal PostEntry). */
const TRANSFER_KINDS: ReadonlySet<string> = new Set(['transfer', 'reversal']);

function isRedecidedType(event: LedgerEvent): event is RedecidedEvent {
  return (
    event.type === 'ledger.HoldPlaced.v1' ||
    event.type === 'ledger.HoldCaptured.v1' ||
    event.type === 'ledger.HoldReleased.v1' ||
    event.type === 'ledger.HoldExpired.v1' ||
    event.type === 'ledger.AccountOpened.v1'
  );
}

/** The command a capture, release or expiry records, as the writer gave it to `decide` (the event holds every field of it). */
function holdCommandOf(event: Exclude<HoldEvent, { type: 'ledger.HoldPlaced.v1' }>): LedgerCommand {
  const { idempotencyKey, holdId } = event.data;
  switch (event.type) {
    case 'ledger.HoldCaptured.v1':
      return { type: 'CaptureHold', idempotencyKey, holdId, amount: amountOf(event.data.capturedAmount) };
    case 'ledger.HoldReleased.v1':
      return { type: 'ReleaseHold', idempotencyKey, holdId, amount: amountOf(event.data.releasedAmount) };
    case 'ledger.HoldExpired.v1':
      return { type: 'ExpireHold', idempotencyKey, holdId };
  }
}

/**
 * A hold event or an account's opening is `decide`'s answer to the writer's command at its time (`atMs`): re-decided
 * on the shard's state then, it must be taken and give the same event (the fingerprint aside). Catches what evolve
 * does not assert: an expiry before the hold's time, a hold placed on a frozen or closed account or for longer than
 * HOLD_TIMEOUT_MAX_MS, a wallet opened without the no-overdraft flag (then overdrawn with every entry "possible").
 */
function refusedByState(event: RedecidedEvent, state: LedgerShardState, command: LedgerCommand | string): string | undefined {
  // A reused key is evolve's to report (two outcomes); decide would answer the first one.
  if (state.idempotency.has(event.data.idempotencyKey)) return undefined;
  if (typeof command === 'string') return command;
  const where = () => {
    const at = Number.isSafeInteger(event.data.atMs) && event.data.atMs >= 0 ? new Date(event.data.atMs).toISOString() : String(event.data.atMs);
    if (event.type === 'ledger.AccountOpened.v1') return `account ${printable(event.data.accountId)} opened at ${at}`;
    if (event.type === 'ledger.EntryPosted.v1') return `entry ${printable(event.data.entryId)} posted at ${at}`;
    return `hold ${printable(event.data.holdId)} ${event.type.slice('ledger.Hold'.length, -'.v1'.length).toLowerCase()} at ${at}`;
  };
  let decided: ReturnType<typeof decide>;
  try {
    // An entry is its planned PostEntry as it stands (evolve's and `ruleBroken`'s checks are decide's): no fingerprint to hash.
    decided = command.type === 'PostEntry' && event.type === 'ledger.EntryPosted.v1' ? { ok: true, events: [{ type: event.type, data: entryOf(command, event.data) }] } : decide(command, state, { nowMs: event.data.atMs });
  } catch (error) {
    return `${where()}: not a command the writer could have decided (${withCardNumbersWithheld((error as Error).message)})`;
  }
  if (!decided.ok) return `${where()}, but the shard's state then refuses it (${decided.error.code})`;
  const [again] = decided.events;
  if (decided.events.length !== 1 || again.type !== event.type) return `${where()}, but the shard's state then decides it as ${decided.events.map((each) => each.type).join(', ') || 'nothing'}`;
  const recorded = event.data as unknown as Record<string, unknown>;
  const decidedData = again.data as unknown as Record<string, unknown>;
  // The same writer code wrote the same keys in the same order: one string each settles the usual case.
  if (JSON.stringify(recorded) === JSON.stringify({ ...decidedData, fingerprint: recorded.fingerprint })) return undefined;
  const differing = [...new Set([...Object.keys(recorded), ...Object.keys(decidedData)])]
    .filter((key) => key !== 'fingerprint' && canonicalJson((recorded[key] ?? null) as Json) !== canonicalJson((decidedData[key] ?? null) as Json))
    .sort();
  if (differing.length === 0) return undefined;
  return `${where()}, but the shard's state then decides ${differing.map((key) => `${key} ${printable(decidedData[key] ?? null)} (recorded ${printable(recorded[key] ?? null)})`).join(', ')}`;
}

/** The entry a planned PostEntry records, stamped as `recorded` is (what decide's postEntry gives, fingerprint aside). */
function entryOf(command: Extract<LedgerCommand, { type: 'PostEntry' }>, recorded: EntryPosted['data']): EntryPosted['data'] {
  const { idempotencyKey, fingerprint, atMs } = recorded;
  return { idempotencyKey, fingerprint, atMs, entryId: command.entryId, kind: command.kind, postings: command.postings.map(postingToJson), references: { ...(command.references ?? {}) } };
}

function captureProblem(hold: Hold, capturedAmount: string): string | undefined {
  let captured: bigint;
  try {
    captured = amountOf(capturedAmount);
  } catch {
    return `hold ${printable(hold.id)}: captured amount ${JSON.stringify(capturedAmount)} is not an amount`;
  }
  if (captured > hold.heldAmount) return `hold ${printable(hold.id)} captured ${captured} above what it holds (${hold.heldAmount})`;
  return undefined;
}

interface OutLeg {
  readonly moved: string;
  /** The wallet the out leg debited (a reversal credits it back). */
  readonly from: string;
  /** The out leg's toWalletId (the in leg credits it). */
  readonly to: string;
  /** What the saga's in leg is made of: the source shard, the amount and currency debited, the out leg's references. */
  readonly shard: number;
  readonly amount: string;
  readonly currency: string;
  readonly references: Readonly<Record<string, string>>;
}

/** The non-system accounts on one side of an entry, sorted and joined. */
function walletsOf(data: EntryPosted['data'], side: Posting['side']): string {
  return [...new Set(data.postings.filter((posting) => posting.side === side && !posting.accountId.startsWith('sys:')).map((posting) => posting.accountId))].sort().join(', ');
}

/** What a balanced entry moves, its debits per currency: "USD 100" (currencies sorted). */
function movedBy(data: EntryPosted['data']): string {
  const debits = new Map<string, bigint>();
  for (const posting of data.postings.map(postingFromJson)) {
    if (posting.side === 'debit') debits.set(posting.currency, (debits.get(posting.currency) ?? 0n) + posting.amount);
  }
  return [...debits].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => `${currency} ${amount}`).join(', ');
}

/** "USD debits 100 credits 90", or undefined when every currency balances. */
function unbalancedCurrencies(postings: readonly Posting[]): string | undefined {
  const totals = new Map<Currency, { debits: bigint; credits: bigint }>();
  for (const posting of postings) {
    const total = totals.get(posting.currency) ?? { debits: 0n, credits: 0n };
    if (posting.side === 'debit') total.debits += posting.amount;
    else total.credits += posting.amount;
    totals.set(posting.currency, total);
  }
  const broken = [...totals].filter(([, total]) => total.debits !== total.credits);
  if (broken.length === 0) return undefined;
  return broken.map(([currency, total]) => `${currency} debits ${total.debits} credits ${total.credits}`).join('; ');
}

function touchedAccountIds(event: LedgerEvent, state: LedgerShardState): Set<string> {
  const ids = new Set<string>();
  switch (event.type) {
    case 'ledger.EntryPosted.v1':
      for (const posting of event.data.postings) ids.add(posting.accountId);
      break;
    case 'ledger.HoldPlaced.v1':
    case 'ledger.HoldCaptured.v1':
    case 'ledger.HoldReleased.v1':
    case 'ledger.HoldExpired.v1': {
      ids.add(event.data.debitAccountId).add(event.data.creditAccountId);
      const hold = state.holds.get(event.data.holdId);
      if (hold !== undefined) ids.add(hold.debitAccountId).add(hold.creditAccountId);
      break;
    }
    case 'ledger.CommandRejected.v1':
      break;
    default:
      ids.add(event.data.accountId);
  }
  return ids;
}

/**
 * Remembers what `evolve` may change for this event (it updates the state's Maps in place and
 * can throw half-way), and returns the function that puts it back.
 */
function snapshotFor(event: LedgerEvent, state: LedgerShardState, touched: ReadonlySet<string>): () => void {
  const accounts = [...touched].map((id) => [id, state.accounts.get(id)] as const);
  const holdId = 'holdId' in event.data ? event.data.holdId : undefined;
  const hold = holdId === undefined ? undefined : state.holds.get(holdId);
  const finishedAt = holdId === undefined ? undefined : state.finishedHolds.get(holdId);
  const key = event.data.idempotencyKey;
  const record = state.idempotency.get(key);
  return () => {
    for (const [id, account] of accounts) restore(state.accounts, id, account);
    if (holdId !== undefined) {
      restore(state.holds, holdId, hold);
      restore(state.finishedHolds, holdId, finishedAt);
    }
    restore(state.idempotency, key, record);
  };
}

function restore<K, V>(map: Map<K, V>, key: K, value: V | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}
