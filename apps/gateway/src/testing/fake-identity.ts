// A stand-in for the identity service on `identity.commands`, for the gateway's tests until the
// real one (apps/identity) lands: the same wire contract (libs/contracts identity-messages.ts),
// answered from memory, with access tokens signed by a test Ed25519 key. Minimal on purpose:
// no argon2, no event store; enough to register, log in, refresh, log out, read /me and enrol TOTP.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Controller, Inject, Module, type DynamicModule, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  domainError,
  IDENTITY_TOPICS,
  toIsoTime,
  uuidv7,
  type Clock,
  type IdentityCommandEnvelope,
  type MeView,
  type PublicKeys,
  type Reply,
  type Role,
  type TokenPair,
  type UserView,
} from '@ledger/contracts';
import { BusServer, type MessageBus } from '@ledger/messaging';

export const FAKE_ISSUER = 'ledger-identity';
export const FAKE_AUDIENCE = 'ledger-gateway';
const FAKE_KEY_ID = 'fake-identity-1';
const FAILURES_BEFORE_LOCK = 5;
const LOCK_MS = 15 * 60 * 1000;
export const FAKE_TOTP_CODE = '123456';

interface FakeUser {
  readonly id: string;
  readonly email: string;
  readonly password: string;
  readonly displayName: string | null;
  readonly roles: Role[];
  readonly createdAtMs: number;
  failures: number;
  lockedUntilMs: number;
  mfaEnabled: boolean;
}

interface RefreshToken {
  readonly userId: string;
  readonly family: string;
  used: boolean;
}

export interface FakeIdentityOptions {
  readonly bus: MessageBus;
  readonly clock: Clock;
  /** Users created with the role `admin` at start (as ADMIN_EMAIL/ADMIN_PASSWORD will). */
  readonly admins?: readonly { email: string; password: string }[];
  readonly accessTokenTtlS?: number;
}

export class FakeIdentity {
  private readonly users = new Map<string, FakeUser>();
  private readonly userIdsByEmail = new Map<string, string>();
  private readonly refreshTokens = new Map<string, RefreshToken>();
  private readonly revokedFamilies = new Set<string>();
  private readonly privateKey: KeyObject;
  readonly publicJwk: Record<string, unknown>;
  /** Every command received, for tests that check what the gateway sent. */
  readonly received: IdentityCommandEnvelope[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly accessTokenTtlS: number,
  ) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    this.publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: FAKE_KEY_ID, alg: 'EdDSA', use: 'sig' };
  }

  addUser(email: string, password: string, roles: Role[], displayName: string | null = null): FakeUser {
    const user: FakeUser = {
      id: uuidv7.next(),
      email,
      password,
      displayName,
      roles,
      createdAtMs: this.clock.nowMs(),
      failures: 0,
      lockedUntilMs: 0,
      mfaEnabled: false,
    };
    this.users.set(user.id, user);
    this.userIdsByEmail.set(email.toLowerCase(), user.id);
    return user;
  }

  /** Signs any claims with the fake's key (tests use it for expired or forged tokens). */
  signAccessToken(claims: Record<string, unknown>, options: { key?: KeyObject; kid?: string } = {}): string {
    const header = { alg: 'EdDSA', typ: 'JWT', kid: options.kid ?? FAKE_KEY_ID };
    const input = `${base64url(header)}.${base64url(claims)}`;
    return `${input}.${sign(null, Buffer.from(input), options.key ?? this.privateKey).toString('base64url')}`;
  }

  handle(message: IdentityCommandEnvelope): Reply<unknown> {
    this.received.push(message);
    switch (message.type) {
      case 'RegisterUser': {
        if (this.userIdsByEmail.has(message.email.toLowerCase())) return failure('email_taken', 'this email is registered');
        if (message.password.length < 10 || message.password.length > 128) return failure('validation_failed', 'password: 10 to 128 characters');
        return { ok: true, value: userView(this.addUser(message.email, message.password, ['user'], message.displayName ?? null)) };
      }
      case 'Login': {
        const user = this.userByEmail(message.email);
        const nowMs = this.clock.nowMs();
        if (user !== undefined && user.lockedUntilMs > nowMs) return failure('account_locked', 'too many failed logins; try later');
        if (user === undefined || user.password !== message.password) {
          if (user !== undefined && ++user.failures >= FAILURES_BEFORE_LOCK) {
            user.failures = 0;
            user.lockedUntilMs = nowMs + LOCK_MS;
          }
          return failure('invalid_credentials', 'wrong email or password');
        }
        user.failures = 0;
        return { ok: true, value: this.issue(user, uuidv7.next()) };
      }
      case 'Refresh': {
        const token = this.refreshTokens.get(message.refreshToken);
        if (token === undefined || this.revokedFamilies.has(token.family)) return failure('unauthenticated', 'refresh token not valid');
        if (token.used) {
          this.revokedFamilies.add(token.family); // reuse: revoke the whole login
          return failure('unauthenticated', 'refresh token reused; the login is revoked');
        }
        token.used = true;
        return { ok: true, value: this.issue(this.users.get(token.userId)!, token.family) };
      }
      case 'Logout': {
        const token = this.refreshTokens.get(message.refreshToken);
        if (token !== undefined) this.revokedFamilies.add(token.family);
        return { ok: true, value: null };
      }
      case 'GetMe': {
        const user = this.users.get(message.userId);
        if (user === undefined) return failure('not_found', 'no such user');
        const me: MeView = { id: user.id, email: user.email, displayName: user.displayName, roles: user.roles, mfaEnabled: user.mfaEnabled };
        return { ok: true, value: me };
      }
      case 'StartTotpEnrolment': {
        const user = this.users.get(message.userId);
        if (user === undefined) return failure('not_found', 'no such user');
        return { ok: true, value: { secret: 'JBSWY3DPEHPK3PXP', otpauthUrl: `otpauth://totp/ledger:${user.email}?secret=JBSWY3DPEHPK3PXP&issuer=ledger` } };
      }
      case 'ConfirmTotpEnrolment': {
        const user = this.users.get(message.userId);
        if (user === undefined) return failure('not_found', 'no such user');
        if (message.code !== FAKE_TOTP_CODE) return failure('validation_failed', 'code: not the current TOTP code');
        user.mfaEnabled = true;
        return { ok: true, value: null };
      }
      case 'GetPublicKeys': {
        const keys: PublicKeys = { keys: [this.publicJwk], issuer: FAKE_ISSUER, audience: FAKE_AUDIENCE };
        return { ok: true, value: keys };
      }
      case 'VerifyStepUp': {
        const user = this.users.get(message.userId);
        const passwordOk = message.password !== undefined && user?.password === message.password;
        const totpOk = message.totp !== undefined && user?.mfaEnabled === true && message.totp === FAKE_TOTP_CODE;
        return passwordOk || totpOk ? { ok: true, value: { verified: true } } : failure('step_up_required', 'confirm with a valid password or TOTP code');
      }
      case 'CheckSession':
        return { ok: true, value: { alive: this.users.has(message.userId) && !this.revokedFamilies.has(message.sessionId) } };
      default:
        return failure('validation_failed', 'unknown command type');
    }
  }

  private userByEmail(email: string): FakeUser | undefined {
    const id = this.userIdsByEmail.get(String(email).toLowerCase());
    return id === undefined ? undefined : this.users.get(id);
  }

  private issue(user: FakeUser, family: string): TokenPair {
    const nowS = Math.floor(this.clock.nowMs() / 1000);
    const accessToken = this.signAccessToken({
      iss: FAKE_ISSUER,
      aud: FAKE_AUDIENCE,
      sub: user.id,
      roles: user.roles,
      sid: family,
      iat: nowS,
      exp: nowS + this.accessTokenTtlS,
    });
    const refreshToken = randomBytes(32).toString('base64url');
    this.refreshTokens.set(refreshToken, { userId: user.id, family, used: false });
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: this.accessTokenTtlS };
  }
}

function userView(user: FakeUser): UserView {
  return { id: user.id, email: user.email, displayName: user.displayName, createdAt: toIsoTime(user.createdAtMs) };
}

function failure(code: Parameters<typeof domainError>[0], message: string): Reply<never> {
  return { ok: false, error: domainError(code, message) };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const FAKE = Symbol('FAKE_IDENTITY');

@Controller()
class FakeIdentityController {
  constructor(@Inject(FAKE) private readonly fake: FakeIdentity) {}

  @MessagePattern<string>(IDENTITY_TOPICS.commands)
  handle(@Payload() message: IdentityCommandEnvelope): Reply<unknown> {
    return this.fake.handle(message);
  }
}

@Module({})
class FakeIdentityModule {
  static register(fake: FakeIdentity): DynamicModule {
    return { module: FakeIdentityModule, controllers: [FakeIdentityController], providers: [{ provide: FAKE, useValue: fake }] };
  }
}

export interface RunningFakeIdentity {
  readonly fake: FakeIdentity;
  close(): Promise<void>;
}

/** Serves `identity.commands` on the bus as a Nest microservice, as the real service will. */
export async function startFakeIdentity(options: FakeIdentityOptions): Promise<RunningFakeIdentity> {
  const fake = new FakeIdentity(options.clock, options.accessTokenTtlS ?? 900);
  for (const admin of options.admins ?? []) fake.addUser(admin.email, admin.password, ['user', 'admin']);
  const app: INestMicroservice = await NestFactory.createMicroservice(FakeIdentityModule.register(fake), {
    strategy: new BusServer(options.bus, { groupId: 'identity', topics: { [IDENTITY_TOPICS.commands]: 4 } }),
    logger: ['error'],
  });
  await app.listen();
  return { fake, close: () => app.close() };
}
