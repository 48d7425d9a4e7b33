// The wallet-ledger's Nest module: wiring only. `startWalletLedger` builds what it serves.
import { Inject, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { WalletLedgerQueries } from './application/wallet-ledger.queries.service';
import { WalletLedgerService } from './application/wallet-ledger.service';
import { LedgerCommandsController } from './transport/ledger-commands.controller';
import { LedgerQueriesController } from './transport/ledger-queries.controller';

@Module({})
export class WalletLedgerModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(WalletLedgerService) private readonly ledger: WalletLedgerService) {}

  static register(service: WalletLedgerService, queries: WalletLedgerQueries): DynamicModule {
    return {
      module: WalletLedgerModule,
      controllers: [LedgerCommandsController, LedgerQueriesController],
      providers: [
        { provide: WalletLedgerService, useValue: service },
        { provide: WalletLedgerQueries, useValue: queries },
      ],
    };
  }

  /** The writers rebuild their shards before the bus delivers the first command. */
  async onApplicationBootstrap(): Promise<void> {
    await this.ledger.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ledger.stop();
  }
}
