import 'reflect-metadata';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { pathSegment } from '../application/idempotent-execution';
import { AdminController } from '../transport/admin.controller';
import { CardsController } from '../transport/cards.controller';
import { IdentityController } from '../transport/identity.controller';
import { NetworkController } from '../transport/network.controller';
import { POLICY } from '../transport/route-policy';
import { WalletsController } from '../transport/wallets.controller';
import { ADMIN_OPERATIONS } from './admin.grpc';
import { CARD_OPERATIONS, NETWORK_OPERATIONS } from './cards.grpc';
import type { GrpcOperation } from './grpc-edge';
import { IDENTITY_OPERATIONS } from './identity.grpc';
import { WALLET_OPERATIONS } from './wallets.grpc';

describe('pathSegment', () => {
  it('encodes an id as a client puts it in the HTTP path, and a missing one as empty', () => {
    expect(pathSegment('019b76da-a800-700e')).toBe('019b76da-a800-700e');
    expect(pathSegment('a/b?c')).toBe('a%2Fb%3Fc');
    expect(pathSegment(undefined)).toBe('');
  });
});

describe('the gRPC operations', () => {
  // Each method runs as the HTTP route it equals: the same rate limit, or one edge is an unlimited way round the other's.
  it('take the rate limit of the HTTP route each equals', () => {
    const routes = [WalletsController, CardsController, IdentityController, NetworkController, AdminController].flatMap((controller) => {
      const base = String(Reflect.getMetadata(PATH_METADATA, controller));
      return Object.getOwnPropertyNames(controller.prototype).flatMap((name) => {
        const handler = (controller.prototype as unknown as Record<string, unknown>)[name];
        if (typeof handler !== 'function') return [];
        const path: unknown = Reflect.getMetadata(PATH_METADATA, handler);
        if (typeof path !== 'string') return [];
        const pattern = new RegExp(`^/${[base, path].filter((part) => part !== '' && part !== '/').join('/')}$`.replace(/:[A-Za-z]+/g, '[^/]+'));
        return [{ method: RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number], pattern, rateLimit: Reflect.getMetadata(POLICY.rateLimit, handler) as unknown }];
      });
    });
    const ids = { walletId: 'w', cardId: 'c', authorizationId: 'a', accountId: 'l' };
    const operations: Record<string, GrpcOperation<never>> = { ...WALLET_OPERATIONS, ...CARD_OPERATIONS, ...NETWORK_OPERATIONS, ...IDENTITY_OPERATIONS, ...ADMIN_OPERATIONS };
    for (const [name, operation] of Object.entries(operations)) {
      const http = (operation.http as unknown as (request: typeof ids) => { method: string; path: string })(ids);
      const route = routes.find((each) => each.method === http.method && each.pattern.test(http.path));
      expect({ name, rateLimit: operation.rateLimit }).toEqual({ name, rateLimit: route === undefined ? 'no route' : route.rateLimit });
    }
  });
});
