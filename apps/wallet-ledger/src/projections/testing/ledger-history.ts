// Test support for the projection specs: runs commands through the real ledger decider, shard by
// shard, and appends the events it produces (rejections too) to `ledger-{shard}` in a real store.
import type { Currency, Json, NewEvent } from '@ledger/contracts';
import { toIsoTime, uuidv7 } from '@ledger/contracts';
import { expectedState, type EventStore } from '@ledger/event-store';
import {
  decide,
  evolve,
  initialState,
  openSystemAccount,
  rejectionEvent,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerShardState,
  type OpenAccount,
  type PostEntry,
} from '@ledger/ledger';

/** The time both the commands and the store's `recordedAt` read; tests move it by hand. */
export interface TestClock {
  ms: number;
}

export class LedgerHistory {
  private readonly states = new Map<number, LedgerShardState>();

  constructor(
    private readonly store: EventStore,
    private readonly clock: TestClock,
  ) {}

  /**
   * Decides `commands` in order on `shard` at the clock's time and appends what they produce in
   * one append. A rejected command appends its `CommandRejected` only when `rejections` allows it.
   */
  async run(shard: number, commands: readonly LedgerCommand[], options: { rejections?: 'append' | 'throw' } = {}): Promise<bigint> {
    const state = this.state(shard);
    const nowMs = this.clock.ms;
    const events: LedgerEvent[] = [];
    for (const command of commands) {
      const result = decide(command, state, { nowMs });
      if (result.ok) {
        for (const event of result.events) {
          evolve(state, event);
          events.push(event);
        }
        continue;
      }
      if (options.rejections !== 'append') throw new Error(`${command.type} ${command.idempotencyKey} rejected: ${JSON.stringify(result.error)}`);
      const rejected = rejectionEvent(state, command, result.error, { nowMs });
      if (rejected === undefined) continue;
      evolve(state, rejected);
      events.push(rejected);
    }
    const appended = await this.store.append(`ledger-${shard}`, events.map((event) => newEvent(event, nowMs)), expectedState.any);
    return appended.position;
  }

  /** The decider's own state of a shard: what the projection must agree with. */
  state(shard: number): LedgerShardState {
    let state = this.states.get(shard);
    if (state === undefined) {
      state = initialState();
      this.states.set(shard, state);
    }
    return state;
  }
}

function newEvent(event: LedgerEvent, nowMs: number): NewEvent {
  const eventId = uuidv7.next();
  return {
    eventId,
    type: event.type,
    schemaVersion: 1,
    data: event.data as unknown as Json,
    metadata: { correlationId: eventId, causationId: eventId, actor: 'test', idempotencyKey: event.data.idempotencyKey, occurredAt: toIsoTime(nowMs) },
  };
}

export function openWallet(walletId: string, ownerId: string, currency: Currency = 'USD'): OpenAccount {
  return {
    type: 'OpenAccount',
    idempotencyKey: `open:${walletId}`,
    accountId: walletId,
    currency,
    normalSide: 'credit',
    flags: { debitsMustNotExceedCredits: true },
    kind: 'wallet',
    ownerId,
  };
}

export function openSystem(accountId: string): OpenAccount {
  const command = openSystemAccount(accountId);
  if (command === undefined) throw new Error(`not a system account id: ${accountId}`);
  return command;
}

export function entry(
  key: string,
  entryId: string,
  kind: string,
  debitAccountId: string,
  creditAccountId: string,
  amount: bigint,
  references: Record<string, string> = {},
  currency: Currency = 'USD',
): PostEntry {
  return {
    type: 'PostEntry',
    idempotencyKey: key,
    entryId,
    kind,
    postings: [
      { accountId: debitAccountId, side: 'debit', amount, currency },
      { accountId: creditAccountId, side: 'credit', amount, currency },
    ],
    references,
  };
}
