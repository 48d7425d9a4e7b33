// A reference model of the wallet-ledger as a client sees it, for the property test: plain Maps
// of bigint and the rules written out once more (no overdraft, a frozen wallet receives but
// does not send, a key's first outcome wins, a cross-currency transfer comes back). It knows
// nothing of shards' internals beyond which shard a wallet is on and that keys are per shard.
import { canonicalJson, type LedgerCommandMessage } from '@ledger/contracts';

export type ModelOutcome = { readonly ok: true } | { readonly ok: false; readonly code: string };

export interface ModelWallet {
  readonly id: string;
  readonly currency: string;
  readonly shard: number;
  /** `unopened`: an id a transfer may name before OpenWallet opens it. */
  status: 'unopened' | 'active' | 'frozen' | 'closed';
  /** Posted balance once every transfer in flight has landed. */
  posted: bigint;
  /** What holds reserve (the wallet's debitsPending). */
  pending: bigint;
  /** Part of `posted` still in flight towards this wallet (an in leg or a reversal not yet seen). */
  incoming: bigint;
}

export interface ModelHold {
  readonly id: string;
  readonly walletId: string;
  held: bigint;
  status: 'pending' | 'captured' | 'released' | 'expired';
  readonly expiresAtMs: number;
  /** When it stopped being pending: its id is free again IDEMPOTENCY_WINDOW_MS later. */
  finishedAtMs?: number;
}

/** How long a key's first outcome and a finished hold's id are remembered (the ledger's IDEMPOTENCY_WINDOW_MS). */
export const MODEL_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The default hold timeout of the service (HOLD_TIMEOUT_MS). */
export const MODEL_HOLD_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000;

/** Which balance to judge a debit against while money is in flight towards the wallet. */
type View = 'landed' | 'eventual';

export class WalletLedgerModel {
  readonly wallets = new Map<string, ModelWallet>();
  readonly holds = new Map<string, ModelHold>();
  /** `${shard}|${key}` -> the command's fingerprint and first outcome: keys are remembered per shard. */
  private readonly outcomes = new Map<string, { readonly fingerprint: string; readonly outcome: ModelOutcome; readonly atMs: number }>();

  constructor(public nowMs: number) {}

  openWallet(id: string, currency: string, shard: number, status: 'active' | 'unopened' = 'active'): void {
    this.wallets.set(id, { id, currency, shard, status, posted: 0n, pending: 0n, incoming: 0n });
  }

  wallet(id: string): ModelWallet {
    const wallet = this.wallets.get(id);
    if (wallet === undefined) throw new Error(`model: no wallet ${id}`);
    return wallet;
  }

  /** The wallet whose funds decide `message`, if any (a debit may depend on money still in flight). */
  debitedWallet(message: LedgerCommandMessage): string | undefined {
    switch (message.type) {
      case 'Withdraw':
      case 'PlaceHold':
      case 'CloseWallet':
        return message.walletId;
      case 'Transfer':
        return message.fromWalletId;
      default:
        return undefined;
    }
  }

  /** True when the outcome depends on whether money in flight has landed yet: settle the wallet first. */
  isAmbiguous(message: LedgerCommandMessage, key: string): boolean {
    const landed = this.decide(message, key, 'landed');
    const eventual = this.decide(message, key, 'eventual');
    return landed.outcome.ok !== eventual.outcome.ok || (!landed.outcome.ok && !eventual.outcome.ok && landed.outcome.code !== eventual.outcome.code);
  }

  /** Everything in flight towards `walletId` has landed. */
  landed(walletId: string): void {
    this.wallet(walletId).incoming = 0n;
  }

  /** Runs `message` with `key` against the model: its outcome, and the state after it. */
  apply(message: LedgerCommandMessage, key: string): ModelOutcome {
    const { outcome, effect, record } = this.decide(message, key, 'eventual');
    effect?.();
    if (record) this.outcomes.set(record.slot, { fingerprint: record.fingerprint, outcome, atMs: this.nowMs });
    return outcome;
  }

  /** Whether `key` still has a first outcome on the shard `message` goes to (a day after it, it is new). */
  remembers(message: LedgerCommandMessage, key: string): boolean {
    return this.remembered(`${this.primaryShard(message)}|${key}`) !== undefined;
  }

  /** A hold as the service knows it: a finished one is forgotten a day after it finished. */
  knownHold(holdId: string): ModelHold | undefined {
    const hold = this.holds.get(holdId);
    return hold?.finishedAtMs !== undefined && hold.finishedAtMs <= this.nowMs - MODEL_WINDOW_MS ? undefined : hold;
  }

  private remembered(slot: string) {
    const prior = this.outcomes.get(slot);
    return prior === undefined || prior.atMs <= this.nowMs - MODEL_WINDOW_MS ? undefined : prior;
  }

  /** Moves the clock; pending holds whose time has come expire (the service's sweep does it). */
  advance(ms: number): string[] {
    this.nowMs += ms;
    const expired: string[] = [];
    for (const hold of this.holds.values()) {
      if (hold.status !== 'pending' || hold.expiresAtMs > this.nowMs) continue;
      this.wallet(hold.walletId).pending -= hold.held;
      hold.held = 0n;
      hold.status = 'expired';
      hold.finishedAtMs = this.nowMs;
      expired.push(hold.id);
    }
    return expired;
  }

  private decide(
    message: LedgerCommandMessage,
    key: string,
    view: View,
  ): { outcome: ModelOutcome; effect?: () => void; record?: { slot: string; fingerprint: string } } {
    const slot = `${this.primaryShard(message)}|${key}`;
    const fingerprint = canonicalJson(fingerprintOf(message));
    const prior = this.remembered(slot);
    if (prior !== undefined) {
      return { outcome: prior.fingerprint === fingerprint ? prior.outcome : fail('idempotency_key_reuse') };
    }
    const decided = this.decideNew(message, view);
    return decided.unrecorded ? decided : { ...decided, record: { slot, fingerprint } };
  }

  /** `unrecorded`: refused before it became a ledger command (an unknown wallet): a retry is decided anew (docs/decisions.md). */
  private decideNew(message: LedgerCommandMessage, view: View): { outcome: ModelOutcome; effect?: () => void; unrecorded?: true } {
    const spendable = (wallet: ModelWallet) => wallet.posted - wallet.pending - (view === 'landed' ? wallet.incoming : 0n);
    switch (message.type) {
      case 'TopUp': {
        const wallet = this.wallet(message.walletId);
        const amount = BigInt(message.amount);
        if (wallet.status === 'closed') return { outcome: fail('wallet_not_active') };
        return { outcome: OK, effect: () => void (wallet.posted += amount) };
      }
      case 'Withdraw': {
        const wallet = this.wallet(message.walletId);
        const amount = BigInt(message.amount);
        if (wallet.status !== 'active') return { outcome: fail('wallet_not_active') };
        if (spendable(wallet) < amount) return { outcome: fail('insufficient_funds') };
        return { outcome: OK, effect: () => void (wallet.posted -= amount) };
      }
      case 'Transfer': {
        const from = this.wallet(message.fromWalletId);
        const to = this.wallet(message.toWalletId);
        const amount = BigInt(message.amount);
        if (from.id === to.id) return { outcome: fail('validation_failed') };
        const sameShard = from.shard === to.shard;
        // Across shards the destination is the destination shard's to judge (then reversed).
        if (sameShard && to.status === 'unopened') return { outcome: fail('not_found'), unrecorded: true };
        // On one shard the entry is checked as a whole: the destination's currency first.
        if (sameShard && to.currency !== from.currency) return { outcome: fail('currency_mismatch') };
        if (from.status !== 'active') return { outcome: fail('wallet_not_active') };
        // A closed wallet takes no money: refused at once on one shard, by the destination (then reversed) across shards.
        if (sameShard && to.status === 'closed') return { outcome: fail('wallet_not_active') };
        if (spendable(from) < amount) return { outcome: fail('insufficient_funds') };
        return {
          outcome: OK,
          effect: () => {
            from.posted -= amount;
            if (sameShard) {
              to.posted += amount;
              return;
            }
            // Across shards the money leaves now and lands later: at the destination, or back
            // at the source when the destination refuses it (another currency).
            const lands = to.currency === from.currency && to.status !== 'closed' && to.status !== 'unopened' ? to : from;
            lands.posted += amount;
            lands.incoming += amount;
          },
        };
      }
      case 'PlaceHold': {
        const wallet = this.wallet(message.walletId);
        const amount = BigInt(message.amount);
        if (this.knownHold(message.holdId) !== undefined) return { outcome: fail('validation_failed') };
        if (wallet.status !== 'active') return { outcome: fail('wallet_not_active') };
        if (spendable(wallet) < amount) return { outcome: fail('insufficient_funds') };
        const expiresAtMs = this.nowMs + (message.timeoutMs ?? MODEL_HOLD_TIMEOUT_MS);
        return {
          outcome: OK,
          effect: () => {
            wallet.pending += amount;
            this.holds.set(message.holdId, { id: message.holdId, walletId: wallet.id, held: amount, status: 'pending', expiresAtMs });
          },
        };
      }
      case 'CaptureHold':
      case 'ReleaseHold': {
        const hold = this.knownHold(message.holdId);
        // The command goes to the shard of the wallet it names; the hold lives on its own wallet's.
        if (hold === undefined || this.wallet(hold.walletId).shard !== this.wallet(message.walletId).shard) return { outcome: fail('not_found') };
        if (hold.status !== 'pending') return { outcome: fail('hold_not_pending') };
        const wallet = this.wallet(hold.walletId);
        if (message.type === 'CaptureHold') {
          const amount = BigInt(message.amount);
          if (amount > hold.held) return { outcome: fail('amount_exceeds_hold') };
          return {
            outcome: OK,
            effect: () => {
              wallet.pending -= hold.held;
              wallet.posted -= amount;
              hold.held = 0n;
              hold.status = 'captured';
              hold.finishedAtMs = this.nowMs;
            },
          };
        }
        const released = message.amount === undefined ? hold.held : BigInt(message.amount);
        if (released > hold.held) return { outcome: fail('amount_exceeds_hold') };
        return {
          outcome: OK,
          effect: () => {
            wallet.pending -= released;
            hold.held -= released;
            if (hold.held === 0n) {
              hold.status = 'released';
              hold.finishedAtMs = this.nowMs;
            }
          },
        };
      }
      case 'FreezeWallet': {
        const wallet = this.wallet(message.walletId);
        if (wallet.status !== 'active') return { outcome: fail('wallet_not_active') };
        return { outcome: OK, effect: () => void (wallet.status = 'frozen') };
      }
      case 'UnfreezeWallet': {
        const wallet = this.wallet(message.walletId);
        if (wallet.status === 'closed') return { outcome: fail('wallet_not_active') };
        if (wallet.status !== 'frozen') return { outcome: fail('validation_failed') };
        return { outcome: OK, effect: () => void (wallet.status = 'active') };
      }
      case 'OpenWallet': {
        const wallet = this.wallet(message.walletId);
        if (wallet.status !== 'unopened') return { outcome: fail('account_exists') };
        return { outcome: OK, effect: () => void (wallet.status = 'active') };
      }
      case 'CloseWallet': {
        const wallet = this.wallet(message.walletId);
        if (wallet.status === 'closed') return { outcome: fail('wallet_not_active') };
        if (wallet.posted - (view === 'landed' ? wallet.incoming : 0n) !== 0n || wallet.pending !== 0n) return { outcome: fail('balance_not_zero') };
        return { outcome: OK, effect: () => void (wallet.status = 'closed') };
      }
      default:
        throw new Error(`model: ${message.type} is not modelled`);
    }
  }

  private primaryShard(message: LedgerCommandMessage): number {
    switch (message.type) {
      case 'Transfer':
        return this.wallet(message.fromWalletId).shard;
      case 'OpenWallet':
      case 'TopUp':
      case 'Withdraw':
      case 'PlaceHold':
      case 'CaptureHold':
      case 'ReleaseHold':
      case 'FreezeWallet':
      case 'UnfreezeWallet':
      case 'CloseWallet':
        return this.wallet(message.walletId).shard;
      default:
        throw new Error(`model: ${message.type} is not modelled`);
    }
  }
}

const OK: ModelOutcome = { ok: true };

function fail(code: string): ModelOutcome {
  return { ok: false, code };
}

/**
 * What tells a retry from a reused key: the fields the ledger command is built from. The
 * wallet a capture or release names only routes it, so it is not part of the command.
 */
function fingerprintOf(message: LedgerCommandMessage): unknown {
  if (message.type === 'CaptureHold' || message.type === 'ReleaseHold') {
    const { walletId: _routing, ...rest } = message;
    return rest;
  }
  return message;
}
