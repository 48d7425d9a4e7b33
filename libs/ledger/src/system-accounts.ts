// The platform's own ledger accounts, per currency and shard, and which shard owns any account.
// Pure: ids are readable and carry their shard (docs/decisions.md, wallet-ledger conventions).
import { isCurrency, type Currency } from '@ledger/contracts';
import { accountShard, type Side } from './account';
import type { OpenAccount } from './ledger-shard.commands';

export type SystemRole = 'funding' | 'withdrawals' | 'card-clearing' | 'fees';

const SYSTEM_ROLES: readonly SystemRole[] = ['funding', 'withdrawals', 'card-clearing', 'fees'];

/** Money enters through funding (debit-normal: it goes up as top-ups come in); the rest owe it out. */
const ROLE_NORMAL_SIDE: Record<SystemRole, Side> = {
  funding: 'debit',
  withdrawals: 'credit',
  'card-clearing': 'credit',
  fees: 'credit',
};

export function systemAccountId(role: SystemRole, currency: Currency, shard: number): string {
  return `sys:${role}:${currency}:${shard}`;
}

/** Credited on the source shard when a transfer leaves for `destinationShard`. */
export function transitToId(destinationShard: number, currency: Currency, sourceShard: number): string {
  return `sys:transit-to-${destinationShard}:${currency}:${sourceShard}`;
}

/** Debited on the destination shard when a transfer from `sourceShard` arrives. */
export function transitFromId(sourceShard: number, currency: Currency, destinationShard: number): string {
  return `sys:transit-from-${sourceShard}:${currency}:${destinationShard}`;
}

/** Every system account a ledger of `shards` shards may hold in `currency`: what a check of its global sum must add up. */
export function systemAccountIds(currency: Currency, shards: number): string[] {
  const ids: string[] = [];
  for (let shard = 0; shard < shards; shard++) {
    for (const role of SYSTEM_ROLES) ids.push(systemAccountId(role, currency, shard));
    for (let other = 0; other < shards; other++) {
      if (other !== shard) ids.push(transitToId(other, currency, shard), transitFromId(other, currency, shard));
    }
  }
  return ids;
}

// Shard numbers as the writers spell them (no leading zero): `sys:fees:USD:00` would be a second fees account of shard 0.
const SHARD_NUMBER = '(?:0|[1-9][0-9]{0,3})';
const SYSTEM_ID = new RegExp(`^sys:(funding|withdrawals|card-clearing|fees|transit-to-${SHARD_NUMBER}|transit-from-${SHARD_NUMBER}):([A-Z]{3}):(${SHARD_NUMBER})$`);

interface ParsedSystemAccount {
  readonly role: string;
  readonly currency: Currency;
  readonly shard: number;
}

export function parseSystemAccountId(accountId: string): ParsedSystemAccount | undefined {
  const match = SYSTEM_ID.exec(accountId);
  if (!match || !isCurrency(match[2])) return undefined;
  return { role: match[1], currency: match[2], shard: Number(match[3]) };
}

/** A transit account (`sys:transit-to-…`, `sys:transit-from-…`): only the transfer saga's legs move money there. */
export function isTransitAccountId(accountId: string): boolean {
  return parseSystemAccountId(accountId)?.role.startsWith('transit-') === true;
}

/** A source shard's transit account (`sys:transit-to-…`): a debit there is a cross-shard transfer coming back (its reversal). */
export function isTransitToAccountId(accountId: string): boolean {
  return parseSystemAccountId(accountId)?.role.startsWith('transit-to-') === true;
}

export function isSystemAccountId(accountId: string): boolean {
  return accountId.startsWith('sys:');
}

/** The shard that owns an account: a system account names it, a wallet's is the hash of its id. */
export function shardOf(accountId: string, shards: number): number | undefined {
  if (!isSystemAccountId(accountId)) return accountShard(accountId, shards);
  const parsed = parseSystemAccountId(accountId);
  if (parsed === undefined || parsed.shard >= shards) return undefined;
  const peer = transitPeerOf(parsed.role);
  return peer === undefined || (peer < shards && peer !== parsed.shard) ? parsed.shard : undefined;
}

/**
 * The other shard a transit account names (undefined for the other roles). One past the last names none, and its own
 * shard no transfer (one within a shard is one entry): each was opened on demand, and a saga leg moved money through it.
 */
function transitPeerOf(role: string): number | undefined {
  const peer = /^transit-(?:to|from)-([0-9]+)$/.exec(role);
  return peer === null ? undefined : Number(peer[1]);
}

/** The command that opens a system account, or undefined if the id names none. */
export function openSystemAccount(accountId: string): OpenAccount | undefined {
  const parsed = parseSystemAccountId(accountId);
  if (parsed === undefined) return undefined;
  const normalSide: Side = (SYSTEM_ROLES as readonly string[]).includes(parsed.role)
    ? ROLE_NORMAL_SIDE[parsed.role as SystemRole]
    : parsed.role.startsWith('transit-to-')
      ? 'credit'
      : 'debit';
  return {
    type: 'OpenAccount',
    idempotencyKey: `open:${accountId}`,
    accountId,
    currency: parsed.currency,
    normalSide,
    flags: {},
    kind: 'system',
  };
}
