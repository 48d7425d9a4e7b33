// What the identity operations do, one method each: one request on `identity.commands`, answered
// as identity answers it. Both edges (HTTP controller, gRPC handlers) call these.
import type { IdentityCommandMessage, MeView, TokenPair, UserView } from '@ledger/contracts';
import type { IdentityClient } from '@ledger/messaging';
import { valueOf } from './gateway-errors';
import type { Caller, CommandKeys } from './wallet-operations';

type Keys = Pick<CommandKeys, 'idempotencyKey' | 'correlationId'>;

export interface TotpEnrolment {
  readonly secret: string;
  readonly otpauthUrl: string;
}

export class IdentityOperations {
  constructor(private readonly identity: IdentityClient) {}

  register(body: { email: string; password: string; displayName?: string }, keys: Keys): Promise<UserView> {
    const message = { type: 'RegisterUser', email: body.email, password: body.password, ...optional(body.displayName, 'displayName') } as const;
    return this.send<UserView>(message, keys, 'anonymous');
  }

  login(body: { email: string; password: string; totp?: string }, ip: string, keys: Keys): Promise<TokenPair> {
    return this.send<TokenPair>({ type: 'Login', email: body.email, password: body.password, ip, ...optional(body.totp, 'totp') }, keys, 'anonymous');
  }

  refresh(refreshToken: string, keys: Keys): Promise<TokenPair> {
    return this.send<TokenPair>({ type: 'Refresh', refreshToken }, keys, 'anonymous');
  }

  async logout(refreshToken: string, keys: Keys): Promise<void> {
    await this.send({ type: 'Logout', refreshToken }, keys, 'anonymous');
  }

  me(caller: Caller, correlationId: string): Promise<MeView> {
    return this.send<MeView>({ type: 'GetMe', userId: caller.userId }, { idempotencyKey: `read:${correlationId}`.slice(0, 128), correlationId }, actorOf(caller));
  }

  startTotp(caller: Caller, keys: Keys): Promise<TotpEnrolment> {
    return this.send({ type: 'StartTotpEnrolment', userId: caller.userId }, keys, actorOf(caller));
  }

  async confirmTotp(caller: Caller, code: string, keys: Keys): Promise<void> {
    await this.send({ type: 'ConfirmTotpEnrolment', userId: caller.userId, code }, keys, actorOf(caller));
  }

  private send<T>(message: IdentityCommandMessage, keys: Keys, actor: string): Promise<T> {
    return valueOf(this.identity.command<T>({ ...message, meta: { idempotencyKey: keys.idempotencyKey, actor, correlationId: keys.correlationId } }));
  }
}

function actorOf(caller: Caller): string {
  return `user:${caller.userId}`;
}

function optional<K extends string>(value: string | undefined, key: K): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
