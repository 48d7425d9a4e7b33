// What the gateway learns about a request on its way through (guards, interceptor), read by
// the handlers through parameter decorators rather than from the raw request.
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { CardView } from '@ledger/contracts';
import { anonymousCaller } from '../application/idempotent-execution';
import type { Caller, CommandKeys, WalletFacts } from '../application/wallet-operations';

export type GatewayRequest = Request & {
  /** X-Request-Id if the client sent a usable one, else a new UUIDv7; the correlation id of every command. */
  requestId?: string;
  /** Set by the guard from a verified access token. */
  caller?: Caller;
  /** Set by the guard on the card network's routes from a valid X-Network-Key: the caller's name (`network:default`). */
  network?: string;
  /** The wallet the route names, loaded by the ownership check. */
  wallet?: WalletFacts;
  /** The card the route names, loaded by the ownership check. */
  card?: CardView;
  /** Set by the idempotency interceptor for every handler that sends a command. */
  commandKeys?: CommandKeys;
};

function requestOf(context: ExecutionContext): GatewayRequest {
  return context.switchToHttp().getRequest<GatewayRequest>();
}

function required<T>(value: T | undefined, what: string): T {
  // A route that reads it without the policy that sets it is a wiring bug, not a client error.
  if (value === undefined) throw new Error(`${what} is not set for this route`);
  return value;
}

/** The authenticated caller (routes that are not @Public()). */
export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller =>
  required(requestOf(context).caller, 'the caller'),
);

/** The wallet the ownership check loaded (routes with @WalletAccess()). */
export const AccessedWallet = createParamDecorator((_data: unknown, context: ExecutionContext): WalletFacts =>
  required(requestOf(context).wallet, 'the wallet'),
);

/** The card the ownership check loaded (routes with @CardAccess()). */
export const AccessedCard = createParamDecorator((_data: unknown, context: ExecutionContext): CardView =>
  required(requestOf(context).card, 'the card'),
);

/** The keys a command carries (POST routes). */
export const CommandKeysOf = createParamDecorator((_data: unknown, context: ExecutionContext): CommandKeys =>
  required(requestOf(context).commandKeys, 'the command keys'),
);

/** Whose Idempotency-Keys these are: `user:{id}`, the card network (`network:default`), or before login anonymousCaller's. */
export function idempotencyCallerOf(request: GatewayRequest): string {
  if (request.caller !== undefined) return `user:${request.caller.userId}`;
  return request.network ?? anonymousCaller(clientIp(request), request.body);
}

/** The client's address as Express sees it (TRUST_PROXY_HOPS decides whether proxies are believed). */
export function clientIp(request: Request): string {
  return request.ip ?? request.socket.remoteAddress ?? 'unknown';
}
