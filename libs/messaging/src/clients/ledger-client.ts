// How any service talks to the wallet-ledger: a command goes to the partition of its shard on
// `ledger.commands` (so the shard's one writer gets it), a query to `ledger.queries`.
import { firstValueFrom } from 'rxjs';
import type { Observable } from 'rxjs';
import {
  domainError,
  LEDGER_COMMAND_BATCH_MAX,
  LEDGER_TOPICS,
  type LedgerCommandBatch,
  type LedgerCommandEnvelope,
  type LedgerQueryMessage,
  type Reply,
} from '@ledger/contracts';
import { shardOfCommand } from '@ledger/ledger';
import { encode } from '../codec';
import { BUS_MESSAGE_BYTES_MIN } from '../messaging.config';
import { RequestTimeoutError } from '../nest/bus.client';
import { BUS_HEADERS, DEADLINE_CLOCK_SKEW_MS, keyed } from '../nest/bus-protocol';

/** The one method of a Nest ClientProxy this needs (any transport's). */
export interface RequestSender {
  send<TResult = unknown, TInput = unknown>(pattern: string, data: TInput): Observable<TResult>;
}

/**
 * Most bytes of commands one CommandBatch carries: a quarter of the least BUS_MAX_MESSAGE_BYTES,
 * leaving room for the batch's reply (each reply about its command's size) on any allowed bus.
 */
export const LEDGER_COMMAND_BATCH_BYTES_MAX = BUS_MESSAGE_BYTES_MIN / 4;

export interface LedgerClientOptions {
  /**
   * Send the commands of one shard issued in the same turn of the event loop as one
   * `CommandBatch` message (one bus round trip for many commands). Each caller still gets its own
   * reply; a batch that fails as a whole gives every command in it that failure.
   */
  readonly coalesce?: boolean;
}

/** Per request: when the caller's own requester stops waiting (BusContext.getDeadline), so the ledger is not asked past it. */
export interface LedgerRequestOptions {
  readonly deadlineMs?: number;
}

interface Waiting {
  readonly message: LedgerCommandEnvelope;
  readonly deadlineMs: number | undefined;
  readonly resolve: (reply: Reply<unknown>) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Whether `later` may go in the batch of `soonest`, which carries `soonest`'s deadline: the server refuses a batch that reaches
 * it DEADLINE_CLOCK_SKEW_MS past its deadline, so a command further off would be refused, with the whole batch, while its own
 * requester still waits (another card's hold failing for a gRPC client's tight deadline). Commands with none go together.
 */
function sharesDeadline(soonest: Waiting, later: Waiting): boolean {
  if (soonest.deadlineMs === undefined || later.deadlineMs === undefined) return soonest.deadlineMs === later.deadlineMs;
  return later.deadlineMs - soonest.deadlineMs <= DEADLINE_CLOCK_SKEW_MS;
}

export class LedgerClient {
  /** Per shard, the commands waiting for this turn's batch (only when coalescing). */
  private readonly waiting = new Map<number, Waiting[]>();

  constructor(
    private readonly client: RequestSender,
    private readonly shards: number,
    private readonly options: LedgerClientOptions = {},
  ) {}

  command<T = unknown>(message: LedgerCommandEnvelope, { deadlineMs }: LedgerRequestOptions = {}): Promise<Reply<T>> {
    const shard = shardOfCommand(message, this.shards);
    if (shard === undefined) return Promise.resolve({ ok: false, error: domainError('not_found', 'no such wallet or account') });
    if (!this.options.coalesce) return this.send<Reply<T>>(shard, message, deadlineMs);
    return new Promise<Reply<T>>((resolve, reject) => {
      let queue = this.waiting.get(shard);
      if (queue === undefined) {
        queue = [];
        this.waiting.set(shard, queue);
        setImmediate(() => this.flush(shard));
      }
      queue.push({ message, deadlineMs, resolve: resolve as (reply: Reply<unknown>) => void, reject });
    });
  }

  private send<R>(shard: number, message: LedgerCommandEnvelope | LedgerCommandBatch, deadlineMs: number | undefined, waitUntilMs?: number): Promise<R> {
    const headers: Record<string, string> = deadlineMs === undefined ? {} : { [BUS_HEADERS.deadline]: String(deadlineMs) };
    return firstValueFrom(this.client.send<R>(LEDGER_TOPICS.commands, keyed(String(shard), message, { partition: shard, headers, waitUntilMs })));
  }

  private flush(shard: number): void {
    const queue = this.waiting.get(shard) ?? [];
    this.waiting.delete(shard);
    const nowMs = Date.now();
    const live: Waiting[] = [];
    for (const each of queue) {
      if (each.deadlineMs !== undefined && each.deadlineMs <= nowMs) {
        // Its requester gave up while it waited for the turn: refused unsent, as alone; in the batch, its deadline timed out every command.
        each.reject(new RequestTimeoutError(LEDGER_TOPICS.commands, 0, 'not sent'));
        continue;
      }
      live.push(each);
    }
    // Soonest deadline first, none last, so each part holds deadlines close enough to share its soonest (see sharesDeadline).
    live.sort((a, b) => (a.deadlineMs ?? Infinity) - (b.deadlineMs ?? Infinity) || 0);
    let part: Waiting[] = [];
    let partBytes = 0;
    for (const each of live) {
      let bytes: number;
      try {
        bytes = encode(each.message).length;
      } catch (error) {
        // Refused alone, as the transport refuses it uncoalesced: thrown here (a timer) it ended the process and stranded the turn.
        each.reject(error);
        continue;
      }
      if (part.length > 0 && (part.length === LEDGER_COMMAND_BATCH_MAX || partBytes + bytes > LEDGER_COMMAND_BATCH_BYTES_MAX || !sharesDeadline(part[0], each))) {
        void this.sendPart(shard, part);
        part = [];
        partBytes = 0;
      }
      part.push(each);
      partBytes += bytes;
    }
    if (part.length > 0) void this.sendPart(shard, part);
  }

  /** Sends one part of a shard's batch; a transport failure (timeout, closed client) rejects every command in it, as it would each alone. */
  private async sendPart(shard: number, part: readonly Waiting[]): Promise<void> {
    const timers: NodeJS.Timeout[] = [];
    const sentAtMs = Date.now();
    try {
      // The soonest of the part's deadlines: no command is decided after its caller's requester gave up.
      const deadlines = part.flatMap((each) => (each.deadlineMs === undefined ? [] : [each.deadlineMs]));
      const deadlineMs = deadlines.length === 0 ? undefined : Math.min(...deadlines);
      if (part.length === 1) {
        part[0].resolve(await this.send<Reply<unknown>>(shard, part[0].message, deadlineMs));
        return;
      }
      // The batch's reply is awaited as long as its most patient command waits; each command still times out at its own deadline.
      const waitUntilMs = deadlines.length === part.length ? Math.max(...deadlines) : Infinity;
      for (const { deadlineMs: ownMs, reject } of part) {
        if (ownMs === undefined) continue;
        timers.push(setTimeout(() => reject(new RequestTimeoutError(LEDGER_TOPICS.commands, ownMs - sentAtMs, 'coalesced batch')), ownMs - sentAtMs));
      }
      const batch: LedgerCommandBatch = { type: 'CommandBatch', commands: part.map((each) => each.message) };
      const reply = await this.send<Reply<Reply<unknown>[]>>(shard, batch, deadlineMs, waitUntilMs);
      if (reply.ok && Array.isArray(reply.value) && reply.value.length === part.length) {
        const replies = reply.value;
        part.forEach((each, index) => each.resolve(replies[index]));
        return;
      }
      const failed: Reply<unknown> = reply.ok ? { ok: false, error: domainError('unavailable', 'the ledger answered a batch with the wrong number of replies', { retryable: true }) } : reply;
      for (const each of part) each.resolve(failed);
    } catch (error) {
      for (const each of part) each.reject(error);
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  query<T = unknown>(message: LedgerQueryMessage): Promise<Reply<T>> {
    const key = 'walletId' in message ? message.walletId : 'ownerId' in message ? message.ownerId : message.accountId;
    return firstValueFrom(this.client.send<Reply<T>>(LEDGER_TOPICS.queries, keyed(String(key), message)));
  }
}

