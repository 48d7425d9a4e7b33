// How the gateway talks to the card-issuer: request/reply on `cards.commands` and `cards.queries`,
// keyed with cardKeyOf (one card's, or one authorization's, messages share a partition), as
// LedgerClient does for the ledger.
import { firstValueFrom } from 'rxjs';
import { CARD_TOPICS, cardKeyOf, type CardCommandEnvelope, type CardQueryMessage, type Reply } from '@ledger/contracts';
import { keyed, type RequestSender } from '@ledger/messaging';

export class CardClient {
  constructor(private readonly client: RequestSender) {}

  command<T = unknown>(message: CardCommandEnvelope): Promise<Reply<T>> {
    return firstValueFrom(this.client.send<Reply<T>>(CARD_TOPICS.commands, keyed(cardKeyOf(message), message)));
  }

  query<T = unknown>(message: CardQueryMessage): Promise<Reply<T>> {
    return firstValueFrom(this.client.send<Reply<T>>(CARD_TOPICS.queries, keyed(cardKeyOf(message), message)));
  }
}
