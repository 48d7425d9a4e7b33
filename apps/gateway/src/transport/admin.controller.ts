// API.md's admin read of any ledger account: the four sums, for operators and audits.
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { AccountSumsView } from '@ledger/contracts';
import { WalletOperations } from '../application/wallet-operations';
import { AdminOnly, ApiErrors, ROUTE_ERRORS } from './route-policy';
import { AccountParams, AccountSumsResponse } from './wallets.dto';

@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
export class AdminController {
  constructor(@Inject(WalletOperations) private readonly wallets: WalletOperations) {}

  @Get('ledger/accounts/:accountId')
  @AdminOnly()
  @ApiOkResponse({ type: AccountSumsResponse })
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.resource)
  account(@Param() params: AccountParams): Promise<AccountSumsView> {
    return this.wallets.accountSums(params.accountId);
  }
}
