// Histories and commands for the user decider's specs: short to write, explicit to read.
import type { UserEvent } from '../user';
import type { Login, Refresh, TotpCheck, UserContext, VerifyStepUp } from '../user.commands';

export const NOW_MS = Date.UTC(2026, 0, 1, 12);
export const MINUTE_MS = 60_000;
export const LOCKOUT_MS = 15 * MINUTE_MS;
export const SESSION_TTL_MS = 30 * 24 * 60 * MINUTE_MS;

export const CONTEXT: UserContext = { nowMs: NOW_MS, lockoutFailures: 5, lockoutMs: LOCKOUT_MS, sessionTtlMs: SESSION_TTL_MS, sessionsMax: 3 };

export const at = (nowMs: number): UserContext => ({ ...CONTEXT, nowMs });

export const USER_ID = '0190a0a0-0000-7000-8000-000000000001';
export const HASH = '$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';
/** Fake token hashes: any string stands for a SHA-256 here. */
export const tokenHashOf = (name: string) => `hash-of-${name}`;

export const registered = (atMs = NOW_MS - 60 * MINUTE_MS): UserEvent => ({
  type: 'identity.UserRegistered.v1',
  data: { userId: USER_ID, email: 'Alice@Example.com', displayName: 'Alice', passwordHash: HASH, roles: ['user'], atMs },
});

export const TOTP_OK = (timeStep: number): TotpCheck => ({ provided: true, timeStep });
export const TOTP_WRONG: TotpCheck = { provided: true, timeStep: null };

export const login = (attemptKey: string, passwordValid: boolean, overrides: Partial<Login> = {}): Login => ({
  type: 'Login',
  attemptKey,
  passwordValid,
  totp: { provided: false },
  sessionId: `session-${attemptKey}`,
  refreshTokenHash: tokenHashOf(`token-${attemptKey}`),
  ip: null,
  ...overrides,
});

export const refresh = (attemptKey: string, sessionId: string, presented: string, fresh: string): Refresh => ({
  type: 'Refresh',
  attemptKey,
  sessionId,
  presentedTokenHash: tokenHashOf(presented),
  newTokenHash: tokenHashOf(fresh),
});

export const stepUp = (attemptKey: string, passwordValid: boolean | null, totp: TotpCheck = { provided: false }): VerifyStepUp => ({
  type: 'VerifyStepUp',
  attemptKey,
  passwordValid,
  totp,
});

export const failedLogin = (attemptKey: string, failures: number, atMs = NOW_MS - MINUTE_MS): UserEvent => ({
  type: 'identity.LoginFailed.v1',
  data: { reason: 'password', failures, attemptKey, ip: null, atMs },
});

/** A successful login: its two events, session `session-{key}` with token `token-{key}`. */
export const loggedIn = (attemptKey: string, atMs = NOW_MS - MINUTE_MS, totpTimeStep: number | null = null): UserEvent[] => [
  { type: 'identity.LoginSucceeded.v1', data: { sessionId: `session-${attemptKey}`, totpTimeStep, attemptKey, ip: null, atMs } },
  {
    type: 'identity.RefreshTokenIssued.v1',
    data: { sessionId: `session-${attemptKey}`, tokenHash: tokenHashOf(`token-${attemptKey}`), expiresAtMs: atMs + SESSION_TTL_MS, atMs },
  },
];

export const rotated = (sessionId: string, from: string, to: string, generation: number, attemptKey: string, atMs = NOW_MS - MINUTE_MS): UserEvent => ({
  type: 'identity.RefreshTokenRotated.v1',
  data: { sessionId, previousTokenHash: tokenHashOf(from), tokenHash: tokenHashOf(to), generation, attemptKey, atMs },
});

export const totpEnabled = (timeStep: number, atMs = NOW_MS - 30 * MINUTE_MS): UserEvent[] => [
  { type: 'identity.TotpEnrolmentStarted.v1', data: { encryptedSecret: 'sealed-secret', attemptKey: 'enrol-1', atMs } },
  { type: 'identity.TotpEnabled.v1', data: { totpTimeStep: timeStep, atMs } },
];
