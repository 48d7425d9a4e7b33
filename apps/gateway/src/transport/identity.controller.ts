// API.md's Identity routes: each is one request on `identity.commands`, answered as identity answers it.
import { Body, Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { IdentityCommandMessage, MeView, TokenPair, UserView } from '@ledger/contracts';
import { IdentityClient } from '@ledger/messaging';
import { valueOf } from '../application/gateway-errors';
import type { Caller, CommandKeys } from '../application/wallet-operations';
import { ConfirmTotpDto, LoginDto, MeResponse, RefreshTokenDto, RegisterUserDto, TokenPairResponse, TotpEnrolmentResponse, UserResponse } from './identity.dto';
import { clientIp, CommandKeysOf, CurrentCaller, type GatewayRequest } from './request-context';
import { IDEMPOTENCY_KEY_DOC, Idempotent, Public, RateLimited } from './route-policy';

const IDEMPOTENCY_HEADER = IDEMPOTENCY_KEY_DOC.optional;

@ApiTags('identity')
@Controller('v1')
export class IdentityController {
  constructor(@Inject(IdentityClient) private readonly identity: IdentityClient) {}

  @Post('users')
  @Public()
  @RateLimited('login')
  @Idempotent()
  @HttpCode(201)
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiCreatedResponse({ type: UserResponse })
  register(@Body() body: RegisterUserDto, @CommandKeysOf() keys: CommandKeys): Promise<UserView> {
    const message = { type: 'RegisterUser', email: body.email, password: body.password, ...optional(body.displayName, 'displayName') } as const;
    return this.send<UserView>(message, keys, 'anonymous');
  }

  /** Not recorded for replays: the response carries tokens, which never enter the event store. */
  @Post('auth/login')
  @Public()
  @RateLimited('login')
  @Idempotent({ record: false })
  @HttpCode(200)
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiOkResponse({ type: TokenPairResponse })
  login(@Body() body: LoginDto, @CommandKeysOf() keys: CommandKeys, @Req() request: GatewayRequest): Promise<TokenPair> {
    return this.send<TokenPair>(
      { type: 'Login', email: body.email, password: body.password, ip: clientIp(request), ...optional(body.totp, 'totp') },
      keys,
      'anonymous',
    );
  }

  @Post('auth/refresh')
  @Public()
  @RateLimited('login')
  @Idempotent({ record: false })
  @HttpCode(200)
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiOkResponse({ type: TokenPairResponse })
  refresh(@Body() body: RefreshTokenDto, @CommandKeysOf() keys: CommandKeys): Promise<TokenPair> {
    return this.send<TokenPair>({ type: 'Refresh', refreshToken: body.refreshToken }, keys, 'anonymous');
  }

  @Post('auth/logout')
  @Public()
  @Idempotent()
  @HttpCode(204)
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiNoContentResponse()
  async logout(@Body() body: RefreshTokenDto, @CommandKeysOf() keys: CommandKeys): Promise<void> {
    await this.send({ type: 'Logout', refreshToken: body.refreshToken }, keys, 'anonymous');
  }

  @Get('me')
  @ApiBearerAuth()
  @ApiOkResponse({ type: MeResponse })
  me(@CurrentCaller() caller: Caller, @Req() request: GatewayRequest): Promise<MeView> {
    const correlationId = request.requestId ?? '';
    return this.send<MeView>({ type: 'GetMe', userId: caller.userId }, { idempotencyKey: `read:${correlationId}`.slice(0, 128), correlationId }, actorOf(caller));
  }

  /** Not recorded for replays: the response carries the TOTP secret. */
  @Post('me/mfa/totp')
  @Idempotent({ record: false })
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiOkResponse({ type: TotpEnrolmentResponse })
  startTotp(@CurrentCaller() caller: Caller, @CommandKeysOf() keys: CommandKeys): Promise<{ secret: string; otpauthUrl: string }> {
    return this.send({ type: 'StartTotpEnrolment', userId: caller.userId }, keys, actorOf(caller));
  }

  @Post('me/mfa/totp/confirm')
  @Idempotent()
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiNoContentResponse()
  async confirmTotp(@CurrentCaller() caller: Caller, @Body() body: ConfirmTotpDto, @CommandKeysOf() keys: CommandKeys): Promise<void> {
    await this.send({ type: 'ConfirmTotpEnrolment', userId: caller.userId, code: body.code }, keys, actorOf(caller));
  }

  private send<T>(message: IdentityCommandMessage, keys: Pick<CommandKeys, 'idempotencyKey' | 'correlationId'>, actor: string): Promise<T> {
    return valueOf(
      this.identity.command<T>({
        ...message,
        meta: { idempotencyKey: keys.idempotencyKey, actor, correlationId: keys.correlationId },
      }),
    );
  }
}

function actorOf(caller: Caller): string {
  return `user:${caller.userId}`;
}

function optional<K extends string>(value: string | undefined, key: K): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
