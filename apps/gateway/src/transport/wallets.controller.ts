// API.md's Wallets routes. The guard has loaded and checked the wallet a route names; each
// handler is one call to the application service.
import { applyDecorators, Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { ErrorCode, TransactionView, WalletView } from '@ledger/contracts';
import { WalletOperations, type BalanceAsOf, type Caller, type CommandKeys, type TransactionLinePage, type WalletFacts } from '../application/wallet-operations';
import { AccessedWallet, CommandKeysOf, CurrentCaller } from './request-context';
import { ApiErrors, IDEMPOTENCY_KEY_DOC, Idempotent, RateLimited, ROUTE_ERRORS, WalletAccess, type WalletAccessPolicy } from './route-policy';
import {
  BalanceAsOfResponse,
  BalanceQuery,
  MoveMoneyDto,
  OpenWalletDto,
  TransactionPageResponse,
  TransactionResponse,
  TransactionsQuery,
  TransferDto,
  WalletListResponse,
  WalletParams,
  WalletResponse,
} from './wallets.dto';

const OPTIONAL_KEY = IDEMPOTENCY_KEY_DOC.optional;
const REQUIRED_KEY = IDEMPOTENCY_KEY_DOC.required;
const READ = { from: 'param', name: 'id', allow: 'owner_or_admin' } as const;
const MOVE_OUT = { from: 'param', name: 'id', allow: 'owner' } as const;

/** Every route that moves money: out of a wallet only its owner may spend, rate limited, an Idempotency-Key required, 201 with a transaction. */
function MovesMoney(errors: readonly ErrorCode[], from: WalletAccessPolicy = MOVE_OUT): MethodDecorator {
  return applyDecorators(
    ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource, ...ROUTE_ERRORS.movesMoney, 'wallet_not_active', ...errors),
    WalletAccess(from),
    RateLimited('money'),
    Idempotent({ required: true }),
    HttpCode(201),
    ApiHeader(REQUIRED_KEY),
    ApiCreatedResponse({ type: TransactionResponse }),
  );
}

/** Freeze and unfreeze: owner or admin, an optional Idempotency-Key, 200 with the wallet. */
function ChangesWalletState(): MethodDecorator {
  return applyDecorators(
    WalletAccess(READ),
    RateLimited('write'),
    Idempotent(),
    HttpCode(200),
    ApiHeader(OPTIONAL_KEY),
    ApiOkResponse({ type: WalletResponse }),
    ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource, ...ROUTE_ERRORS.writes, 'wallet_not_active'),
  );
}

@ApiTags('wallets')
@ApiBearerAuth()
@Controller('v1')
export class WalletsController {
  constructor(@Inject(WalletOperations) private readonly wallets: WalletOperations) {}

  @Post('wallets')
  @RateLimited('write')
  @Idempotent()
  @HttpCode(201)
  @ApiHeader(OPTIONAL_KEY)
  @ApiCreatedResponse({ type: WalletResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.writes, 'limit_exceeded')
  open(@CurrentCaller() caller: Caller, @Body() body: OpenWalletDto, @CommandKeysOf() keys: CommandKeys): Promise<WalletView> {
    return this.wallets.openWallet(caller, body.currency, keys);
  }

  @Get('wallets')
  @ApiOkResponse({ type: WalletListResponse })
  @ApiErrors(...ROUTE_ERRORS.user)
  list(@CurrentCaller() caller: Caller): Promise<{ items: WalletView[] }> {
    return this.wallets.listWallets(caller);
  }

  @Get('wallets/:id')
  @WalletAccess(READ)
  @ApiOkResponse({ type: WalletResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource)
  get(@Param() _params: WalletParams, @AccessedWallet() wallet: WalletFacts): Promise<WalletView> {
    // The guard's look-up checks ownership only; the answer reads the caller's own writes.
    return this.wallets.getWallet(wallet.id);
  }

  @Get('wallets/:id/balance')
  @WalletAccess(READ)
  @ApiOkResponse({ type: BalanceAsOfResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource)
  balance(@Param() _params: WalletParams, @AccessedWallet() wallet: WalletFacts, @Query() query: BalanceQuery): Promise<BalanceAsOf> {
    return this.wallets.balance(wallet.id, query.at);
  }

  @Get('wallets/:id/transactions')
  @WalletAccess(READ)
  @ApiOkResponse({ type: TransactionPageResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource)
  transactions(@Param() _params: WalletParams, @AccessedWallet() wallet: WalletFacts, @Query() query: TransactionsQuery): Promise<TransactionLinePage> {
    return this.wallets.transactions(wallet.id, { limit: query.limit === undefined ? undefined : Number(query.limit), cursor: query.cursor });
  }

  @Post('wallets/:id/top-ups')
  @MovesMoney(['limit_exceeded'])
  topUp(
    @Param() _params: WalletParams,
    @CurrentCaller() caller: Caller,
    @AccessedWallet() wallet: WalletFacts,
    @Body() body: MoveMoneyDto,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<TransactionView> {
    return this.wallets.topUp(caller, wallet, body.amount, body.reference, keys);
  }

  @Post('wallets/:id/withdrawals')
  @MovesMoney(['insufficient_funds'])
  withdraw(
    @Param() _params: WalletParams,
    @CurrentCaller() caller: Caller,
    @AccessedWallet() wallet: WalletFacts,
    @Body() body: MoveMoneyDto,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<TransactionView> {
    return this.wallets.withdraw(caller, wallet, body.amount, body.reference, keys);
  }

  @Post('transfers')
  @MovesMoney(['insufficient_funds', 'currency_mismatch'], { from: 'body', name: 'fromWalletId', allow: 'owner' })
  transfer(
    @CurrentCaller() caller: Caller,
    @AccessedWallet() from: WalletFacts,
    @Body() body: TransferDto,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<TransactionView> {
    return this.wallets.transfer(caller, from, { toWalletId: body.toWalletId, amount: body.amount, memo: body.memo }, keys);
  }

  @Post('wallets/:id/freeze')
  @ChangesWalletState()
  freeze(
    @Param() _params: WalletParams,
    @CurrentCaller() caller: Caller,
    @AccessedWallet() wallet: WalletFacts,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<WalletView> {
    return this.wallets.freeze(caller, wallet, keys);
  }

  @Post('wallets/:id/unfreeze')
  @ChangesWalletState()
  unfreeze(
    @Param() _params: WalletParams,
    @CurrentCaller() caller: Caller,
    @AccessedWallet() wallet: WalletFacts,
    @CommandKeysOf() keys: CommandKeys,
  ): Promise<WalletView> {
    return this.wallets.unfreeze(caller, wallet, keys);
  }
}
