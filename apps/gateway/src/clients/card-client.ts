// How the gateway talks to the card-issuer: request/reply on `cards.commands` and `cards.queries`,
// keyed with cardKeyOf (one card's, or one authorization's, messages share a partition), as
// LedgerClient does for the ledger.
import { firstValueFrom } from 'rxjs';
import { CARD_TOPICS, cardKeyOf, type CardCommandEnvelope, type CardQueryMessage, type Reply } from '@ledger/contracts';
import { BUS_HEADERS, keyed, type RequestSender } from '@ledger/messaging';

export class CardClient {
  constructor(private readonly client: RequestSender) {}

  /** `deadlineMs`: when the caller stops waiting (the card-issuer does not decide it past then), as LedgerClient's. */
  command<T = unknown>(message: CardCommandEnvelope, deadlineMs?: number): Promise<Reply<T>> {
    const headers: Record<string, string> = deadlineMs === undefined ? {} : { [BUS_HEADERS.deadline]: String(deadlineMs) };
    return firstValueFrom(this.client.send<Reply<T>>(CARD_TOPICS.commands, keyed(cardKeyOf(message), message, { headers })));
  }

  query<T = unknown>(message: CardQueryMessage): Promise<Reply<T>> {
    return firstValueFrom(this.client.send<Reply<T>>(CARD_TOPICS.queries, keyed(cardKeyOf(message), message)));
  }
}
