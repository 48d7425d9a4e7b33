// `ledger.queries` on the bus: reads of the wallet-ledger projection.
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { LEDGER_TOPICS, type LedgerQueryMessage, type Reply } from '@ledger/contracts';
import { WalletLedgerQueries } from '../application/wallet-ledger.queries.service';

@Controller()
export class LedgerQueriesController {
  constructor(@Inject(WalletLedgerQueries) private readonly queries: WalletLedgerQueries) {}

  @MessagePattern<string>(LEDGER_TOPICS.queries)
  handle(@Payload() query: LedgerQueryMessage): Promise<Reply<unknown>> {
    return this.queries.execute(query);
  }
}
