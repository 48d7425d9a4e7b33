// How any service talks to the wallet-ledger: a command goes to the partition of its shard on
// `ledger.commands` (so the shard's one writer gets it), a query to `ledger.queries`.
import { firstValueFrom } from 'rxjs';
import type { Observable } from 'rxjs';
import { domainError, LEDGER_TOPICS, type LedgerCommandEnvelope, type LedgerQueryMessage, type Reply } from '@ledger/contracts';
import { shardOfCommand } from '@ledger/ledger';
import { keyed } from '../nest/bus-protocol';

/** The one method of a Nest ClientProxy this needs (any transport's). */
export interface RequestSender {
  send<TResult = unknown, TInput = unknown>(pattern: string, data: TInput): Observable<TResult>;
}

export class LedgerClient {
  constructor(
    private readonly client: RequestSender,
    private readonly shards: number,
  ) {}

  command<T = unknown>(message: LedgerCommandEnvelope): Promise<Reply<T>> {
    const shard = shardOfCommand(message, this.shards);
    if (shard === undefined) return Promise.resolve({ ok: false, error: domainError('not_found', 'no such wallet or account') });
    return firstValueFrom(this.client.send<Reply<T>>(LEDGER_TOPICS.commands, keyed(String(shard), message, { partition: shard })));
  }

  query<T = unknown>(message: LedgerQueryMessage): Promise<Reply<T>> {
    const key = 'walletId' in message ? message.walletId : 'ownerId' in message ? message.ownerId : message.accountId;
    return firstValueFrom(this.client.send<Reply<T>>(LEDGER_TOPICS.queries, keyed(String(key), message)));
  }
}
