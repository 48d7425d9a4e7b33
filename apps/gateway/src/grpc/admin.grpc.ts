// ledger.v1.Admin: API.md's admin read behind the same rules as its HTTP route (stated in its operation below).
import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { AccountSumsView } from '@ledger/contracts';
import { WalletOperations } from '../application/wallet-operations';
import { pathSegment } from '../application/idempotent-execution';
import { GrpcEdge, type GrpcCall, type GrpcOperation } from './grpc-edge';

interface AccountRequest {
  readonly accountId?: string;
}

export const ADMIN_OPERATIONS = {
  GetLedgerAccount: {
    http: (request: AccountRequest) => ({ method: 'GET', path: `/v1/admin/ledger/accounts/${pathSegment(request.accountId)}`, body: null }),
    adminOnly: true,
    ids: (request: AccountRequest) => ({ accountId: request.accountId }),
    status: 200,
  },
} satisfies Record<string, GrpcOperation<never>>;

@Controller()
export class AdminGrpcController {
  constructor(
    @Inject(GrpcEdge) private readonly edge: GrpcEdge,
    @Inject(WalletOperations) private readonly wallets: WalletOperations,
  ) {}

  @GrpcMethod('Admin', 'GetLedgerAccount')
  getLedgerAccount(request: AccountRequest, _metadata: Metadata, call: GrpcCall): Promise<AccountSumsView> {
    return this.edge.run(ADMIN_OPERATIONS.GetLedgerAccount, request, call, () => this.wallets.accountSums(String(request.accountId)));
  }
}
