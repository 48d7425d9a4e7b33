// `identity.commands` on the bus: each request goes to the application service, as is.
import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { IDENTITY_TOPICS, type IdentityCommandEnvelope, type IdentityReply } from '@ledger/contracts';
import { IdentityService } from '../application/identity.service';

@Controller()
export class IdentityCommandsController {
  constructor(@Inject(IdentityService) private readonly identity: IdentityService) {}

  @MessagePattern<string>(IDENTITY_TOPICS.commands)
  handle(@Payload() message: IdentityCommandEnvelope): Promise<IdentityReply<unknown>> {
    return this.identity.execute(message);
  }
}
