// The identity service's Nest module: wiring only. `startIdentity` builds what it serves.
import { Module, type DynamicModule } from '@nestjs/common';
import { IdentityService } from './application/identity.service';
import { IdentityCommandsController } from './transport/identity-commands.controller';

@Module({})
export class IdentityModule {
  static register(service: IdentityService): DynamicModule {
    return {
      module: IdentityModule,
      controllers: [IdentityCommandsController],
      providers: [{ provide: IdentityService, useValue: service }],
    };
  }
}
