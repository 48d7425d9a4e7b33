// API.md's Card network routes (the acquirer side): X-Network-Key instead of a bearer token, an
// Idempotency-Key on every one (each moves money), and a decline is still 200 (approved: false).
import { applyDecorators, Body, Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { AuthorizationView, ErrorCode, TransactionView } from '@ledger/contracts';
import { CardOperations } from '../application/card-operations';
import type { CommandKeys } from '../application/wallet-operations';
import { AuthorizationParams, AuthorizationResponse, AuthorizeDto, CaptureDto, RefundDto, ReverseDto } from './cards.dto';
import { CommandKeysOf } from './request-context';
import { ApiErrors, IDEMPOTENCY_KEY_DOC, Idempotent, NetworkOnly, RateLimited, ROUTE_ERRORS } from './route-policy';
import { TransactionResponse } from './wallets.dto';

export const NETWORK_KEY_SECURITY = 'network-key';

/** Every network route: the network's rate limit, an Idempotency-Key required, answered with `status`; `errors` beyond every route's. */
function NetworkMovesMoney(status: 200 | 201, errors: readonly ErrorCode[] = []): MethodDecorator {
  return applyDecorators(
    RateLimited('network'),
    Idempotent({ required: true }),
    HttpCode(status),
    ApiHeader(IDEMPOTENCY_KEY_DOC.required),
    ApiErrors('unauthenticated', ...ROUTE_ERRORS.movesMoney, ...errors),
  );
}

/** Capture, reverse and refund name an authorization that must be in the right state, for at most what it allows (a refund also a wallet not closed). */
const SETTLES_A_HOLD: readonly ErrorCode[] = ['not_found', 'hold_not_pending', 'amount_exceeds_hold'];

@ApiTags('card network')
@ApiSecurity(NETWORK_KEY_SECURITY)
@NetworkOnly()
@Controller('v1/network')
export class NetworkController {
  constructor(@Inject(CardOperations) private readonly cards: CardOperations) {}

  @Post('authorizations')
  @NetworkMovesMoney(200)
  @ApiOkResponse({ type: AuthorizationResponse, description: 'Approved or declined (approved: false with its ISO 8583 code)' })
  authorize(@Body() body: AuthorizeDto, @CommandKeysOf() keys: CommandKeys): Promise<AuthorizationView> {
    const { pan, expMonth, expYear, cvv, amount, currency, merchant } = body;
    return this.cards.authorize({ pan, expMonth, expYear, cvv, amount, currency, merchant: { name: merchant.name, mcc: merchant.mcc, country: merchant.country } }, keys);
  }

  @Post('authorizations/:id/capture')
  @NetworkMovesMoney(200, SETTLES_A_HOLD)
  @ApiOkResponse({ type: AuthorizationResponse })
  capture(@Param() params: AuthorizationParams, @Body() body: CaptureDto, @CommandKeysOf() keys: CommandKeys): Promise<AuthorizationView> {
    return this.cards.capture(params.id, body.amount, keys);
  }

  @Post('authorizations/:id/reverse')
  @NetworkMovesMoney(200, SETTLES_A_HOLD)
  @ApiOkResponse({ type: AuthorizationResponse })
  reverse(@Param() params: AuthorizationParams, @Body() body: ReverseDto, @CommandKeysOf() keys: CommandKeys): Promise<AuthorizationView> {
    return this.cards.reverse(params.id, body.amount, keys);
  }

  @Post('refunds')
  @NetworkMovesMoney(201, [...SETTLES_A_HOLD, 'wallet_not_active'])
  @ApiCreatedResponse({ type: TransactionResponse })
  refund(@Body() body: RefundDto, @CommandKeysOf() keys: CommandKeys): Promise<TransactionView> {
    return this.cards.refund(body.authorizationId, body.amount, keys);
  }
}
