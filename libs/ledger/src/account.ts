// A ledger account: currency, normal side, flags, status, and its balance as four bigint sums.
import type { Currency } from '@ledger/contracts';
import { fnv1a32 } from './fnv1a';
import { SHARDS_MAX } from './limits';

export type Side = 'debit' | 'credit';
export type AccountStatus = 'active' | 'frozen' | 'closed';
/** Wallets belong to users; system accounts (funding, withdrawals, card clearing, fees, transit) to the platform. */
export type AccountKind = 'wallet' | 'system';

export interface AccountFlags {
  /** No overdraft: debits (posted and pending) never exceed posted credits. Every wallet has it. */
  readonly debitsMustNotExceedCredits: boolean;
  /** The mirror, for debit-normal accounts that must not go below zero. */
  readonly creditsMustNotExceedDebits: boolean;
}

/**
 * What an account has been through, in minor units. Pending sums are what holds reserve right
 * now (a capture or release takes them back out), so they are zero when no hold is open.
 */
export interface BalanceSums {
  readonly debitsPosted: bigint;
  readonly creditsPosted: bigint;
  readonly debitsPending: bigint;
  readonly creditsPending: bigint;
}

export interface Account extends BalanceSums {
  readonly id: string;
  readonly currency: Currency;
  readonly normalSide: Side;
  readonly flags: AccountFlags;
  readonly kind: AccountKind;
  readonly ownerId: string | null;
  readonly status: AccountStatus;
  /** The time of the command that opened it. */
  readonly openedAtMs: number;
}

export const ZERO_SUMS: BalanceSums = { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n };

const SUM_DIGITS = /^[0-9]+$/;

/** A stored balance sum: digits, but unlike an amount not bounded to 30 of them (sums add up amounts); throws on anything else. */
export function sumOf(text: string): bigint {
  if (typeof text !== 'string' || !SUM_DIGITS.test(text)) throw new TypeError('a stored balance sum is not a digit string');
  return BigInt(text);
}

/** Posted balance on the account's normal side: a wallet's `creditsPosted - debitsPosted`. */
export function postedBalance(account: Account): bigint {
  return account.normalSide === 'credit'
    ? account.creditsPosted - account.debitsPosted
    : account.debitsPosted - account.creditsPosted;
}

/** What holds reserve against the account: a wallet's `debitsPending`. */
export function pendingBalance(account: Account): bigint {
  return account.normalSide === 'credit' ? account.debitsPending : account.creditsPending;
}

/** What the owner can still spend: posted minus what holds reserve. Pending credits do not count. */
export function availableBalance(account: Account): bigint {
  return postedBalance(account) - pendingBalance(account);
}

/** True when a flagged account has more going out (posted and reserved) than has come in. */
export function isOverdrawn(account: Account): boolean {
  if (account.flags.debitsMustNotExceedCredits && account.debitsPosted + account.debitsPending > account.creditsPosted) {
    return true;
  }
  if (account.flags.creditsMustNotExceedDebits && account.creditsPosted + account.creditsPending > account.debitsPosted) {
    return true;
  }
  return false;
}

/** Closable: posted debits equal posted credits and no hold reserves anything. */
export function hasZeroBalance(account: BalanceSums): boolean {
  return account.debitsPosted === account.creditsPosted && account.debitsPending === 0n && account.creditsPending === 0n;
}

/** The account with `change` added to its sums (negative to take a hold back out). A new object. */
export function withBalanceChange(account: Account, change: Partial<BalanceSums>): Account {
  return {
    ...account,
    debitsPosted: account.debitsPosted + (change.debitsPosted ?? 0n),
    creditsPosted: account.creditsPosted + (change.creditsPosted ?? 0n),
    debitsPending: account.debitsPending + (change.debitsPending ?? 0n),
    creditsPending: account.creditsPending + (change.creditsPending ?? 0n),
  };
}

/** The change a posting of `amount` on `side` makes: to the posted sums, or with `pending` to the pending ones. */
export function sideChange(side: Side, amount: bigint, phase: 'posted' | 'pending' = 'posted'): Partial<BalanceSums> {
  if (phase === 'posted') return side === 'debit' ? { debitsPosted: amount } : { creditsPosted: amount };
  return side === 'debit' ? { debitsPending: amount } : { creditsPending: amount };
}

/** Which shard owns an account: FNV-1a (32-bit, UTF-8) of its id, modulo the shard count. Stable forever. */
export function accountShard(accountId: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1 || shards > SHARDS_MAX) {
    throw new RangeError(`shards must be an integer in 1..${SHARDS_MAX}, got ${shards}`);
  }
  return fnv1a32(accountId) % shards;
}
