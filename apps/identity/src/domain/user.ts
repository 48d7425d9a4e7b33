// The user aggregate, part 1: its events, its state and `evolve`. The commands and `decide`
// are in ./user.commands.ts. One user is one stream, `user-{id}`.
//
// No secret is ever in an event: the password only as its argon2id hash (the state needs it to
// verify logins), refresh tokens only as SHA-256 hashes, the TOTP secret only encrypted
// (AES-256-GCM, by the application). `evolve` returns a new state and never changes the one it
// is given, so a cached state stays valid when an append fails.
//
// Every event carries `atMs`, the command's time, so `evolve` can drop expired sessions
// deterministically. Attempts (logins, step-ups) carry the command's idempotency key
// (`attemptKey`) so a retried attempt gets its first outcome and is never counted twice.
import type { Role } from '@ledger/contracts';
import { ATTEMPT_KEYS_KEPT, PREVIOUS_TOKEN_HASHES_KEPT, REVOKED_SESSIONS_KEPT, TOTP_ENROLMENT_KEYS_KEPT } from './limits';

// ---------------------------------------------------------------------------------------------
// Events. `data` is stored as JSON: absent values are null.

interface At {
  /** The command's time (ms since the epoch). */
  readonly atMs: number;
}

export interface UserRegistered {
  readonly type: 'identity.UserRegistered.v1';
  readonly data: At & {
    readonly userId: string;
    /** As the user typed it; uniqueness ignores case (see emailKey). */
    readonly email: string;
    readonly displayName: string | null;
    /** argon2id PHC string (`$argon2id$v=19$m=...`): not the password, and needed to verify it. */
    readonly passwordHash: string;
    readonly roles: Role[];
  };
}

export interface RoleGranted {
  readonly type: 'identity.RoleGranted.v1';
  readonly data: At & { readonly role: Role };
}

export type LoginFailureReason = 'password' | 'totp_missing' | 'totp_invalid';

export interface LoginFailed {
  readonly type: 'identity.LoginFailed.v1';
  readonly data: At & {
    readonly reason: LoginFailureReason;
    /** Consecutive failed authentications (logins and step-ups) including this one. */
    readonly failures: number;
    readonly attemptKey: string;
    readonly ip: string | null;
  };
}

/** Follows the failure that reached the limit; the count starts again from zero. */
export interface UserLocked {
  readonly type: 'identity.UserLocked.v1';
  readonly data: At & { readonly lockedUntilMs: number; readonly attemptKey: string };
}

export interface LoginSucceeded {
  readonly type: 'identity.LoginSucceeded.v1';
  readonly data: At & {
    readonly sessionId: string;
    /** A TOTP code was checked too; its time step (replay guard) when so. */
    readonly totpTimeStep: number | null;
    readonly attemptKey: string;
    readonly ip: string | null;
  };
}

/** Starts a session (a refresh-token family) with its first token. */
export interface RefreshTokenIssued {
  readonly type: 'identity.RefreshTokenIssued.v1';
  readonly data: At & { readonly sessionId: string; readonly tokenHash: string; readonly expiresAtMs: number };
}

export interface RefreshTokenRotated {
  readonly type: 'identity.RefreshTokenRotated.v1';
  readonly data: At & {
    readonly sessionId: string;
    /** The hash of the token this rotation retires. */
    readonly previousTokenHash: string;
    readonly tokenHash: string;
    /** 1 for the first rotation of a session. */
    readonly generation: number;
    readonly attemptKey: string;
  };
}

export type RevocationReason = 'logout' | 'refresh_token_reuse' | 'evicted';

export interface SessionRevoked {
  readonly type: 'identity.SessionRevoked.v1';
  readonly data: At & { readonly sessionId: string; readonly reason: RevocationReason };
}

/** The password hashed again at the current argon2 cost (at a login that proved it); the old hash goes. */
export interface PasswordRehashed {
  readonly type: 'identity.PasswordRehashed.v1';
  readonly data: At & { readonly passwordHash: string };
}

export interface TotpEnrolmentStarted {
  readonly type: 'identity.TotpEnrolmentStarted.v1';
  /** `encryptedSecret`: the TOTP secret sealed by the application (never the secret itself). */
  readonly data: At & { readonly encryptedSecret: string; readonly attemptKey: string };
}

export interface TotpEnabled {
  readonly type: 'identity.TotpEnabled.v1';
  readonly data: At & { readonly totpTimeStep: number };
}

export type StepUpMethod = 'password' | 'totp';

export interface StepUpSucceeded {
  readonly type: 'identity.StepUpSucceeded.v1';
  readonly data: At & { readonly method: StepUpMethod; readonly totpTimeStep: number | null; readonly attemptKey: string };
}

export interface StepUpFailed {
  readonly type: 'identity.StepUpFailed.v1';
  readonly data: At & { readonly failures: number; readonly attemptKey: string };
}

export type UserEvent =
  | UserRegistered
  | RoleGranted
  | LoginFailed
  | UserLocked
  | LoginSucceeded
  | RefreshTokenIssued
  | RefreshTokenRotated
  | SessionRevoked
  | PasswordRehashed
  | TotpEnrolmentStarted
  | TotpEnabled
  | StepUpSucceeded
  | StepUpFailed;

export type UserEventType = UserEvent['type'];

export const USER_EVENT_TYPES: readonly UserEventType[] = [
  'identity.UserRegistered.v1',
  'identity.RoleGranted.v1',
  'identity.LoginFailed.v1',
  'identity.UserLocked.v1',
  'identity.LoginSucceeded.v1',
  'identity.RefreshTokenIssued.v1',
  'identity.RefreshTokenRotated.v1',
  'identity.SessionRevoked.v1',
  'identity.PasswordRehashed.v1',
  'identity.TotpEnrolmentStarted.v1',
  'identity.TotpEnabled.v1',
  'identity.StepUpSucceeded.v1',
  'identity.StepUpFailed.v1',
];

// ---------------------------------------------------------------------------------------------
// State.

export interface Session {
  readonly id: string;
  readonly status: 'live' | 'revoked';
  readonly startedAtMs: number;
  /** The family's end: every token of the session stops working then (no sliding renewal). */
  readonly expiresAtMs: number;
  /** The hash of the one token that refreshes now. */
  readonly tokenHash: string;
  readonly generation: number;
  /** Hashes of rotated tokens, oldest first (at most PREVIOUS_TOKEN_HASHES_KEPT): presenting one is reuse. */
  readonly previousTokenHashes: readonly string[];
  /** The attempt key of the rotation that issued `tokenHash`, so its retry is not mistaken for reuse. */
  readonly rotatedBy: string | null;
  /** The token that attempt first presented: every retry of it presents that one again. */
  readonly rotatedFrom: string | null;
  readonly revokedReason: RevocationReason | null;
}

/** A recent attempt's first outcome, by its key. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'locked';

export interface TotpState {
  readonly enabled: boolean;
  /** The active secret, sealed; null until enabled. */
  readonly encryptedSecret: string | null;
  /** An enrolment waiting for its first code. */
  readonly pending: { readonly encryptedSecret: string; readonly attemptKey: string } | null;
  /** Keys of the starts since TOTP was last enabled, oldest first (at most TOTP_ENROLMENT_KEYS_KEPT). */
  readonly enrolmentKeys: readonly string[];
  /** The last time step a code was accepted for: a code is good once (RFC 6238 §5.2). */
  readonly lastTimeStep: number | null;
}

export interface UnregisteredUser {
  readonly status: 'unregistered';
}

export interface RegisteredUser {
  readonly status: 'registered';
  readonly userId: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly passwordHash: string;
  readonly roles: readonly Role[];
  readonly createdAtMs: number;
  /** Consecutive failed authentications since the last success or lock. */
  readonly failures: number;
  readonly lockedUntilMs: number | null;
  readonly totp: TotpState;
  readonly sessions: ReadonlyMap<string, Session>;
  readonly attempts: ReadonlyMap<string, AttemptOutcome>;
}

export type UserState = UnregisteredUser | RegisteredUser;

export function initialState(): UserState {
  return { status: 'unregistered' };
}

export function isLocked(state: RegisteredUser, nowMs: number): boolean {
  return state.lockedUntilMs !== null && nowMs < state.lockedUntilMs;
}

export function isSessionAlive(session: Session | undefined, nowMs: number): boolean {
  return session !== undefined && session.status === 'live' && nowMs < session.expiresAtMs;
}

// ---------------------------------------------------------------------------------------------
// evolve: pure; returns a new state.

export function evolve(state: UserState, event: UserEvent): UserState {
  if (event.type === 'identity.UserRegistered.v1') {
    if (state.status !== 'unregistered') throw new Error(`invariant: ${event.type} on a registered user`);
    const { data } = event;
    return {
      status: 'registered',
      userId: data.userId,
      email: data.email,
      displayName: data.displayName,
      passwordHash: data.passwordHash,
      roles: sortedRoles(data.roles),
      createdAtMs: data.atMs,
      failures: 0,
      lockedUntilMs: null,
      totp: { enabled: false, encryptedSecret: null, pending: null, enrolmentKeys: [], lastTimeStep: null },
      sessions: new Map(),
      attempts: new Map(),
    };
  }
  if (state.status !== 'registered') throw new Error(`invariant: ${event.type} before the user registered`);
  switch (event.type) {
    case 'identity.RoleGranted.v1':
      return { ...state, roles: sortedRoles([...state.roles, event.data.role]) };
    case 'identity.LoginFailed.v1':
    case 'identity.StepUpFailed.v1':
      if (event.data.failures !== state.failures + 1) {
        throw new Error(`invariant: ${event.type} counts ${event.data.failures} failures after ${state.failures}`);
      }
      return { ...state, failures: event.data.failures, attempts: remember(state.attempts, event.data.attemptKey, 'failed') };
    case 'identity.UserLocked.v1':
      if (event.data.lockedUntilMs <= event.data.atMs) throw new Error('invariant: a lock ends after it starts');
      return {
        ...state,
        failures: 0,
        lockedUntilMs: event.data.lockedUntilMs,
        attempts: remember(state.attempts, event.data.attemptKey, 'locked'),
      };
    case 'identity.LoginSucceeded.v1':
      return {
        ...state,
        failures: 0,
        lockedUntilMs: null,
        totp: withTimeStep(state.totp, event.data.totpTimeStep),
        attempts: remember(state.attempts, event.data.attemptKey, 'succeeded'),
      };
    case 'identity.RefreshTokenIssued.v1': {
      const { data } = event;
      if (state.sessions.has(data.sessionId)) throw new Error(`invariant: session ${data.sessionId} issued twice`);
      const sessions = new Map(state.sessions);
      sessions.set(data.sessionId, {
        id: data.sessionId,
        status: 'live',
        startedAtMs: data.atMs,
        expiresAtMs: data.expiresAtMs,
        tokenHash: data.tokenHash,
        generation: 0,
        previousTokenHashes: [],
        rotatedBy: null,
        rotatedFrom: null,
        revokedReason: null,
      });
      return { ...state, sessions: pruned(sessions, data.atMs) };
    }
    case 'identity.RefreshTokenRotated.v1': {
      const { data } = event;
      const session = liveSession(state, data.sessionId, event.type);
      if (data.previousTokenHash !== session.tokenHash || data.generation !== session.generation + 1) {
        throw new Error(`invariant: rotation of session ${data.sessionId} does not follow its current token`);
      }
      const previousTokenHashes = [...session.previousTokenHashes, session.tokenHash].slice(-PREVIOUS_TOKEN_HASHES_KEPT);
      // A retry rotates from the token its first try issued, yet presented the one that try rotated away.
      const rotatedFrom = session.rotatedBy === data.attemptKey ? session.rotatedFrom : data.previousTokenHash;
      return withSession(state, { ...session, tokenHash: data.tokenHash, generation: data.generation, previousTokenHashes, rotatedBy: data.attemptKey, rotatedFrom });
    }
    case 'identity.SessionRevoked.v1': {
      const { data } = event;
      const session = liveSession(state, data.sessionId, event.type);
      // A revoked session keeps only its current hash: enough to answer a repeated logout.
      const revoked: Session = { ...session, status: 'revoked', revokedReason: data.reason, previousTokenHashes: [] };
      const sessions = new Map(state.sessions);
      sessions.set(revoked.id, revoked);
      return { ...state, sessions: pruned(sessions, data.atMs) };
    }
    case 'identity.PasswordRehashed.v1':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'identity.TotpEnrolmentStarted.v1': {
      if (state.totp.enabled) throw new Error('invariant: TOTP enrolment started while TOTP is enabled');
      const { encryptedSecret, attemptKey } = event.data;
      const enrolmentKeys = [...state.totp.enrolmentKeys.filter((key) => key !== attemptKey), attemptKey].slice(-TOTP_ENROLMENT_KEYS_KEPT);
      return { ...state, totp: { ...state.totp, pending: { encryptedSecret, attemptKey }, enrolmentKeys } };
    }
    case 'identity.TotpEnabled.v1': {
      const pending = state.totp.pending;
      if (pending === null) throw new Error('invariant: TOTP enabled without a pending enrolment');
      return { ...state, totp: { enabled: true, encryptedSecret: pending.encryptedSecret, pending: null, enrolmentKeys: [], lastTimeStep: event.data.totpTimeStep } };
    }
    case 'identity.StepUpSucceeded.v1':
      return {
        ...state,
        failures: 0,
        totp: withTimeStep(state.totp, event.data.totpTimeStep),
        attempts: remember(state.attempts, event.data.attemptKey, 'succeeded'),
      };
    default: {
      const unknown: never = event;
      throw new Error(`unknown user event ${(unknown as { type: string }).type}`);
    }
  }
}

export function foldUser(events: readonly UserEvent[]): UserState {
  return events.reduce(evolve, initialState());
}

// ---------------------------------------------------------------------------------------------

function sortedRoles(roles: readonly Role[]): Role[] {
  return [...new Set(roles)].sort();
}

function remember(attempts: ReadonlyMap<string, AttemptOutcome>, key: string, outcome: AttemptOutcome): ReadonlyMap<string, AttemptOutcome> {
  const next = new Map(attempts);
  next.delete(key); // re-inserted last: the map's order is the order of last use
  next.set(key, outcome);
  for (const oldest of next.keys()) {
    if (next.size <= ATTEMPT_KEYS_KEPT) break;
    next.delete(oldest);
  }
  return next;
}

function withTimeStep(totp: TotpState, timeStep: number | null): TotpState {
  if (timeStep === null) return totp;
  if (totp.lastTimeStep !== null && timeStep <= totp.lastTimeStep) throw new Error('invariant: a TOTP time step was accepted twice');
  return { ...totp, lastTimeStep: timeStep };
}

function liveSession(state: RegisteredUser, sessionId: string, eventType: string): Session {
  const session = state.sessions.get(sessionId);
  if (session === undefined || session.status !== 'live') throw new Error(`invariant: ${eventType} on session ${sessionId}, which is not live`);
  return session;
}

function withSession(state: RegisteredUser, session: Session): RegisteredUser {
  const sessions = new Map(state.sessions);
  sessions.set(session.id, session);
  return { ...state, sessions };
}

/** Drops sessions past their end, then the oldest revoked ones beyond REVOKED_SESSIONS_KEPT. */
function pruned(sessions: Map<string, Session>, atMs: number): Map<string, Session> {
  for (const [id, session] of sessions) if (session.expiresAtMs <= atMs) sessions.delete(id);
  const revoked = [...sessions.values()].filter((session) => session.status === 'revoked');
  for (const session of revoked.slice(0, Math.max(0, revoked.length - REVOKED_SESSIONS_KEPT))) sessions.delete(session.id);
  return sessions;
}
