// The identity application service: each command of `identity.commands` is "load, check the
// credentials (crypto), decide, append, reply". Business rules live in ../domain; here are only
// the I/O and the crypto the pure decider must not do. Nothing secret is logged: log lines name
// the command type and the error, never a payload.
import {
  commandMetaOf,
  domainError,
  idFromKey,
  type Clock,
  type DomainError,
  type IdentityCommandEnvelope,
  type IdGenerator,
  type Reply,
  type TokenPair,
} from '@ledger/contracts';
import { WrongExpectedVersionError, type AggregateSnapshots, type EventStore } from '@ledger/event-store';
import { COMMON_PASSWORDS } from '../domain/common-passwords';
import { emailKey, registrationProblems } from '../domain/credentials-policy';
import { decideReservation, type ReservationHolder } from '../domain/email-reservation';
import { isValidId, validationFailed, type FieldProblem } from '../domain/limits';
import { isSessionAlive, type RegisteredUser, type UserEvent, type UserState } from '../domain/user';
import { decide, NO_TOTP, replyErrorOf, weighsCredentials, type Login as LoginCommand, type TotpCheck, type UserCommand, type UserContext, type UserDecision } from '../domain/user.commands';
import { meView, userView } from '../domain/views';
import type { IdentityConfig } from '../identity.config';
import { AccessTokenSigner } from './access-tokens';
import { HashingBusyError, mintRefreshToken, parseRefreshToken, PasswordHasher, SecretBox, tokenHash } from './credentials';
import { TotpCodes } from './totp-codes';
import type { IdentityKeys } from './identity-keys';
import { UserRepository, type EventOrigin } from './user-repository';

/** Tries of one command when another process appended to the same user stream in between. */
export const APPEND_ATTEMPTS_MAX = 5;

/** The id of the user a RegisterUser creates: the same for every retry of one idempotency key. */
export function userIdForKey(idempotencyKey: string): string {
  return idFromKey('identity.user', idempotencyKey);
}

export interface IdentityServiceDeps {
  readonly config: IdentityConfig;
  readonly store: EventStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly keys: IdentityKeys;
  readonly commonPasswords?: ReadonlySet<string>;
  readonly log?: (message: string) => void;
  /** Saved user states cold loads start from (SqliteUserSnapshots); without them a cold load folds the whole stream. */
  readonly snapshots?: AggregateSnapshots<UserState>;
}

type Outcome = { ok: true; state: UserState; events: UserEvent[] } | { ok: false; error: DomainError };
type Message<T extends IdentityCommandEnvelope['type']> = Extract<IdentityCommandEnvelope, { type: T }>;

export class IdentityService {
  readonly signer: AccessTokenSigner;
  private readonly users: UserRepository;
  private readonly passwords: PasswordHasher;
  private readonly totp: TotpCodes;
  private readonly secrets: SecretBox;
  private readonly commonPasswords: ReadonlySet<string>;

  constructor(private readonly deps: IdentityServiceDeps) {
    const { config, keys } = deps;
    this.users = new UserRepository(deps.store, deps.ids, config.IDENTITY_USER_CACHE_MAX, deps.snapshots);
    this.passwords = new PasswordHasher(
      { memoryKib: config.IDENTITY_ARGON2_MEMORY_KIB, iterations: config.IDENTITY_ARGON2_ITERATIONS, parallelism: config.IDENTITY_ARGON2_PARALLELISM },
      { inFlightMax: config.IDENTITY_HASHES_IN_FLIGHT_MAX, queuedMax: config.IDENTITY_HASHES_QUEUED_MAX },
    );
    this.totp = new TotpCodes(config.IDENTITY_TOTP_ISSUER, config.IDENTITY_TOTP_DRIFT_STEPS);
    this.secrets = new SecretBox(keys.totpKey, keys.totpKeyId, keys.previousTotpKeys);
    this.signer = new AccessTokenSigner(keys, {
      issuer: config.IDENTITY_TOKEN_ISSUER,
      audience: config.IDENTITY_TOKEN_AUDIENCE,
      ttlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    });
    this.commonPasswords = deps.commonPasswords ?? COMMON_PASSWORDS;
  }

  /** One command, answered after its events are durable (or with the error it got). */
  async execute(message: IdentityCommandEnvelope): Promise<Reply<unknown>> {
    const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
    try {
      return await this.route(message);
    } catch (error) {
      // Overload, not a fault: nothing was decided (a login refused so counts as no failure).
      if (error instanceof HashingBusyError) return { ok: false, error: domainError('unavailable', `${error.message}; retry`, { retryable: true }) };
      this.deps.log?.(`identity: ${String(type).slice(0, 64)} failed: ${error instanceof Error ? error.message : String(error)}`);
      return { ok: false, error: domainError('unavailable', 'the identity service could not complete this command; retry', { retryable: true }) };
    }
  }

  private async route(message: IdentityCommandEnvelope): Promise<Reply<unknown>> {
    if (typeof message !== 'object' || message === null) return failed(validationFailed([{ field: 'type', reason: 'required' }]));
    switch (message.type) {
      case 'GetPublicKeys':
        return { ok: true, value: this.signer.publicKeys() };
      case 'GetMe':
        return this.getMe(message);
      case 'CheckSession':
        return this.checkSession(message);
      default:
        break;
    }
    const origin = originOf(message);
    if ('code' in origin) return failed(origin);
    switch (message.type) {
      case 'RegisterUser':
        return this.register(message, origin);
      case 'Login':
        return this.login(message, origin);
      case 'Refresh':
        return this.refresh(message, origin);
      case 'Logout':
        return this.logout(message, origin);
      case 'StartTotpEnrolment':
        return this.startTotpEnrolment(message, origin);
      case 'ConfirmTotpEnrolment':
        return this.confirmTotpEnrolment(message, origin);
      case 'VerifyStepUp':
        return this.verifyStepUp(message, origin);
      default:
        return failed(validationFailed([{ field: 'type', reason: 'unknown_command' }]));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Commands.

  async register(message: Message<'RegisterUser'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const problems = registrationProblems(message, this.commonPasswords);
    if (problems.length > 0) return failed(validationFailed(problems));
    const userId = userIdForKey(origin.idempotencyKey);
    const displayName = message.displayName ?? null;
    let passwordHash: string | undefined;
    const outcome = await this.run(userId, origin, async (state, nowMs) => {
      if (state.status === 'registered') {
        // A retry: decide compares it with the first registration (same key, same user id).
        return { type: 'RegisterUser', userId, email: message.email, displayName, passwordHash: state.passwordHash };
      }
      passwordHash ??= await this.passwords.hash(message.password);
      const reserved = await this.reserveEmail(message.email, userId, origin, nowMs);
      if (reserved !== undefined) return reserved;
      return { type: 'RegisterUser', userId, email: message.email, displayName, passwordHash };
    });
    if (!outcome.ok) return outcome;
    return { ok: true, value: userView(registered(outcome.state)) };
  }

  async login(message: Message<'Login'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const problems = requiredStrings(message, ['email', 'password']);
    if (message.totp !== undefined && typeof message.totp !== 'string') problems.push({ field: 'totp', reason: 'not_a_string' });
    if (problems.length > 0) return failed(validationFailed(problems));
    const reservation = await this.users.reservation(message.email);
    if (reservation.state.status !== 'reserved') {
      await this.passwords.verifyDecoy(message.password);
      return failed(invalidCredentials());
    }
    const userId = reservation.state.userId;
    let refreshToken = '';
    let sessionId = '';
    const outcome = await this.run(userId, origin, async (state, nowMs) => {
      if (state.status !== 'registered' || emailKey(state.email) !== emailKey(message.email)) {
        await this.passwords.verifyDecoy(message.password);
        return invalidCredentials(); // a reservation whose registration never completed, or completed with another email
      }
      // A locked user, or a retried failure, is answered before any hashing (decide says how).
      const passwordValid = weighsCredentials(state, origin.idempotencyKey, nowMs) && (await this.checkPassword(state, message.password));
      const totp = passwordValid ? this.checkTotp(state, message.totp, nowMs) : NO_TOTP;
      sessionId = this.deps.ids.next();
      refreshToken = mintRefreshToken(userId, sessionId);
      const command: LoginCommand = {
        type: 'Login',
        attemptKey: origin.idempotencyKey,
        passwordValid,
        totp,
        sessionId,
        refreshTokenHash: tokenHash(refreshToken),
        ip: typeof message.ip === 'string' ? message.ip : null,
      };
      // Only a login decide lets in hashes the password anew: a hash for a right password alone (TOTP
      // missing, a retried failure) told it by the answer's time.
      if (!passwordValid || !startsSession(decide(command, state, this.context(nowMs)))) return command;
      const newPasswordHash = await this.passwords.rehashed(state.passwordHash, message.password);
      return newPasswordHash === undefined ? command : { ...command, newPasswordHash };
    });
    if (!outcome.ok) return outcome;
    const error = replyErrorOf(outcome.events);
    if (error !== undefined) return failed(error);
    return { ok: true, value: this.tokenPair(registered(outcome.state), sessionId, refreshToken) };
  }

  async refresh(message: Message<'Refresh'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const selector = parseRefreshToken(message.refreshToken);
    if (selector === undefined) return failed(domainError('unauthenticated', 'the refresh token is not valid'));
    const presentedTokenHash = tokenHash(message.refreshToken);
    let refreshToken = '';
    const outcome = await this.run(selector.userId, origin, async () => {
      refreshToken = mintRefreshToken(selector.userId, selector.sessionId);
      return { type: 'Refresh', attemptKey: origin.idempotencyKey, sessionId: selector.sessionId, presentedTokenHash, newTokenHash: tokenHash(refreshToken) };
    });
    if (!outcome.ok) return outcome;
    const error = replyErrorOf(outcome.events);
    if (error !== undefined) return failed(error);
    return { ok: true, value: this.tokenPair(registered(outcome.state), selector.sessionId, refreshToken) };
  }

  async logout(message: Message<'Logout'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const selector = parseRefreshToken(message.refreshToken);
    if (selector === undefined) return failed(domainError('unauthenticated', 'the refresh token is not valid'));
    const presentedTokenHash = tokenHash(message.refreshToken);
    const outcome = await this.run(selector.userId, origin, async () => ({ type: 'Logout', sessionId: selector.sessionId, presentedTokenHash }));
    if (!outcome.ok) return outcome;
    const error = replyErrorOf(outcome.events);
    return error === undefined ? { ok: true, value: null } : failed(error);
  }

  async startTotpEnrolment(message: Message<'StartTotpEnrolment'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const problems = requiredIds(message, ['userId']);
    if (problems.length > 0) return failed(validationFailed(problems));
    let secret = '';
    const outcome = await this.run(message.userId, origin, async () => {
      secret = this.totp.newSecret();
      return { type: 'StartTotpEnrolment', attemptKey: origin.idempotencyKey, encryptedSecret: this.secrets.seal(secret, message.userId) };
    });
    if (!outcome.ok) return outcome;
    const user = registered(outcome.state);
    // No event: a retry of the enrolment that is pending, so its secret is the one to show again.
    if (outcome.events.length === 0) secret = this.secrets.open(user.totp.pending!.encryptedSecret, user.userId);
    return { ok: true, value: { secret, otpauthUrl: this.totp.otpauthUrl(secret, user.email) } };
  }

  async confirmTotpEnrolment(message: Message<'ConfirmTotpEnrolment'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const problems = requiredIds(message, ['userId']);
    if (problems.length > 0) return failed(validationFailed(problems));
    const outcome = await this.run(message.userId, origin, async (state, nowMs) => {
      const pending = state.status === 'registered' ? state.totp.pending : null;
      const totp = pending === null ? NO_TOTP : this.totp.check(this.secrets.open(pending.encryptedSecret, message.userId), message.code, nowMs);
      return { type: 'ConfirmTotpEnrolment', totp };
    });
    return outcome.ok ? { ok: true, value: null } : outcome;
  }

  async verifyStepUp(message: Message<'VerifyStepUp'>, origin: EventOrigin): Promise<Reply<unknown>> {
    const problems = requiredIds(message, ['userId']);
    for (const field of ['password', 'totp'] as const) {
      if (message[field] !== undefined && typeof message[field] !== 'string') problems.push({ field, reason: 'not_a_string' });
    }
    if (problems.length > 0) return failed(validationFailed(problems));
    const outcome = await this.run(message.userId, origin, async (state, nowMs) => {
      const weighed = state.status === 'registered' && weighsCredentials(state, origin.idempotencyKey, nowMs);
      const passwordValid = message.password === undefined || state.status !== 'registered' ? null : weighed && (await this.checkPassword(state, message.password));
      const totp = message.totp === undefined || state.status !== 'registered' || !weighed ? NO_TOTP : this.checkTotp(state, message.totp, nowMs);
      return { type: 'VerifyStepUp', attemptKey: origin.idempotencyKey, passwordValid, totp };
    });
    if (!outcome.ok) return outcome;
    const error = replyErrorOf(outcome.events);
    return error === undefined ? { ok: true, value: { verified: true } } : failed(error);
  }

  /**
   * Makes the first admin (or promotes the user with that email and ADMIN_PASSWORD); safe to run on every start.
   * `passwordIgnored`: the admin exists with another password, which ADMIN_PASSWORD does not change.
   */
  async bootstrapAdmin(email: string, password: string): Promise<{ userId: string; created: boolean; passwordIgnored: boolean }> {
    const origin: EventOrigin = { idempotencyKey: `identity.bootstrap-admin:${emailKey(email)}`, actor: 'identity-bootstrap' };
    let created = false;
    let userId = await this.ownerOf(email);
    if (userId === undefined) {
      const reply = await this.register({ type: 'RegisterUser', email, password, meta: origin }, origin);
      if (!reply.ok && reply.error.code !== 'email_taken') throw new Error(`bootstrapping the admin failed: ${reply.error.code} ${reply.error.message}`);
      created = reply.ok;
      userId = await this.ownerOf(email);
    }
    if (userId === undefined) throw new Error('bootstrapping the admin failed: no user is registered with the email');
    const { state } = await this.users.load(userId);
    const passwordIgnored = !created && state.status === 'registered' && !(await this.checkPassword(state, password));
    // Anyone may register any email (none is verified): only the holder of ADMIN_PASSWORD is promoted.
    if (passwordIgnored && !state.roles.includes('admin')) {
      throw new Error('bootstrapping the admin failed: the user registered with ADMIN_EMAIL has another password than ADMIN_PASSWORD');
    }
    const granted = await this.run(userId, origin, async () => ({ type: 'GrantRole', role: 'admin' }));
    if (!granted.ok) throw new Error(`bootstrapping the admin failed: ${granted.error.code} ${granted.error.message}`);
    return { userId, created, passwordIgnored };
  }

  // -------------------------------------------------------------------------------------------
  // Queries: read the user's stream (through the cache), so a caller reads its own writes.

  private async getMe(message: Message<'GetMe'>): Promise<Reply<unknown>> {
    const problems = requiredIds(message, ['userId']);
    if (problems.length > 0) return failed(validationFailed(problems));
    const { state } = await this.users.load(message.userId);
    if (state.status !== 'registered') return failed(domainError('not_found', 'no such user'));
    return { ok: true, value: meView(state) };
  }

  private async checkSession(message: Message<'CheckSession'>): Promise<Reply<unknown>> {
    const problems = requiredIds(message, ['userId', 'sessionId']);
    if (problems.length > 0) return failed(validationFailed(problems));
    const { state } = await this.users.load(message.userId);
    const alive = state.status === 'registered' && isSessionAlive(state.sessions.get(message.sessionId), this.deps.clock.nowMs());
    return { ok: true, value: { alive } };
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Load, build the command (crypto happens here), decide, append; again from a fresh load when
   * another writer appended in between. One user's commands run one at a time in this process.
   */
  private run(userId: string, origin: EventOrigin, build: (state: UserState, nowMs: number) => Promise<UserCommand | DomainError>): Promise<Outcome> {
    return this.users.withLock(userId, async () => {
      for (let attempt = 1; attempt <= APPEND_ATTEMPTS_MAX; attempt++) {
        const loaded = await this.users.load(userId);
        const nowMs = this.deps.clock.nowMs();
        const command = await build(loaded.state, nowMs);
        if ('code' in command) return { ok: false, error: command };
        const decision = decide(command, loaded.state, this.context(nowMs));
        if (!decision.ok) return decision;
        if (decision.events.length === 0) return { ok: true, state: loaded.state, events: [] };
        try {
          const appended = await this.users.append(userId, loaded, decision.events, origin, nowMs);
          return { ok: true, state: appended.state, events: decision.events };
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError)) throw error;
        }
      }
      return { ok: false, error: domainError('unavailable', 'this user changed too often meanwhile; retry', { retryable: true }) };
    });
  }

  /** Undefined when `userId` holds the email now (newly or from an earlier try of this key). */
  private async reserveEmail(email: string, userId: string, origin: EventOrigin, nowMs: number): Promise<DomainError | undefined> {
    for (let attempt = 1; attempt <= APPEND_ATTEMPTS_MAX; attempt++) {
      const loaded = await this.users.reservation(email);
      const holder = loaded.state.status === 'reserved' && loaded.state.userId !== userId ? await this.holderOf(loaded.state.userId, email) : 'unregistered';
      const decision = decideReservation({ type: 'ReserveEmail', userId }, loaded.state, { nowMs, holder });
      if (!decision.ok) return decision.error;
      try {
        await this.users.reserve(email, loaded, decision.events, origin, nowMs);
        return undefined;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        // Someone reserved it first; the next read says whom.
      }
    }
    return domainError('unavailable', 'this email changed hands too often meanwhile; retry', { retryable: true });
  }

  /** What became of the user a reservation of `email` names. */
  private async holderOf(userId: string, email: string): Promise<ReservationHolder> {
    const { state } = await this.users.load(userId);
    if (state.status !== 'registered') return 'unregistered';
    return emailKey(state.email) === emailKey(email) ? 'this_email' : 'other_email';
  }

  /** The user registered with `email`, if any. */
  private async ownerOf(email: string): Promise<string | undefined> {
    const { state } = await this.users.reservation(email);
    if (state.status !== 'reserved') return undefined;
    return (await this.holderOf(state.userId, email)) === 'this_email' ? state.userId : undefined;
  }

  private context(nowMs: number): UserContext {
    const { config } = this.deps;
    return {
      nowMs,
      lockoutFailures: config.IDENTITY_LOCKOUT_FAILURES,
      lockoutMs: config.IDENTITY_LOCKOUT_MS,
      sessionTtlMs: config.REFRESH_TOKEN_TTL_SECONDS * 1000,
      sessionsMax: config.IDENTITY_SESSIONS_MAX,
    };
  }

  private async checkPassword(state: RegisteredUser, password: string): Promise<boolean> {
    return this.passwords.verify(state.passwordHash, password);
  }

  private checkTotp(state: RegisteredUser, code: string | undefined, nowMs: number): TotpCheck {
    if (code === undefined) return NO_TOTP;
    if (!state.totp.enabled || state.totp.encryptedSecret === null) return { provided: true, timeStep: null };
    return this.totp.check(this.secrets.open(state.totp.encryptedSecret, state.userId), code, nowMs);
  }

  private tokenPair(user: RegisteredUser, sessionId: string, refreshToken: string): TokenPair {
    const nowMs = this.deps.clock.nowMs();
    return {
      accessToken: this.signer.sign({ userId: user.userId, roles: user.roles, sessionId }, nowMs, this.deps.ids.next()),
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.signer.ttlSeconds,
    };
  }
}

// ---------------------------------------------------------------------------------------------

function failed(error: DomainError): { ok: false; error: DomainError } {
  return { ok: false, error };
}

function invalidCredentials(): DomainError {
  return domainError('invalid_credentials', 'the email, password or TOTP code is wrong');
}

function startsSession(decision: UserDecision): boolean {
  return decision.ok && decision.events.some((event) => event.type === 'identity.LoginSucceeded.v1');
}

function registered(state: UserState): RegisteredUser {
  if (state.status !== 'registered') throw new Error('invariant: the command succeeded on an unregistered user');
  return state;
}

/** State-changing commands carry an idempotency key (attempts are deduplicated by it) and say who asked. */
function originOf(message: IdentityCommandEnvelope): EventOrigin | DomainError {
  return commandMetaOf(message, 'identity');
}

function requiredStrings<T extends object>(message: T, fields: readonly (keyof T & string)[]): FieldProblem[] {
  return fields
    .filter((field) => typeof message[field] !== 'string' || (message[field] as string).length === 0)
    .map((field) => ({ field, reason: 'required' }));
}

function requiredIds<T extends object>(message: T, fields: readonly (keyof T & string)[]): FieldProblem[] {
  return fields.filter((field) => !isValidId(message[field])).map((field) => ({ field, reason: 'required' }));
}
