// The card-issuer's Nest module: wiring only. `startCardIssuer` builds what it serves.
import { Module, type DynamicModule } from '@nestjs/common';
import { CardIssuerService } from './application/card-issuer.service';
import { CardCommandsController, CardQueriesController } from './transport/card-commands.controller';

@Module({})
export class CardIssuerModule {
  static register(service: CardIssuerService): DynamicModule {
    return {
      module: CardIssuerModule,
      controllers: [CardCommandsController, CardQueriesController],
      providers: [{ provide: CardIssuerService, useValue: service }],
    };
  }
}
