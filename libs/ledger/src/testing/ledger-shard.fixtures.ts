// Commands and histories the ledger specs share: a USD and a JPY funding account, wallets.
import type { Currency } from '@ledger/contracts';
import type { LedgerEvent } from '../ledger-shard';
import {
  commandFingerprint,
  decide,
  ledgerShard,
  type CloseAccount,
  type FreezeAccount,
  type LedgerCommand,
  type OpenAccount,
  type PlaceHold,
  type PostEntry,
} from '../ledger-shard.commands';

export const NOW_MS = 1_700_000_000_000;
export const HOUR_MS = 60 * 60 * 1000;

export function openWallet(accountId: string, currency: Currency = 'USD'): OpenAccount {
  return {
    type: 'OpenAccount',
    idempotencyKey: `open-${accountId}`,
    accountId,
    currency,
    normalSide: 'credit',
    flags: { debitsMustNotExceedCredits: true },
    kind: 'wallet',
    ownerId: `owner-of-${accountId}`,
  };
}

/** Funding: a debit-normal system account that money enters the platform through. */
export function openFunding(currency: Currency = 'USD'): OpenAccount {
  const accountId = `sys:funding:${currency}:0`;
  return { type: 'OpenAccount', idempotencyKey: `open-${accountId}`, accountId, currency, normalSide: 'debit', flags: {}, kind: 'system' };
}

export function transfer(key: string, fromId: string, toId: string, amount: bigint, currency: Currency = 'USD'): PostEntry {
  return {
    type: 'PostEntry',
    idempotencyKey: key,
    entryId: `entry-${key}`,
    kind: 'transfer',
    postings: [
      { accountId: fromId, side: 'debit', amount, currency },
      { accountId: toId, side: 'credit', amount, currency },
    ],
  };
}

export function topUp(key: string, walletId: string, amount: bigint, currency: Currency = 'USD'): PostEntry {
  return { ...transfer(key, `sys:funding:${currency}:0`, walletId, amount, currency), kind: 'top_up' };
}

export function placeHold(key: string, holdId: string, debitAccountId: string, creditAccountId: string, amount: bigint): PlaceHold {
  return { type: 'PlaceHold', idempotencyKey: key, holdId, debitAccountId, creditAccountId, amount, expiresAtMs: NOW_MS + HOUR_MS };
}

export function freeze(key: string, accountId: string): FreezeAccount {
  return { type: 'FreezeAccount', idempotencyKey: key, accountId };
}

export function close(key: string, accountId: string): CloseAccount {
  return { type: 'CloseAccount', idempotencyKey: key, accountId };
}

/** The stamp decide puts on the event of `command` at `atMs`. */
export function stampOf(command: LedgerCommand, atMs: number = NOW_MS) {
  return { idempotencyKey: command.idempotencyKey, fingerprint: commandFingerprint(command), atMs };
}

/** The events that running `commands` in order produce at NOW_MS; throws if one is rejected. */
export function historyOf(...commands: LedgerCommand[]): LedgerEvent[] {
  const state = ledgerShard.initialState();
  const events: LedgerEvent[] = [];
  for (const command of commands) {
    const result = decide(command, state, { nowMs: NOW_MS });
    if (!result.ok) throw new Error(`fixture command ${command.idempotencyKey} rejected: ${JSON.stringify(result.error)}`);
    for (const event of result.events) {
      ledgerShard.evolve(state, event);
      events.push(event);
    }
  }
  return events;
}

/** USD funding, wallets alice and bob (USD, alice holds 10000), JPY funding and wallet yuki. */
export const BASE = [
  openFunding('USD'),
  openWallet('alice'),
  openWallet('bob'),
  openFunding('JPY'),
  openWallet('yuki', 'JPY'),
  topUp('top-up-alice', 'alice', 10_000n),
];
