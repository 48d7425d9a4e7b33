// `ledger.commands` on the bus: each request goes to the application service, as is.
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { LEDGER_TOPICS, type LedgerCommandEnvelope, type Reply } from '@ledger/contracts';
import { WalletLedgerService } from '../application/wallet-ledger.service';

@Controller()
export class LedgerCommandsController {
  constructor(@Inject(WalletLedgerService) private readonly ledger: WalletLedgerService) {}

  @MessagePattern<string>(LEDGER_TOPICS.commands)
  handle(@Payload() message: LedgerCommandEnvelope): Promise<Reply<unknown>> {
    return this.ledger.execute(message);
  }
}
