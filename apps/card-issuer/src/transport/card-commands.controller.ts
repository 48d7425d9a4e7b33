// `cards.commands` and `cards.queries` on the bus: each request goes to the application service, as is.
import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { BusContext } from '@ledger/messaging';
import { CARD_TOPICS, type CardCommandEnvelope, type CardQueryMessage, type CardReply } from '@ledger/contracts';
import { CardIssuerService } from '../application/card-issuer.service';

@Controller()
export class CardCommandsController {
  constructor(@Inject(CardIssuerService) private readonly cards: CardIssuerService) {}

  @MessagePattern<string>(CARD_TOPICS.commands)
  handle(@Payload() message: CardCommandEnvelope, @Ctx() context: BusContext): Promise<CardReply<unknown>> {
    return this.cards.execute(message, { deadlineMs: context.getDeadline() });
  }
}

@Controller()
export class CardQueriesController {
  constructor(@Inject(CardIssuerService) private readonly cards: CardIssuerService) {}

  @MessagePattern<string>(CARD_TOPICS.queries)
  handle(@Payload() message: CardQueryMessage): Promise<CardReply<unknown>> {
    return this.cards.query(message);
  }
}
