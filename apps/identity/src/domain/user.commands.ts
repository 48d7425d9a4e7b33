// The user aggregate, part 2: its commands and `decide`. Events, state and `evolve` are in
// ./user.ts.
//
// `decide` is pure: the application hashes passwords, verifies them and TOTP codes, mints
// session ids and refresh tokens, and hands in only the results (`passwordValid`, the matched
// TOTP time step, token hashes). A failed login is a fact, not a rejection: it returns events
// (LoginFailed, maybe UserLocked) and the reply's error comes from `replyErrorOf(events)`.
// `{ ok: false }` is kept for commands that change nothing.
//
// Lockout (API.md): IDENTITY_LOCKOUT_FAILURES consecutive failed authentications (a wrong
// password, a missing or wrong TOTP code at login, a failed step-up) lock the user for
// IDENTITY_LOCKOUT_MS; while locked every login and step-up answers `account_locked`, even with
// the right password; the lock resets the count, and a success resets it too.
import { domainError, toIsoTime, type DomainError, type Role } from '@ledger/contracts';
import { displayNameProblem, emailKey, emailProblem } from './credentials-policy';
import { IP_LENGTH_MAX, isValidId, validationFailed, type FieldProblem } from './limits';
import {
  evolve,
  initialState,
  isLocked,
  isSessionAlive,
  type LoginFailureReason,
  type RegisteredUser,
  type Session,
  type UserEvent,
  type UserState,
} from './user';

// ---------------------------------------------------------------------------------------------
// Commands.

/** What the application learnt from a TOTP code, if one was sent. */
export type TotpCheck =
  | { readonly provided: false }
  /** `timeStep`: the RFC 6238 time step the code matched, or null when it matched none. */
  | { readonly provided: true; readonly timeStep: number | null };

export const NO_TOTP: TotpCheck = { provided: false };

export interface RegisterUser {
  readonly type: 'RegisterUser';
  /** Derived from the idempotency key, so a retry names the same user. */
  readonly userId: string;
  readonly email: string;
  readonly displayName: string | null;
  /** argon2id PHC string; the password never reaches the domain. */
  readonly passwordHash: string;
}

export interface GrantRole {
  readonly type: 'GrantRole';
  readonly role: Role;
}

export interface Login {
  readonly type: 'Login';
  readonly attemptKey: string;
  readonly passwordValid: boolean;
  readonly totp: TotpCheck;
  /** Fresh ids and the new refresh token's hash, used only if the login succeeds. */
  readonly sessionId: string;
  readonly refreshTokenHash: string;
  readonly ip: string | null;
  /** The password hashed at the current argon2 cost, when the stored hash was made at another (only for a valid password). */
  readonly newPasswordHash?: string;
}

export interface Refresh {
  readonly type: 'Refresh';
  readonly attemptKey: string;
  readonly sessionId: string;
  readonly presentedTokenHash: string;
  readonly newTokenHash: string;
}

export interface Logout {
  readonly type: 'Logout';
  readonly sessionId: string;
  readonly presentedTokenHash: string;
}

export interface StartTotpEnrolment {
  readonly type: 'StartTotpEnrolment';
  readonly attemptKey: string;
  /** A fresh secret, sealed by the application. */
  readonly encryptedSecret: string;
}

export interface ConfirmTotpEnrolment {
  readonly type: 'ConfirmTotpEnrolment';
  /** The code checked against the pending secret. */
  readonly totp: TotpCheck;
}

export interface VerifyStepUp {
  readonly type: 'VerifyStepUp';
  readonly attemptKey: string;
  /** null: no password was sent. */
  readonly passwordValid: boolean | null;
  readonly totp: TotpCheck;
}

export type UserCommand = RegisterUser | GrantRole | Login | Refresh | Logout | StartTotpEnrolment | ConfirmTotpEnrolment | VerifyStepUp;

/** What decide needs besides the command and the state: the time and the configured limits. */
export interface UserContext {
  readonly nowMs: number;
  /** IDENTITY_LOCKOUT_FAILURES */
  readonly lockoutFailures: number;
  /** IDENTITY_LOCKOUT_MS */
  readonly lockoutMs: number;
  /** REFRESH_TOKEN_TTL_SECONDS in ms: how long a login (its refresh-token family) lasts. */
  readonly sessionTtlMs: number;
  /** IDENTITY_SESSIONS_MAX: live sessions per user; a new login ends the oldest beyond it. */
  readonly sessionsMax: number;
}

export type UserDecision = { ok: true; events: UserEvent[] } | { ok: false; error: DomainError };

// ---------------------------------------------------------------------------------------------
// decide: pure; reads the state, never changes it.

export function decide(command: UserCommand, state: UserState, context: UserContext): UserDecision {
  if (!Number.isSafeInteger(context.nowMs) || context.nowMs < 0) throw new RangeError(`context.nowMs must be a non-negative integer, got ${context.nowMs}`);
  if (command.type === 'RegisterUser') return registerUser(command, state, context);
  if (state.status !== 'registered') return rejected(unregisteredError(command));
  switch (command.type) {
    case 'GrantRole':
      return grantRole(command, state, context);
    case 'Login':
      return login(command, state, context);
    case 'Refresh':
      return refresh(command, state, context);
    case 'Logout':
      return logout(command, state, context);
    case 'StartTotpEnrolment':
      return startTotpEnrolment(command, state, context);
    case 'ConfirmTotpEnrolment':
      return confirmTotpEnrolment(command, state, context);
    case 'VerifyStepUp':
      return verifyStepUp(command, state, context);
    default: {
      const unknown: never = command;
      return rejected(validationFailed([{ field: 'type', reason: 'unknown_command' }], `unknown command ${(unknown as { type: string }).type}`));
    }
  }
}

/** The user as a decider: what `deciderSpec` and the application run. */
export const userDecider = { initialState, evolve, decide };

/**
 * Whether decide weighs this attempt's credentials: not while the user is locked, nor for a retry of
 * a failed or locking attempt (answered as it first was, uncounted). The application checks none
 * otherwise: a check's time (two hashes for a wrong decomposed password, one for the right) would be a free guess.
 */
export function weighsCredentials(state: RegisteredUser, attemptKey: string, nowMs: number): boolean {
  const first = state.attempts.get(attemptKey);
  return first !== 'failed' && first !== 'locked' && !isLocked(state, nowMs);
}

/** The error a reply carries when the decision recorded a failure (failed login or step-up, token reuse). */
export function replyErrorOf(events: readonly UserEvent[]): DomainError | undefined {
  const locked = events.find((event) => event.type === 'identity.UserLocked.v1');
  if (locked !== undefined) return accountLocked(locked.data.lockedUntilMs);
  for (const event of events) {
    if (event.type === 'identity.LoginFailed.v1') return invalidCredentials();
    if (event.type === 'identity.StepUpFailed.v1') return stepUpRequired();
    if (event.type === 'identity.SessionRevoked.v1' && event.data.reason === 'refresh_token_reuse') return refreshTokenReused();
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------

function registerUser(command: RegisterUser, state: UserState, context: UserContext): UserDecision {
  if (!command.passwordHash.startsWith('$argon2id$')) throw new RangeError('RegisterUser needs an argon2id hash');
  const problems = [emailProblem(command.email), displayNameProblem(command.displayName)].filter((problem): problem is FieldProblem => problem !== undefined);
  if (problems.length > 0) return rejected(validationFailed(problems));
  if (state.status === 'registered') {
    // The user id comes from the idempotency key: the same key again.
    const same = emailKey(state.email) === emailKey(command.email) && state.displayName === command.displayName;
    return same ? accepted() : rejected(domainError('idempotency_key_reuse', 'this idempotency key registered a different user'));
  }
  return accepted({
    type: 'identity.UserRegistered.v1',
    data: {
      userId: command.userId,
      email: command.email,
      displayName: command.displayName,
      passwordHash: command.passwordHash,
      roles: ['user'],
      atMs: context.nowMs,
    },
  });
}

function grantRole(command: GrantRole, state: RegisteredUser, context: UserContext): UserDecision {
  if (command.role !== 'user' && command.role !== 'admin') return rejected(validationFailed([{ field: 'role', reason: 'unknown_role' }]));
  if (state.roles.includes(command.role)) return accepted();
  return accepted({ type: 'identity.RoleGranted.v1', data: { role: command.role, atMs: context.nowMs } });
}

function login(command: Login, state: RegisteredUser, context: UserContext): UserDecision {
  if (!isValidId(command.attemptKey)) return rejected(domainError('idempotency_key_required', 'a login carries an idempotency key'));
  const first = state.attempts.get(command.attemptKey);
  // A retried failure is answered, not counted again; a retried success logs in afresh (the
  // first refresh token exists only as a hash, so it cannot be handed out twice) only with every
  // factor again: a key is no credential (the gateway passes an unrecorded route's key on with no
  // time limit). Its TOTP code, already accepted for this very attempt, is not taken for a replay.
  if (first === 'failed') return rejected(invalidCredentials());
  if (first === 'locked') return rejected(state.lockedUntilMs === null ? invalidCredentials() : accountLocked(state.lockedUntilMs));
  if (isLocked(state, context.nowMs)) return rejected(accountLocked(state.lockedUntilMs!));
  const ip = command.ip === null ? null : command.ip.slice(0, IP_LENGTH_MAX);
  const retryOfSuccess = first === 'succeeded';
  const failure = loginFailure(command, state, retryOfSuccess);
  if (failure !== undefined) {
    const failures = state.failures + 1;
    return accepted(
      { type: 'identity.LoginFailed.v1', data: { reason: failure, failures, attemptKey: command.attemptKey, ip, atMs: context.nowMs } },
      ...lockIfLimit(failures, command.attemptKey, context),
    );
  }
  if (state.sessions.has(command.sessionId)) throw new RangeError(`session id ${command.sessionId} is not fresh`);
  return accepted(
    ...evictions(state, context),
    {
      type: 'identity.LoginSucceeded.v1',
      data: {
        sessionId: command.sessionId,
        totpTimeStep: state.totp.enabled ? acceptedTimeStep(command.totp, state) : null,
        attemptKey: command.attemptKey,
        ip,
        atMs: context.nowMs,
      },
    },
    {
      type: 'identity.RefreshTokenIssued.v1',
      data: { sessionId: command.sessionId, tokenHash: command.refreshTokenHash, expiresAtMs: context.nowMs + context.sessionTtlMs, atMs: context.nowMs },
    },
    ...rehashed(command, state, context),
  );
}

/** A successful login replaces a hash made at an older cost, so its cost no longer applies to every later login. */
function rehashed(command: Login, state: RegisteredUser, context: UserContext): UserEvent[] {
  const hash = command.newPasswordHash;
  if (hash === undefined || hash === state.passwordHash) return [];
  if (!hash.startsWith('$argon2id$')) throw new RangeError('Login needs an argon2id hash to rehash with');
  return [{ type: 'identity.PasswordRehashed.v1', data: { passwordHash: hash, atMs: context.nowMs } }];
}

function loginFailure(command: Login, state: RegisteredUser, retryOfSuccess: boolean): LoginFailureReason | undefined {
  if (!command.passwordValid) return 'password';
  if (!state.totp.enabled) return undefined;
  if (!command.totp.provided) return 'totp_missing';
  return codeTimeStep(command.totp, state, retryOfSuccess) === null ? 'totp_invalid' : undefined;
}

/** A good code's time step: fresh, or for a retry of a success also the step its first try used. */
function codeTimeStep(totp: TotpCheck, state: RegisteredUser, retryOfSuccess: boolean): number | null {
  return retryOfSuccess && totp.provided ? totp.timeStep : acceptedTimeStep(totp, state);
}

/** The code's time step when it is good now: it matched, and no code of that step or later was used. */
function acceptedTimeStep(totp: TotpCheck, state: RegisteredUser): number | null {
  if (!totp.provided || totp.timeStep === null) return null;
  const last = state.totp.lastTimeStep;
  return last !== null && totp.timeStep <= last ? null : totp.timeStep;
}

/** The oldest live sessions beyond IDENTITY_SESSIONS_MAX - 1 end, to make room for the new one. */
function evictions(state: RegisteredUser, context: UserContext): UserEvent[] {
  const live = [...state.sessions.values()].filter((session) => isSessionAlive(session, context.nowMs));
  const excess = live.length - (context.sessionsMax - 1);
  if (excess <= 0) return [];
  return live
    .sort((a, b) => a.startedAtMs - b.startedAtMs)
    .slice(0, excess)
    .map((session) => ({ type: 'identity.SessionRevoked.v1', data: { sessionId: session.id, reason: 'evicted', atMs: context.nowMs } }));
}

function refresh(command: Refresh, state: RegisteredUser, context: UserContext): UserDecision {
  if (!isValidId(command.attemptKey)) return rejected(domainError('idempotency_key_required', 'a refresh carries an idempotency key'));
  const session = state.sessions.get(command.sessionId);
  if (session === undefined) return rejected(invalidRefreshToken());
  const presented = command.presentedTokenHash;
  if (presented === session.tokenHash) {
    if (session.status !== 'live') return rejected(invalidRefreshToken());
    if (context.nowMs >= session.expiresAtMs) return rejected(domainError('token_expired', 'this login has expired; log in again'));
    return accepted(rotation(session, command, context));
  }
  if (!session.previousTokenHashes.includes(presented)) return rejected(invalidRefreshToken());
  if (!isSessionAlive(session, context.nowMs)) return rejected(invalidRefreshToken());
  // The same request again (its reply was lost, maybe more than once): rotate once more instead of calling it reuse.
  const isRetry = session.rotatedBy === command.attemptKey && session.rotatedFrom === presented;
  if (isRetry) return accepted(rotation(session, command, context));
  return accepted({ type: 'identity.SessionRevoked.v1', data: { sessionId: session.id, reason: 'refresh_token_reuse', atMs: context.nowMs } });
}

function rotation(session: Session, command: Refresh, context: UserContext): UserEvent {
  return {
    type: 'identity.RefreshTokenRotated.v1',
    data: {
      sessionId: session.id,
      previousTokenHash: session.tokenHash,
      tokenHash: command.newTokenHash,
      generation: session.generation + 1,
      attemptKey: command.attemptKey,
      atMs: context.nowMs,
    },
  };
}

function logout(command: Logout, state: RegisteredUser, context: UserContext): UserDecision {
  const session = state.sessions.get(command.sessionId);
  if (session === undefined) return rejected(invalidRefreshToken());
  if (command.presentedTokenHash === session.tokenHash) {
    // Already revoked or past its end: nothing left to end, and logging out twice is not an error.
    if (!isSessionAlive(session, context.nowMs)) return accepted();
    return accepted({ type: 'identity.SessionRevoked.v1', data: { sessionId: session.id, reason: 'logout', atMs: context.nowMs } });
  }
  if (session.previousTokenHashes.includes(command.presentedTokenHash) && isSessionAlive(session, context.nowMs)) {
    return accepted({ type: 'identity.SessionRevoked.v1', data: { sessionId: session.id, reason: 'refresh_token_reuse', atMs: context.nowMs } });
  }
  return rejected(invalidRefreshToken());
}

function startTotpEnrolment(command: StartTotpEnrolment, state: RegisteredUser, context: UserContext): UserDecision {
  if (!isValidId(command.attemptKey)) return rejected(domainError('idempotency_key_required', 'an enrolment carries an idempotency key'));
  if (state.totp.enabled) return rejected(validationFailed([{ field: 'totp', reason: 'already_enabled' }], 'TOTP is already enabled'));
  // The same request again, or a stale retry of an earlier start: the application answers with the
  // pending secret (a new one would orphan the secret the user is scanning).
  if (state.totp.enrolmentKeys.includes(command.attemptKey)) return accepted();
  return accepted({
    type: 'identity.TotpEnrolmentStarted.v1',
    data: { encryptedSecret: command.encryptedSecret, attemptKey: command.attemptKey, atMs: context.nowMs },
  });
}

function confirmTotpEnrolment(command: ConfirmTotpEnrolment, state: RegisteredUser, context: UserContext): UserDecision {
  if (state.totp.enabled) return accepted(); // confirmed already: a retry
  if (state.totp.pending === null) return rejected(validationFailed([{ field: 'code', reason: 'no_pending_enrolment' }], 'start a TOTP enrolment first'));
  if (!command.totp.provided) return rejected(validationFailed([{ field: 'code', reason: 'required' }]));
  const timeStep = acceptedTimeStep(command.totp, state);
  if (timeStep === null) return rejected(validationFailed([{ field: 'code', reason: 'invalid_code' }], 'the code does not match the new secret'));
  return accepted({ type: 'identity.TotpEnabled.v1', data: { totpTimeStep: timeStep, atMs: context.nowMs } });
}

function verifyStepUp(command: VerifyStepUp, state: RegisteredUser, context: UserContext): UserDecision {
  if (!isValidId(command.attemptKey)) return rejected(domainError('idempotency_key_required', 'a step-up carries an idempotency key'));
  const first = state.attempts.get(command.attemptKey);
  if (first === 'failed') return rejected(stepUpRequired());
  if (first === 'locked') return rejected(state.lockedUntilMs === null ? stepUpRequired() : accountLocked(state.lockedUntilMs));
  if (isLocked(state, context.nowMs)) return rejected(accountLocked(state.lockedUntilMs!));
  if (command.passwordValid === null && !command.totp.provided) return rejected(stepUpRequired()); // nothing tried: not a failure
  const timeStep = state.totp.enabled ? acceptedTimeStep(command.totp, state) : null;
  if (timeStep !== null) {
    return accepted({ type: 'identity.StepUpSucceeded.v1', data: { method: 'totp', totpTimeStep: timeStep, attemptKey: command.attemptKey, atMs: context.nowMs } });
  }
  // A retried success is answered only with a good credential again (a reused key is none); its own code is no replay.
  const retryOfSuccess = first === 'succeeded';
  if (retryOfSuccess && (command.passwordValid === true || (state.totp.enabled && codeTimeStep(command.totp, state, true) !== null))) return accepted();
  if (command.passwordValid === true) {
    return accepted({ type: 'identity.StepUpSucceeded.v1', data: { method: 'password', totpTimeStep: null, attemptKey: command.attemptKey, atMs: context.nowMs } });
  }
  const failures = state.failures + 1;
  return accepted(
    { type: 'identity.StepUpFailed.v1', data: { failures, attemptKey: command.attemptKey, atMs: context.nowMs } },
    ...lockIfLimit(failures, command.attemptKey, context),
  );
}

function lockIfLimit(failures: number, attemptKey: string, context: UserContext): UserEvent[] {
  if (failures < context.lockoutFailures) return [];
  return [{ type: 'identity.UserLocked.v1', data: { lockedUntilMs: context.nowMs + context.lockoutMs, attemptKey, atMs: context.nowMs } }];
}

// ---------------------------------------------------------------------------------------------

function accepted(...events: UserEvent[]): UserDecision {
  return { ok: true, events };
}

function rejected(error: DomainError): { ok: false; error: DomainError } {
  return { ok: false, error };
}

function unregisteredError(command: Exclude<UserCommand, RegisterUser>): DomainError {
  switch (command.type) {
    case 'Login':
      return invalidCredentials();
    case 'Refresh':
    case 'Logout':
      return invalidRefreshToken();
    default:
      return domainError('not_found', 'no such user');
  }
}

export function invalidCredentials(): DomainError {
  return domainError('invalid_credentials', 'the email, password or TOTP code is wrong');
}

export function accountLocked(lockedUntilMs: number): DomainError {
  return domainError('account_locked', 'too many failed attempts; try again later', { lockedUntil: toIsoTime(lockedUntilMs) });
}

export function stepUpRequired(): DomainError {
  return domainError('step_up_required', 'confirm with a valid password or TOTP code');
}

export function invalidRefreshToken(): DomainError {
  return domainError('unauthenticated', 'the refresh token is not valid');
}

function refreshTokenReused(): DomainError {
  return domainError('unauthenticated', 'the refresh token was already used; every token of this login is revoked');
}
