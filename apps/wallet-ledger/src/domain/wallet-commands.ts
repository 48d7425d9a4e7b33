// Pure translation of the wire commands of `ledger.commands` into ledger-shard commands, and of
// their first outcome back into replies. The writer calls `planCommand` against its state, then
// the shard's `decide`; nothing here reads a clock or mints a random id.
import {
  domainError,
  formatAmount,
  idFromKey,
  isCurrency,
  parseAmount,
  toIsoTime,
  TRANSACTION_KINDS,
  type Currency,
  type DomainError,
  type HoldView,
  type LedgerCommandEnvelope,
  type TransactionView,
  type WalletView,
} from '@ledger/contracts';
import {
  isTransitAccountId,
  isValidId,
  type Account,
  type LedgerAcceptedEvent,
  type LedgerCommand,
  type LedgerShardState,
  type Posting,
  shardOf,
  systemAccountId,
  transitFromId,
  transitToId,
  walletShard,
} from '@ledger/ledger';
import { walletView } from './views';


export interface PlanContext {
  readonly shards: number;
  /** The shard this writer owns. */
  readonly shard: number;
  /** The time of the command's first attempt, so a retry plans exactly what the first did. */
  readonly nowMs: number;
  readonly defaultHoldTimeoutMs: number;
}

export interface Plan {
  readonly command: LedgerCommand;
  /** System accounts the command touches: the writer opens missing ones first, in the same batch. */
  readonly systemAccounts: readonly string[];
}

/** The entry id of a cross-shard transfer's reversal on its source shard. */
export function transferReversalId(transferId: string): string {
  return `${transferId}:reversal`;
}

/** The keys the writer's own commands go under (openSystemAccount's `open:{id}`, a sweep's `expire:{holdId}`): no caller's may. */
export const WRITER_KEY_PREFIXES = { open: 'open:', expire: 'expire:' } as const;

/** The key the writer decides a hold's expiry under. */
export function holdExpiryKey(holdId: string): string {
  return `${WRITER_KEY_PREFIXES.expire}${holdId}`;
}

/** The idempotency keys the transfer saga sends a cross-shard transfer's in leg and reversal under. */
export const transferSagaKeys = {
  in: (transferId: string) => `transfer-in:${transferId}`,
  reverse: (transferId: string) => `transfer-reverse:${transferId}`,
} as const;

export function planCommand(message: LedgerCommandEnvelope, state: LedgerShardState, context: PlanContext): Plan | DomainError {
  const idempotencyKey = message.meta.idempotencyKey;
  switch (message.type) {
    case 'OpenWallet': {
      if (!isCurrency(message.currency)) return invalid('currency', 'unsupported_currency');
      return {
        command: {
          type: 'OpenAccount',
          idempotencyKey,
          accountId: message.walletId,
          currency: message.currency,
          normalSide: 'credit',
          flags: { debitsMustNotExceedCredits: true },
          kind: 'wallet',
          ownerId: message.ownerId,
        },
        systemAccounts: [],
      };
    }
    case 'TopUp':
    case 'Withdraw': {
      const wallet = walletOf(state, message.walletId);
      if (!wallet.ok) return wallet.error;
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      const currency = wallet.account.currency;
      const topUp = message.type === 'TopUp';
      const system = systemAccountId(topUp ? 'funding' : 'withdrawals', currency, context.shard);
      return entry(
        {
          idempotencyKey,
          entryId: createdId('entry', idempotencyKey, context),
          kind: topUp ? 'top_up' : 'withdrawal',
          postings: topUp ? move(system, wallet.account.id, amount, currency) : move(wallet.account.id, system, amount, currency),
          references: optional({ reference: message.reference }),
        },
        [system],
      );
    }
    case 'Transfer': {
      const from = walletOf(state, message.fromWalletId);
      if (!from.ok) return from.error;
      if (typeof message.toWalletId !== 'string' || message.toWalletId === message.fromWalletId) return invalid('toWalletId', 'same_wallet');
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      const destinationShard = walletShard(message.toWalletId, context.shards);
      if (destinationShard === undefined) return domainError('not_found', 'no such wallet', { walletId: message.toWalletId });
      const currency = from.account.currency;
      const transferId = createdId('transfer', idempotencyKey, context);
      const references = optional({ transferId, fromWalletId: message.fromWalletId, toWalletId: message.toWalletId, memo: message.memo });
      if (destinationShard === context.shard) {
        const to = walletOf(state, message.toWalletId);
        if (!to.ok) return to.error;
        return entry({ idempotencyKey, entryId: transferId, kind: 'transfer', postings: move(from.account.id, to.account.id, amount, currency), references }, []);
      }
      const transit = transitToId(destinationShard, currency, context.shard);
      return entry(
        {
          idempotencyKey,
          entryId: transferId,
          kind: 'transfer',
          postings: move(from.account.id, transit, amount, currency),
          references: { ...references, leg: 'out', destinationShard: String(destinationShard) },
        },
        [transit],
      );
    }
    case 'TransferIn': {
      const currency = currencyField(message.currency);
      if (typeof currency !== 'string') return currency;
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      // An unknown destination is refused by decide, so the refusal is recorded under the key: a
      // replay of the out leg after the wallet was opened under that id must not credit it (the
      // source got its money back). Refused here, unrecorded, only what can never become a wallet.
      if (!isValidId(message.toWalletId)) return domainError('not_found', 'no such wallet', { walletId: message.toWalletId });
      if (state.accounts.has(message.toWalletId)) {
        const to = walletOf(state, message.toWalletId);
        if (!to.ok) return to.error;
      }
      const transit = transitFromId(message.sourceShard, currency, context.shard);
      return entry(
        {
          idempotencyKey,
          entryId: message.transferId,
          kind: 'transfer',
          postings: move(transit, message.toWalletId, amount, currency),
          references: optional({
            transferId: message.transferId,
            fromWalletId: message.fromWalletId,
            toWalletId: message.toWalletId,
            memo: message.memo,
            leg: 'in',
            sourceShard: String(message.sourceShard),
          }),
        },
        [transit],
      );
    }
    case 'TransferReverse': {
      // Sliced below: anything else threw and failed the writer's whole batch.
      if (typeof message.reason !== 'string') return invalid('reason', 'not_a_string');
      const currency = currencyField(message.currency);
      if (typeof currency !== 'string') return currency;
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      const transit = transitToId(message.destinationShard, currency, context.shard);
      return entry(
        {
          idempotencyKey,
          entryId: transferReversalId(message.transferId),
          kind: 'reversal',
          postings: move(transit, message.fromWalletId, amount, currency),
          references: {
            transferId: message.transferId,
            fromWalletId: message.fromWalletId,
            toWalletId: message.toWalletId,
            leg: 'reversal',
            reason: message.reason.slice(0, 200),
          },
        },
        [transit],
      );
    }
    case 'PlaceHold': {
      const wallet = walletOf(state, message.walletId);
      if (!wallet.ok) return wallet.error;
      // Its expiry is decided under a key of its id, which must be one the ledger takes: a longer id was a hold that never expired.
      if (typeof message.holdId === 'string' && !isValidId(holdExpiryKey(message.holdId))) return invalid('holdId', 'too_long');
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      if (message.timeoutMs !== undefined && (!Number.isSafeInteger(message.timeoutMs) || message.timeoutMs <= 0)) {
        return invalid('timeoutMs', 'not_a_positive_integer');
      }
      const clearing = systemAccountId('card-clearing', wallet.account.currency, context.shard);
      return {
        command: {
          type: 'PlaceHold',
          idempotencyKey,
          holdId: message.holdId,
          debitAccountId: wallet.account.id,
          creditAccountId: clearing,
          amount,
          expiresAtMs: context.nowMs + (message.timeoutMs ?? context.defaultHoldTimeoutMs),
          ...(message.timeoutMs === undefined ? { expiryByDefault: true } : {}),
        },
        systemAccounts: [clearing],
      };
    }
    case 'CaptureHold': {
      const otherWallet = holdOfAnotherWallet(state, message.holdId, message.walletId);
      if (otherWallet !== undefined) return otherWallet;
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      return { command: { type: 'CaptureHold', idempotencyKey, holdId: message.holdId, amount }, systemAccounts: [] };
    }
    case 'ReleaseHold': {
      const otherWallet = holdOfAnotherWallet(state, message.holdId, message.walletId);
      if (otherWallet !== undefined) return otherWallet;
      if (message.amount === undefined) return { command: { type: 'ReleaseHold', idempotencyKey, holdId: message.holdId }, systemAccounts: [] };
      const amount = amountField(message.amount);
      if (typeof amount !== 'bigint') return amount;
      return { command: { type: 'ReleaseHold', idempotencyKey, holdId: message.holdId, amount }, systemAccounts: [] };
    }
    case 'FreezeWallet':
    case 'UnfreezeWallet':
    case 'CloseWallet': {
      const wallet = walletOf(state, message.walletId);
      if (!wallet.ok) return wallet.error;
      const type = message.type === 'FreezeWallet' ? 'FreezeAccount' : message.type === 'UnfreezeWallet' ? 'UnfreezeAccount' : 'CloseAccount';
      return { command: { type, idempotencyKey, accountId: wallet.account.id }, systemAccounts: [] };
    }
    case 'PostEntry': {
      if (!Array.isArray(message.postings)) return invalid('postings', 'not_a_list');
      // The saga relays (out) and the audit pairs (in, reversal) entries by this reference: only the transfer commands above set it.
      if (isRecord(message.references) && Object.hasOwn(message.references, SAGA_LEG_REFERENCE)) return invalid(`references.${SAGA_LEG_REFERENCE}`, 'reserved');
      // The saga asks the projection whether a transfer is settled by these kinds under the transfer's id.
      if ((TRANSFER_LEG_KINDS as readonly unknown[]).includes(message.kind)) return invalid('kind', 'reserved');
      // A wallet's lines take the entry's kind, and clients read them as API.md's list: any other (`payout`) was shown as is.
      if (!(TRANSACTION_KINDS as readonly unknown[]).includes(message.kind)) return invalid('kind', 'unknown_kind');
      const postings: Posting[] = [];
      for (const [index, posting] of message.postings.entries()) {
        const amount = amountField(posting?.amount, `postings[${index}].amount`);
        if (typeof amount !== 'bigint') return amount;
        const currency = currencyField(posting?.currency, `postings[${index}].currency`);
        if (typeof currency !== 'string') return currency;
        // Checked before its shard: a non-string id threw below and failed the writer's whole batch.
        if (!isValidId(posting.accountId)) return invalid(`postings[${index}].accountId`, 'invalid_id');
        // Transit holds the transfers in flight, paired across shards: an entry there is money no leg moves.
        if (isTransitAccountId(posting.accountId)) return invalid(`postings[${index}].accountId`, 'reserved');
        const owner = shardOf(posting.accountId, context.shards);
        if (owner !== context.shard) return invalid(`postings[${index}].accountId`, 'accounts_on_different_shards');
        postings.push({ accountId: posting.accountId, side: posting.side, amount, currency });
      }
      return entry(
        { idempotencyKey, entryId: message.entryId, kind: message.kind, postings, references: message.references ?? {} },
        postings.map((posting) => posting.accountId).filter((accountId) => accountId.startsWith('sys:')),
      );
    }
  }
}

/**
 * The reply to a command whose first outcome was `event`, built from that event so a retry gets
 * the same answer; `state` (the shard now) adds only what never changes (a hold's placed amount)
 * and, for status changes of a wallet, the balance as it is now.
 */
export function replyFor(message: LedgerCommandEnvelope, event: LedgerAcceptedEvent, state: LedgerShardState): WalletView | TransactionView | HoldView {
  switch (event.type) {
    case 'ledger.AccountOpened.v1': {
      const { data } = event;
      return {
        id: data.accountId,
        ownerId: data.ownerId ?? '',
        currency: data.currency,
        status: 'active',
        balance: { posted: '0', pending: '0', available: '0' },
        createdAt: toIsoTime(data.atMs),
      };
    }
    case 'ledger.AccountFrozen.v1':
    case 'ledger.AccountUnfrozen.v1':
    case 'ledger.AccountClosed.v1': {
      const account = state.accounts.get(event.data.accountId);
      if (account === undefined) throw new Error(`reply for a missing account ${event.data.accountId}`);
      const status = event.type === 'ledger.AccountFrozen.v1' ? 'frozen' : event.type === 'ledger.AccountUnfrozen.v1' ? 'active' : 'closed';
      return { ...walletView(account), status };
    }
    case 'ledger.EntryPosted.v1': {
      const { data } = event;
      const first = data.postings[0];
      // One amount in one currency: an entry of several currencies is balanced per currency, and answered in its first posting's.
      const amount = data.postings
        .filter((posting) => posting.side === 'debit' && posting.currency === first.currency)
        .reduce((sum, posting) => sum + BigInt(posting.amount), 0n);
      const refs = data.references;
      return {
        id: message.type === 'Transfer' || message.type === 'TransferIn' || message.type === 'TransferReverse' ? (refs.transferId ?? data.entryId) : data.entryId,
        kind: data.kind,
        status: 'posted',
        amount: formatAmount(amount),
        currency: first.currency,
        ...(refs.fromWalletId ? { fromWalletId: refs.fromWalletId } : walletSide(data.postings, 'debit', 'fromWalletId')),
        ...(refs.toWalletId ? { toWalletId: refs.toWalletId } : walletSide(data.postings, 'credit', 'toWalletId')),
        createdAt: toIsoTime(data.atMs),
      };
    }
    case 'ledger.HoldPlaced.v1':
    case 'ledger.HoldCaptured.v1':
    case 'ledger.HoldReleased.v1':
    case 'ledger.HoldExpired.v1': {
      const { data } = event;
      // The placed amount never changes, and the hold outlives its idempotency records.
      const placed = event.type === 'ledger.HoldPlaced.v1' ? event.data.amount : formatAmount(state.holds.get(data.holdId)?.placedAmount ?? 0n);
      // Field by field (no `{ ...view, status }`: a spread followed by new keys is allocated in V8's old space).
      const view = (status: HoldView['status'], heldAmount: string, capturedAmount: string, releasedAmount: string): HoldView => ({
        holdId: data.holdId,
        walletId: data.debitAccountId,
        currency: data.currency,
        amount: placed,
        createdAt: toIsoTime(data.atMs),
        status,
        heldAmount,
        capturedAmount,
        releasedAmount,
      });
      switch (event.type) {
        case 'ledger.HoldPlaced.v1':
          return view('pending', event.data.amount, '0', '0');
        case 'ledger.HoldCaptured.v1':
          return view('captured', '0', event.data.capturedAmount, event.data.releasedAmount);
        case 'ledger.HoldReleased.v1':
          return view(event.data.heldAmount === '0' ? 'released' : 'pending', event.data.heldAmount, '0', event.data.releasedAmount);
        case 'ledger.HoldExpired.v1':
          return view('expired', '0', '0', event.data.releasedAmount);
      }
    }
  }
}

function walletSide(postings: readonly { accountId: string; side: string }[], side: 'debit' | 'credit', field: 'fromWalletId' | 'toWalletId') {
  const posting = postings.find((candidate) => candidate.side === side && !candidate.accountId.startsWith('sys:'));
  return posting ? { [field]: posting.accountId } : {};
}

/**
 * The id of what a command creates: from its key and its first attempt's time, so a retry names the same
 * thing and a key reused after its window a new one (the saga and the audit tell transfers apart by it).
 */
function createdId(namespace: string, idempotencyKey: string, context: PlanContext): string {
  return idFromKey(namespace, `${idempotencyKey}@${context.nowMs}`);
}

function entry(
  command: { idempotencyKey: string; entryId: string; kind: string; postings: Posting[]; references: Record<string, string> },
  systemAccounts: readonly string[],
): Plan {
  return { command: { type: 'PostEntry', ...command }, systemAccounts };
}

function move(debitAccountId: string, creditAccountId: string, amount: bigint, currency: Currency): Posting[] {
  return [
    { accountId: debitAccountId, side: 'debit', amount, currency },
    { accountId: creditAccountId, side: 'credit', amount, currency },
  ];
}

function walletOf(state: LedgerShardState, walletId: unknown): { ok: true; account: Account } | { ok: false; error: DomainError } {
  const account = typeof walletId === 'string' ? state.accounts.get(walletId) : undefined;
  if (account === undefined || account.kind !== 'wallet') return { ok: false, error: domainError('not_found', 'no such wallet', { walletId }) };
  return { ok: true, account };
}

/**
 * A hold id names a hold of this shard only: a capture or release naming another wallet than the
 * one the hold debits is refused, so a caller can never move a stranger's hold that shares its id.
 */
function holdOfAnotherWallet(state: LedgerShardState, holdId: unknown, walletId: unknown): DomainError | undefined {
  const hold = typeof holdId === 'string' ? state.holds.get(holdId) : undefined;
  return hold === undefined || hold.debitAccountId === walletId ? undefined : domainError('not_found', 'no such hold on this wallet', { holdId, walletId });
}

function amountField(value: unknown, field = 'amount'): bigint | DomainError {
  const parsed = parseAmount(value);
  return parsed.ok ? parsed.amount : invalid(field, parsed.error);
}

function currencyField(value: unknown, field = 'currency'): Currency | DomainError {
  return isCurrency(value) ? value : invalid(field, 'unsupported_currency');
}

function invalid(field: string, reason: string): DomainError {
  return domainError('validation_failed', `${field}: ${reason}`, { fields: [{ field, reason }] });
}

/** The reference naming a cross-shard transfer's leg (out, in, reversal). */
const SAGA_LEG_REFERENCE = 'leg';
/** The kinds of the transfer commands' entries, which no internal entry may take. */
const TRANSFER_LEG_KINDS = ['transfer', 'reversal'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function optional(values: Record<string, string | undefined>): Record<string, string> {
  const present: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (typeof value === 'string' && value.length > 0) present[key] = value;
  return present;
}
