// The gRPC edge's Nest module: wiring only, over the same instances the HTTP module gets
// (rate-limit buckets, token verifier, Idempotency-Key records, service clients).
import { Catch, Module, type DynamicModule, type RpcExceptionFilter } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { throwError, type Observable } from 'rxjs';
import { AccessControl } from '../application/access-control';
import { CardOperations } from '../application/card-operations';
import { IdempotentExecution } from '../application/idempotent-execution';
import { IdentityOperations } from '../application/identity-operations';
import { WalletOperations } from '../application/wallet-operations';
import { networkApiKeyOf } from '../gateway.config';
import type { GatewayComponents } from '../gateway.module';
import type { GatewayLogger } from '../observability/logger';
import { toGrpcError } from '../transport/grpc-errors';
import { recordedOutcomeOf } from '../transport/http-errors';
import { AdminGrpcController } from './admin.grpc';
import { GrpcEdge } from './grpc-edge';
import { CardNetworkGrpcController, CardsGrpcController } from './cards.grpc';
import { IdentityGrpcController } from './identity.grpc';
import { WalletsGrpcController } from './wallets.grpc';

/** Every error of every gRPC method leaves through toGrpcError. */
@Catch()
class GrpcErrorFilter implements RpcExceptionFilter<unknown> {
  constructor(private readonly logger: GatewayLogger) {}

  catch(exception: unknown): Observable<never> {
    const mapped = toGrpcError(exception);
    if (mapped.unexpected) this.logger.error({ err: exception }, 'gRPC call failed');
    return throwError(() => mapped.error);
  }
}

@Module({})
export class GatewayGrpcModule {
  static register(components: GatewayComponents): DynamicModule {
    const { tokens, rateLimiter, wallets, cards, metrics } = components;
    const access = new AccessControl({ tokens, rateLimiter, wallets, cards, metrics, networkApiKey: networkApiKeyOf(components.config) });
    const execution = new IdempotentExecution(components.idempotency, components.metrics, components.ids, recordedOutcomeOf);
    return {
      module: GatewayGrpcModule,
      controllers: [IdentityGrpcController, WalletsGrpcController, CardsGrpcController, CardNetworkGrpcController, AdminGrpcController],
      providers: [
        { provide: GrpcEdge, useValue: new GrpcEdge(access, execution, components.ids, components, components.config.TRUST_PROXY_HOPS, components.config.BUS_REQUEST_TIMEOUT_MS) },
        { provide: WalletOperations, useValue: components.wallets },
        { provide: CardOperations, useValue: components.cards },
        { provide: IdentityOperations, useValue: new IdentityOperations(components.identity) },
        { provide: APP_FILTER, useValue: new GrpcErrorFilter(components.logger) },
      ],
    };
  }
}
