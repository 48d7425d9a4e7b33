// The gRPC Identity service in front of the real identity service (apps/identity, cheap argon2):
// the same commands as over HTTP, so registration, login, a token it signed, and its refusals.
import { status } from '@grpc/grpc-js';
import { startGatewaySystem, type GatewaySystem } from '../testing/gateway.harness';
import { connectGrpc, type GrpcClients } from '../testing/grpc-client';

describe('gateway gRPC with the real identity (e2e)', () => {
  let s: GatewaySystem;
  let g: GrpcClients;

  beforeAll(async () => {
    s = await startGatewaySystem({ identity: 'real' });
    g = connectGrpc(s.gateway().grpcPort);
  });

  afterAll(async () => {
    g?.close();
    await s?.close();
  });

  // The same odd inputs as over HTTP: INVALID_ARGUMENT validation_failed naming the field.
  it.each([
    ['RegisterUser', { email: '"quoted"@example.com', password: 'a rather long passphrase' }, 'email'],
    ['RegisterUser', { email: 'ip@[127.0.0.1]', password: 'a rather long passphrase' }, 'email'],
    ['RegisterUser', { email: 'odd@example.com', password: 'a rather long passphrase', displayName: '' }, 'displayName'],
    ['RegisterUser', { email: 'odd@example.com', password: 'a rather long passphrase', displayName: 'x'.repeat(101) }, 'displayName'],
    ['RegisterUser', { email: 'odd@example.com', password: 'a rather long passphrase', displayName: 'bell\u0007' }, 'displayName'],
    ['RegisterUser', { email: 'odd@example.com', password: 'ｐａｓｓｗｏｒｄ１２３' }, 'password'],
    ['Login', { email: 'odd@example.com', password: 'a rather long passphrase', totp: '12345' }, 'totp'],
    ['Refresh', { refreshToken: '' }, 'refreshToken'],
  ])('answers %s %j INVALID_ARGUMENT naming %s', async (method, request, field) => {
    const { error } = await g.call('Identity', method, request);
    expect(error).toMatchObject({ status: status.INVALID_ARGUMENT, code: 'validation_failed' });
    expect(JSON.stringify(error)).toContain(field);
  });

  it('registers, logs in, reads itself and opens a wallet with the token identity signed; refusals keep their codes', async () => {
    const email = `grpc-real-${Date.now()}@example.com`;
    const password = 'correct-horse-battery';
    const registered = await g.call('Identity', 'RegisterUser', { email, password, displayName: 'Real' });
    expect(registered.response).toMatchObject({ email, displayName: 'Real' });
    expect((await g.call('Identity', 'RegisterUser', { email, password })).error).toMatchObject({ status: status.ALREADY_EXISTS, code: 'email_taken' });
    expect((await g.call('Identity', 'RegisterUser', { email: `x-${email}`, password: 'password123' })).error).toMatchObject({
      status: status.INVALID_ARGUMENT,
      code: 'validation_failed',
    });

    const login = await g.call('Identity', 'Login', { email, password });
    expect(login.response).toMatchObject({ tokenType: 'Bearer', expiresIn: expect.any(Number) });
    expect((await g.call('Identity', 'Login', { email, password: 'not-the-password' })).error).toMatchObject({ status: status.UNAUTHENTICATED, code: 'invalid_credentials' });

    const token = login.response.accessToken;
    expect((await g.call('Identity', 'GetMe', {}, { token })).response).toEqual({ id: registered.response.id, email, displayName: 'Real', roles: ['user'], mfaEnabled: false });
    expect((await g.call('Wallets', 'OpenWallet', { currency: 'JPY' }, { token })).response).toMatchObject({ ownerId: registered.response.id, currency: 'JPY' });
  });
});
