// API.md's Identity routes: each is one call to IdentityOperations (one request on `identity.commands`).
import { applyDecorators, Body, Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { MeView, TokenPair, UserView } from '@ledger/contracts';
import { IdentityClient } from '@ledger/messaging';
import { IdentityOperations, type TotpEnrolment } from '../application/identity-operations';
import type { Caller, CommandKeys } from '../application/wallet-operations';
import { ConfirmTotpDto, LoginDto, MeResponse, RefreshTokenDto, RegisterUserDto, TokenPairResponse, TotpEnrolmentResponse, UserResponse } from './identity.dto';
import { clientIp, CommandKeysOf, CurrentCaller, type GatewayRequest } from './request-context';
import { ApiErrors, IDEMPOTENCY_KEY_DOC, Idempotent, Public, RateLimited, ROUTE_ERRORS } from './route-policy';

const IDEMPOTENCY_HEADER = IDEMPOTENCY_KEY_DOC.optional;

/** Login and refresh: public, rate limited as logins, 200 with a token pair. Not recorded for replays: tokens never enter the event store. */
function IssuesTokens(): MethodDecorator {
  return applyDecorators(Public(), RateLimited('login'), Idempotent({ record: false }), HttpCode(200), ApiHeader(IDEMPOTENCY_HEADER), ApiOkResponse({ type: TokenPairResponse }));
}

@ApiTags('identity')
@Controller('v1')
export class IdentityController {
  private readonly operations: IdentityOperations;

  constructor(@Inject(IdentityClient) identity: IdentityClient) {
    this.operations = new IdentityOperations(identity);
  }

  @Post('users')
  @Public()
  @RateLimited('login')
  @Idempotent()
  @HttpCode(201)
  @ApiErrors(...ROUTE_ERRORS.idempotent, 'email_taken', 'rate_limited')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiCreatedResponse({ type: UserResponse })
  register(@Body() body: RegisterUserDto, @CommandKeysOf() keys: CommandKeys): Promise<UserView> {
    return this.operations.register(body, keys);
  }

  @Post('auth/login')
  @IssuesTokens()
  @ApiErrors('validation_failed', 'invalid_credentials', 'account_locked', 'rate_limited')
  login(@Body() body: LoginDto, @CommandKeysOf() keys: CommandKeys, @Req() request: GatewayRequest): Promise<TokenPair> {
    return this.operations.login(body, clientIp(request), keys);
  }

  @Post('auth/refresh')
  @IssuesTokens()
  @ApiErrors('validation_failed', 'unauthenticated', 'token_expired', 'rate_limited')
  refresh(@Body() body: RefreshTokenDto, @CommandKeysOf() keys: CommandKeys): Promise<TokenPair> {
    return this.operations.refresh(body.refreshToken, keys);
  }

  /** Rate limited as logins: public, and each one asks identity, so a flood of made-up tokens would otherwise reach it unbounded. */
  @Post('auth/logout')
  @Public()
  @RateLimited('login')
  @Idempotent()
  @HttpCode(204)
  @ApiErrors(...ROUTE_ERRORS.idempotent, 'unauthenticated', 'rate_limited')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiNoContentResponse()
  logout(@Body() body: RefreshTokenDto, @CommandKeysOf() keys: CommandKeys): Promise<void> {
    return this.operations.logout(body.refreshToken, keys);
  }

  @Get('me')
  @ApiErrors(...ROUTE_ERRORS.user, 'not_found')
  @ApiBearerAuth()
  @ApiOkResponse({ type: MeResponse })
  me(@CurrentCaller() caller: Caller, @Req() request: GatewayRequest): Promise<MeView> {
    return this.operations.me(caller, request.requestId ?? '');
  }

  /** Not recorded for replays: the response carries the TOTP secret. */
  @Post('me/mfa/totp')
  @RateLimited('write')
  @Idempotent({ record: false })
  @HttpCode(200)
  @ApiErrors(...ROUTE_ERRORS.user, 'validation_failed', 'rate_limited')
  @ApiBearerAuth()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiOkResponse({ type: TotpEnrolmentResponse })
  startTotp(@CurrentCaller() caller: Caller, @CommandKeysOf() keys: CommandKeys): Promise<TotpEnrolment> {
    return this.operations.startTotp(caller, keys);
  }

  @Post('me/mfa/totp/confirm')
  @RateLimited('write')
  @Idempotent()
  @HttpCode(204)
  @ApiErrors(...ROUTE_ERRORS.user, ...ROUTE_ERRORS.writes)
  @ApiBearerAuth()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiNoContentResponse()
  confirmTotp(@CurrentCaller() caller: Caller, @Body() body: ConfirmTotpDto, @CommandKeysOf() keys: CommandKeys): Promise<void> {
    return this.operations.confirmTotp(caller, body.code, keys);
  }
}
