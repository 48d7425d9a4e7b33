// `ledger.commands` on the bus: each request (or each command of a CommandBatch) goes to the application service, as is.
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { domainError, LEDGER_COMMAND_BATCH_MAX, LEDGER_TOPICS, type LedgerCommandBatch, type LedgerCommandEnvelope, type Reply } from '@ledger/contracts';
import { WalletLedgerService } from '../application/wallet-ledger.service';

@Controller()
export class LedgerCommandsController {
  constructor(@Inject(WalletLedgerService) private readonly ledger: WalletLedgerService) {}

  @MessagePattern<string>(LEDGER_TOPICS.commands)
  async handle(@Payload() message: LedgerCommandEnvelope | LedgerCommandBatch): Promise<Reply<unknown>> {
    if (message?.type !== 'CommandBatch') return this.ledger.execute(message);
    const { commands } = message as LedgerCommandBatch;
    if (!Array.isArray(commands) || commands.length === 0 || commands.length > LEDGER_COMMAND_BATCH_MAX) {
      return { ok: false, error: domainError('validation_failed', `commands: 1 to ${LEDGER_COMMAND_BATCH_MAX}`, { fields: [{ field: 'commands', reason: 'out_of_range' }] }) };
    }
    // Submitted in order, so the shard's writer decides them in the order they were sent.
    return { ok: true, value: await Promise.all(commands.map((command) => this.ledger.execute(command))) };
  }
}
