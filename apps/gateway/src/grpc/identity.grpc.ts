// ledger.v1.Identity: each method is one call to IdentityOperations behind the same rules as its
// HTTP route (stated in its operation below).
import type { Metadata } from '@grpc/grpc-js';
import { Controller, Inject } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { MeView, TokenPair, UserView } from '@ledger/contracts';
import { IdentityOperations, type TotpEnrolment } from '../application/identity-operations';
import { ConfirmTotpDto, LoginDto, RefreshTokenDto, RegisterUserDto } from '../transport/identity.dto';
import { GrpcEdge, type GrpcCall, type GrpcOperation } from './grpc-edge';

interface RegisterUserRequest {
  readonly email?: string;
  readonly password?: string;
  readonly displayName?: string;
}
interface LoginRequest {
  readonly email?: string;
  readonly password?: string;
  readonly totp?: string;
}
interface RefreshRequest {
  readonly refreshToken?: string;
}

export const IDENTITY_OPERATIONS = {
  RegisterUser: {
    http: (request: RegisterUserRequest) => ({ method: 'POST', path: '/v1/users', body: { email: request.email, password: request.password, displayName: request.displayName } }),
    public: true,
    rateLimit: 'login',
    idempotency: { required: false, record: true },
    status: 201,
    body: RegisterUserDto,
  },
  // Not recorded for replays: the response carries tokens, which never enter the event store.
  Login: {
    http: (request: LoginRequest) => ({ method: 'POST', path: '/v1/auth/login', body: { email: request.email, password: request.password, totp: request.totp } }),
    public: true,
    rateLimit: 'login',
    idempotency: { required: false, record: false },
    status: 200,
    body: LoginDto,
  },
  Refresh: {
    http: (request: RefreshRequest) => ({ method: 'POST', path: '/v1/auth/refresh', body: { refreshToken: request.refreshToken } }),
    public: true,
    rateLimit: 'login',
    idempotency: { required: false, record: false },
    status: 200,
    body: RefreshTokenDto,
  },
  Logout: {
    http: (request: RefreshRequest) => ({ method: 'POST', path: '/v1/auth/logout', body: { refreshToken: request.refreshToken } }),
    public: true,
    rateLimit: 'login',
    idempotency: { required: false, record: true },
    status: 204,
    body: RefreshTokenDto,
  },
  GetMe: { http: () => ({ method: 'GET', path: '/v1/me', body: null }), status: 200 },
  // Not recorded for replays: the response carries the TOTP secret.
  StartTotpEnrolment: {
    http: () => ({ method: 'POST', path: '/v1/me/mfa/totp', body: null }),
    rateLimit: 'write',
    idempotency: { required: false, record: false },
    status: 200,
  },
  ConfirmTotp: {
    http: (request: { code?: string }) => ({ method: 'POST', path: '/v1/me/mfa/totp/confirm', body: { code: request.code } }),
    rateLimit: 'write',
    idempotency: { required: false, record: true },
    status: 204,
    body: ConfirmTotpDto,
  },
} satisfies Record<string, GrpcOperation<never>>;

@Controller()
export class IdentityGrpcController {
  constructor(
    @Inject(GrpcEdge) private readonly edge: GrpcEdge,
    @Inject(IdentityOperations) private readonly identity: IdentityOperations,
  ) {}

  @GrpcMethod('Identity', 'RegisterUser')
  registerUser(request: RegisterUserRequest, _metadata: Metadata, call: GrpcCall): Promise<UserView> {
    return this.edge.run(IDENTITY_OPERATIONS.RegisterUser, request, call, (c) =>
      this.identity.register({ email: String(request.email), password: String(request.password), displayName: request.displayName }, c.keys),
    );
  }

  @GrpcMethod('Identity', 'Login')
  login(request: LoginRequest, _metadata: Metadata, call: GrpcCall): Promise<TokenPair> {
    return this.edge.run(IDENTITY_OPERATIONS.Login, request, call, (c) =>
      this.identity.login({ email: String(request.email), password: String(request.password), totp: request.totp }, c.ip, c.keys),
    );
  }

  @GrpcMethod('Identity', 'Refresh')
  refresh(request: RefreshRequest, _metadata: Metadata, call: GrpcCall): Promise<TokenPair> {
    return this.edge.run(IDENTITY_OPERATIONS.Refresh, request, call, (c) => this.identity.refresh(String(request.refreshToken), c.keys));
  }

  @GrpcMethod('Identity', 'Logout')
  logout(request: RefreshRequest, _metadata: Metadata, call: GrpcCall): Promise<object> {
    return this.edge.run<RefreshRequest, object>(IDENTITY_OPERATIONS.Logout, request, call, (c) => this.identity.logout(String(request.refreshToken), c.keys));
  }

  @GrpcMethod('Identity', 'GetMe')
  getMe(request: object, _metadata: Metadata, call: GrpcCall): Promise<MeView> {
    return this.edge.run(IDENTITY_OPERATIONS.GetMe, request, call, (c) => this.identity.me(c.caller(), c.correlationId));
  }

  @GrpcMethod('Identity', 'StartTotpEnrolment')
  startTotpEnrolment(request: object, _metadata: Metadata, call: GrpcCall): Promise<TotpEnrolment> {
    return this.edge.run(IDENTITY_OPERATIONS.StartTotpEnrolment, request, call, (c) => this.identity.startTotp(c.caller(), c.keys));
  }

  @GrpcMethod('Identity', 'ConfirmTotp')
  confirmTotp(request: { code?: string }, _metadata: Metadata, call: GrpcCall): Promise<object> {
    return this.edge.run<{ code?: string }, object>(IDENTITY_OPERATIONS.ConfirmTotp, request, call, (c) => this.identity.confirmTotp(c.caller(), String(request.code), c.keys));
  }
}
