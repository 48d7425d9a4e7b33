// ledger.v1.Wallets: each method is one call to WalletOperations behind the same rules as its
// HTTP route (stated in its operation below).
import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { BalanceAsOf, TransactionLinePage } from '../application/wallet-operations';
import { WalletOperations } from '../application/wallet-operations';
import type { Currency, TransactionView, WalletView } from '@ledger/contracts';
import { BalanceQuery, MoveMoneyDto, OpenWalletDto, TransactionsQuery, TransferDto } from '../transport/wallets.dto';
import { pathSegment } from '../application/idempotent-execution';
import { GrpcEdge, type GrpcCall, type GrpcOperation } from './grpc-edge';

interface WalletRequest {
  readonly walletId?: string;
}
interface MoveMoneyRequest extends WalletRequest {
  readonly amount?: string;
  readonly reference?: string;
}
interface TransferRequest {
  readonly fromWalletId?: string;
  readonly toWalletId?: string;
  readonly amount?: string;
  readonly memo?: string;
}

const READ = { rule: 'owner_or_admin', field: 'walletId', id: (request: WalletRequest) => request.walletId } as const;
const MOVE_OUT = { rule: 'owner', field: 'walletId', id: (request: WalletRequest) => request.walletId } as const;
const MOVES_MONEY = { rateLimit: 'money', idempotency: { required: true, record: true }, status: 201, body: MoveMoneyDto } as const;
const walletPath = (request: WalletRequest, rest = '') => `/v1/wallets/${pathSegment(request.walletId)}${rest}`;

export const WALLET_OPERATIONS = {
  OpenWallet: {
    http: (request: { currency?: string }) => ({ method: 'POST', path: '/v1/wallets', body: { currency: request.currency } }),
    rateLimit: 'write',
    idempotency: { required: false, record: true },
    status: 201,
    body: OpenWalletDto,
  },
  ListWallets: { http: () => ({ method: 'GET', path: '/v1/wallets', body: null }), status: 200 },
  GetWallet: { http: (request: WalletRequest) => ({ method: 'GET', path: walletPath(request), body: null }), status: 200, wallet: READ },
  GetBalance: {
    http: (request: WalletRequest & { at?: string }) => ({ method: 'GET', path: walletPath(request, '/balance'), body: null, query: { at: request.at } }),
    status: 200,
    wallet: READ,
    query: BalanceQuery,
  },
  TopUp: {
    http: (request: MoveMoneyRequest) => ({ method: 'POST', path: walletPath(request, '/top-ups'), body: { amount: request.amount, reference: request.reference } }),
    wallet: MOVE_OUT,
    ...MOVES_MONEY,
  },
  Withdraw: {
    http: (request: MoveMoneyRequest) => ({ method: 'POST', path: walletPath(request, '/withdrawals'), body: { amount: request.amount, reference: request.reference } }),
    wallet: MOVE_OUT,
    ...MOVES_MONEY,
  },
  Transfer: {
    http: (request: TransferRequest) => ({
      method: 'POST',
      path: '/v1/transfers',
      body: { fromWalletId: request.fromWalletId, toWalletId: request.toWalletId, amount: request.amount, memo: request.memo },
    }),
    wallet: { rule: 'owner', field: 'fromWalletId', id: (request: TransferRequest) => request.fromWalletId },
    ...MOVES_MONEY,
    body: TransferDto,
  },
  FreezeWallet: {
    http: (request: WalletRequest) => ({ method: 'POST', path: walletPath(request, '/freeze'), body: null }),
    wallet: READ,
    rateLimit: 'write',
    idempotency: { required: false, record: true },
    status: 200,
  },
  UnfreezeWallet: {
    http: (request: WalletRequest) => ({ method: 'POST', path: walletPath(request, '/unfreeze'), body: null }),
    wallet: READ,
    rateLimit: 'write',
    idempotency: { required: false, record: true },
    status: 200,
  },
  ListTransactions: {
    http: (request: WalletRequest & { limit?: number; cursor?: string }) => ({
      method: 'GET',
      path: walletPath(request, '/transactions'),
      body: null,
      query: { limit: request.limit === undefined ? undefined : String(request.limit), cursor: request.cursor },
    }),
    status: 200,
    wallet: READ,
    query: TransactionsQuery,
  },
} satisfies Record<string, GrpcOperation<never>>;

@Controller()
export class WalletsGrpcController {
  constructor(
    @Inject(GrpcEdge) private readonly edge: GrpcEdge,
    @Inject(WalletOperations) private readonly wallets: WalletOperations,
  ) {}

  @GrpcMethod('Wallets', 'OpenWallet')
  openWallet(request: { currency?: string }, _metadata: Metadata, call: GrpcCall): Promise<WalletView> {
    return this.edge.run(WALLET_OPERATIONS.OpenWallet, request, call, (c) => this.wallets.openWallet(c.caller(), request.currency as Currency, c.keys));
  }

  @GrpcMethod('Wallets', 'ListWallets')
  listWallets(request: object, _metadata: Metadata, call: GrpcCall): Promise<{ items: WalletView[] }> {
    return this.edge.run(WALLET_OPERATIONS.ListWallets, request, call, (c) => this.wallets.listWallets(c.caller()));
  }

  @GrpcMethod('Wallets', 'GetWallet')
  getWallet(request: WalletRequest, _metadata: Metadata, call: GrpcCall): Promise<WalletView> {
    return this.edge.run(WALLET_OPERATIONS.GetWallet, request, call, (c) => this.wallets.getWallet(c.wallet().id));
  }

  @GrpcMethod('Wallets', 'GetBalance')
  getBalance(request: WalletRequest & { at?: string }, _metadata: Metadata, call: GrpcCall): Promise<BalanceAsOf> {
    return this.edge.run(WALLET_OPERATIONS.GetBalance, request, call, (c) => this.wallets.balance(c.wallet().id, request.at));
  }

  @GrpcMethod('Wallets', 'TopUp')
  topUp(request: MoveMoneyRequest, _metadata: Metadata, call: GrpcCall): Promise<TransactionView> {
    return this.edge.run(WALLET_OPERATIONS.TopUp, request, call, (c) =>
      this.wallets.topUp(c.caller(), c.wallet(), String(request.amount), request.reference, c.keys),
    );
  }

  @GrpcMethod('Wallets', 'Withdraw')
  withdraw(request: MoveMoneyRequest, _metadata: Metadata, call: GrpcCall): Promise<TransactionView> {
    return this.edge.run(WALLET_OPERATIONS.Withdraw, request, call, (c) =>
      this.wallets.withdraw(c.caller(), c.wallet(), String(request.amount), request.reference, c.keys),
    );
  }

  @GrpcMethod('Wallets', 'Transfer')
  transfer(request: TransferRequest, _metadata: Metadata, call: GrpcCall): Promise<TransactionView> {
    return this.edge.run(WALLET_OPERATIONS.Transfer, request, call, (c) =>
      this.wallets.transfer(c.caller(), c.wallet(), { toWalletId: String(request.toWalletId), amount: String(request.amount), memo: request.memo }, c.keys),
    );
  }

  @GrpcMethod('Wallets', 'FreezeWallet')
  freezeWallet(request: WalletRequest, _metadata: Metadata, call: GrpcCall): Promise<WalletView> {
    return this.edge.run(WALLET_OPERATIONS.FreezeWallet, request, call, (c) => this.wallets.freeze(c.caller(), c.wallet(), c.keys));
  }

  @GrpcMethod('Wallets', 'UnfreezeWallet')
  unfreezeWallet(request: WalletRequest, _metadata: Metadata, call: GrpcCall): Promise<WalletView> {
    return this.edge.run(WALLET_OPERATIONS.UnfreezeWallet, request, call, (c) => this.wallets.unfreeze(c.caller(), c.wallet(), c.keys));
  }

  @GrpcMethod('Wallets', 'ListTransactions')
  listTransactions(request: WalletRequest & { limit?: number; cursor?: string }, _metadata: Metadata, call: GrpcCall): Promise<TransactionLinePage> {
    return this.edge.run(WALLET_OPERATIONS.ListTransactions, request, call, (c) =>
      this.wallets.transactions(c.wallet().id, { limit: request.limit, cursor: request.cursor }),
    );
  }
}
