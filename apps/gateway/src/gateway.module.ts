// The gateway's Nest module: wiring only. `startGateway` builds what it provides.
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import type { Clock, IdGenerator } from '@ledger/contracts';
import { IdentityClient } from '@ledger/messaging';
import { AccessTokenVerifier } from './application/access-tokens';
import { CardOperations } from './application/card-operations';
import { IdempotencyService } from './application/idempotency.service';
import { RateLimiter } from './application/rate-limiter';
import { WalletOperations } from './application/wallet-operations';
import type { GatewayConfig } from './gateway.config';
import { CLOCK, GATEWAY_CONFIG, GATEWAY_LOGGER, ID_GENERATOR, READINESS_CHECKS } from './gateway.tokens';
import type { GatewayLogger } from './observability/logger';
import { GatewayMetrics } from './observability/metrics';
import type { ReadinessCheck } from './observability/readiness';
import { AdminController } from './transport/admin.controller';
import { CardsController } from './transport/cards.controller';
import { ErrorEnvelopeFilter } from './transport/error-envelope.filter';
import { IdempotencyInterceptor } from './transport/idempotency.interceptor';
import { IdentityController } from './transport/identity.controller';
import { NetworkController } from './transport/network.controller';
import { OperationsController } from './transport/operations.controller';
import { RequestGuard } from './transport/request.guard';
import { gatewayValidationPipe } from './transport/validation';
import { WalletsController } from './transport/wallets.controller';

export interface GatewayComponents {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: GatewayLogger;
  readonly metrics: GatewayMetrics;
  readonly identity: IdentityClient;
  readonly wallets: WalletOperations;
  readonly cards: CardOperations;
  readonly tokens: AccessTokenVerifier;
  readonly idempotency: IdempotencyService;
  readonly rateLimiter: RateLimiter;
  readonly readinessChecks: readonly ReadinessCheck[];
}

@Module({})
export class GatewayModule {
  static register(components: GatewayComponents): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [IdentityController, WalletsController, CardsController, NetworkController, AdminController, OperationsController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: components.config },
        { provide: CLOCK, useValue: components.clock },
        { provide: ID_GENERATOR, useValue: components.ids },
        { provide: GATEWAY_LOGGER, useValue: components.logger },
        { provide: READINESS_CHECKS, useValue: [...components.readinessChecks] },
        { provide: GatewayMetrics, useValue: components.metrics },
        { provide: IdentityClient, useValue: components.identity },
        { provide: WalletOperations, useValue: components.wallets },
        { provide: CardOperations, useValue: components.cards },
        { provide: AccessTokenVerifier, useValue: components.tokens },
        { provide: IdempotencyService, useValue: components.idempotency },
        { provide: RateLimiter, useValue: components.rateLimiter },
        { provide: APP_GUARD, useClass: RequestGuard },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_PIPE, useValue: gatewayValidationPipe() },
        { provide: APP_FILTER, useClass: ErrorEnvelopeFilter },
      ],
    };
  }
}
