import { deciderSpec } from '@ledger/contracts/testing';
import { emailReservation } from './email-reservation';
import { ATTEMPT_KEYS_KEPT, RESERVATION_HELD_MS, TOTP_ENROLMENT_KEYS_KEPT } from './limits';
import { evolve, foldUser, initialState, type RegisteredUser, type UserEvent } from './user';
import { decide, replyErrorOf, userDecider, type ConfirmTotpEnrolment, type RegisterUser } from './user.commands';
import {
  at,
  CONTEXT,
  failedLogin,
  HASH,
  LOCKOUT_MS,
  loggedIn,
  login,
  MINUTE_MS,
  NOW_MS,
  refresh,
  registered,
  rotated,
  SESSION_TTL_MS,
  stepUp,
  tokenHashOf,
  TOTP_OK,
  TOTP_WRONG,
  totpEnabled,
  USER_ID,
} from './testing/user.fixtures';

const spec = deciderSpec(userDecider, CONTEXT);
const specAt = (nowMs: number) => deciderSpec(userDecider, at(nowMs));
const user = (history: UserEvent[]) => foldUser(history) as RegisteredUser;
const failures = (count: number) => Array.from({ length: count }, (_, index) => failedLogin(`bad-${index + 1}`, index + 1));

const register = (overrides: Partial<RegisterUser> = {}): RegisterUser => ({
  type: 'RegisterUser',
  userId: USER_ID,
  email: 'Alice@Example.com',
  displayName: 'Alice',
  passwordHash: HASH,
  ...overrides,
});

describe('RegisterUser', () => {
  it('registers a user with the role user and the password hash only', () => {
    spec.given([]).when(register()).then([registered(NOW_MS)]);
    expect(user([registered()])).toMatchObject({ status: 'registered', roles: ['user'], failures: 0, lockedUntilMs: null, totp: { enabled: false } });
  });

  it('lists every invalid field', () => {
    spec
      .given([])
      .when(register({ email: 'not-an-email', displayName: 'x'.repeat(101) }))
      .thenFails({
        code: 'validation_failed',
        details: { fields: [{ field: 'email', reason: 'invalid_format' }, { field: 'displayName', reason: 'too_long' }] },
      });
  });

  it('answers a retry (same user id, the email in any case) with no new event', () => {
    spec.given([registered()]).when(register({ email: 'alice@EXAMPLE.com' })).then([]);
  });

  it('refuses the same key for a different registration', () => {
    spec.given([registered()]).when(register({ email: 'bob@example.com' })).thenFails({ code: 'idempotency_key_reuse' });
    spec.given([registered()]).when(register({ displayName: 'Bob' })).thenFails({ code: 'idempotency_key_reuse' });
  });

  it('takes only an argon2id hash (a bug otherwise)', () => {
    expect(() => decide(register({ passwordHash: 'plain-password' }), initialState(), CONTEXT)).toThrow(/argon2id/);
  });
});

describe('EmailReservation', () => {
  const reservations = deciderSpec(emailReservation, { nowMs: NOW_MS, holder: 'this_email' });
  const reserved = { type: 'identity.EmailReserved.v1' as const, data: { userId: USER_ID, atMs: NOW_MS } };

  it('reserves a free email for the user', () => {
    reservations.given([]).when({ type: 'ReserveEmail', userId: USER_ID }).then([reserved]);
  });

  it('is renewed for the same user (a registration completing after a crash), so a takeover reading the old one fails its append', () => {
    const renewed = { ...reserved, data: { ...reserved.data, atMs: NOW_MS + RESERVATION_HELD_MS } };
    reservations.given([reserved]).when({ type: 'ReserveEmail', userId: USER_ID }).then([reserved]);
    deciderSpec(emailReservation, { nowMs: NOW_MS + RESERVATION_HELD_MS, holder: 'unregistered' }).given([reserved]).when({ type: 'ReserveEmail', userId: USER_ID }).then([renewed]);
  });

  it('refuses another user: email_taken', () => {
    reservations.given([reserved]).when({ type: 'ReserveEmail', userId: 'someone-else' }).thenFails({ code: 'email_taken' });
  });

  const takeover = { type: 'identity.EmailReserved.v1' as const, data: { userId: 'someone-else', atMs: NOW_MS } };

  it('goes to another user at once when its user registered another email', () => {
    deciderSpec(emailReservation, { nowMs: NOW_MS, holder: 'other_email' }).given([reserved]).when({ type: 'ReserveEmail', userId: 'someone-else' }).then([takeover]);
  });

  it('is held a day for a user not registered (yet), then goes to another', () => {
    const at = (nowMs: number) => deciderSpec(emailReservation, { nowMs, holder: 'unregistered' });
    at(NOW_MS + RESERVATION_HELD_MS - 1).given([reserved]).when({ type: 'ReserveEmail', userId: 'someone-else' }).thenFails({ code: 'email_taken' });
    at(NOW_MS + RESERVATION_HELD_MS)
      .given([reserved])
      .when({ type: 'ReserveEmail', userId: 'someone-else' })
      .then([{ ...takeover, data: { ...takeover.data, atMs: NOW_MS + RESERVATION_HELD_MS } }]);
    // The latest reservation is the one that holds.
    reservations.given([reserved, takeover]).when({ type: 'ReserveEmail', userId: 'someone-else' }).then([takeover]);
    reservations.given([reserved, takeover]).when({ type: 'ReserveEmail', userId: USER_ID }).thenFails({ code: 'email_taken' });
  });
});

describe('GrantRole', () => {
  it('grants admin once', () => {
    spec.given([registered()]).when({ type: 'GrantRole', role: 'admin' }).then([{ type: 'identity.RoleGranted.v1', data: { role: 'admin', atMs: NOW_MS } }]);
    const admin = [registered(), { type: 'identity.RoleGranted.v1', data: { role: 'admin', atMs: NOW_MS } } as UserEvent];
    expect(user(admin).roles).toEqual(['admin', 'user']);
    spec.given(admin).when({ type: 'GrantRole', role: 'admin' }).then([]);
  });

  it('refuses an unknown role and an unknown user', () => {
    spec.given([registered()]).when({ type: 'GrantRole', role: 'root' as never }).thenFails({ code: 'validation_failed' });
    spec.given([]).when({ type: 'GrantRole', role: 'admin' }).thenFails({ code: 'not_found' });
  });
});

describe('Login', () => {
  it('starts a session with its first refresh token', () => {
    spec
      .given([registered()])
      .when(login('k1', true, { ip: '203.0.113.7' }))
      .then([
        { type: 'identity.LoginSucceeded.v1', data: { sessionId: 'session-k1', totpTimeStep: null, attemptKey: 'k1', ip: '203.0.113.7', atMs: NOW_MS } },
        { type: 'identity.RefreshTokenIssued.v1', data: { sessionId: 'session-k1', tokenHash: tokenHashOf('token-k1'), expiresAtMs: NOW_MS + SESSION_TTL_MS, atMs: NOW_MS } },
      ]);
  });

  it('records a wrong password as a failure (invalid_credentials)', () => {
    const events = decideOk([registered()], login('k1', false));
    expect(events).toEqual([failedLogin('k1', 1, NOW_MS)]);
    expect(replyErrorOf(events)).toMatchObject({ code: 'invalid_credentials' });
  });

  it('locks on the fifth failure in a row, for IDENTITY_LOCKOUT_MS (account_locked)', () => {
    const events = decideOk([registered(), ...failures(4)], login('k5', false));
    expect(events).toEqual([
      failedLogin('k5', 5, NOW_MS),
      { type: 'identity.UserLocked.v1', data: { lockedUntilMs: NOW_MS + LOCKOUT_MS, attemptKey: 'k5', atMs: NOW_MS } },
    ]);
    expect(replyErrorOf(events)).toEqual({
      code: 'account_locked',
      message: expect.any(String),
      details: { lockedUntil: new Date(NOW_MS + LOCKOUT_MS).toISOString() },
    });
    expect(user([registered(), ...failures(4), ...events])).toMatchObject({ failures: 0, lockedUntilMs: NOW_MS + LOCKOUT_MS });
  });

  it('refuses a locked user even with the right password, and lets them in once the lock ends', () => {
    const locked = [registered(), ...failures(4), ...decideOk([registered(), ...failures(4)], login('k5', false))];
    spec.given(locked).when(login('k6', true)).thenFails({ code: 'account_locked', details: { lockedUntil: new Date(NOW_MS + LOCKOUT_MS).toISOString() } });
    specAt(NOW_MS + LOCKOUT_MS - 1).given(locked).when(login('k7', true)).thenFails({ code: 'account_locked' });
    const after = decideOk(locked, login('k8', true), NOW_MS + LOCKOUT_MS);
    expect(after.map((event) => event.type)).toEqual(['identity.LoginSucceeded.v1', 'identity.RefreshTokenIssued.v1']);
    expect(user([...locked, ...after])).toMatchObject({ failures: 0, lockedUntilMs: null });
  });

  it('counts again from zero after a lock ends', () => {
    const locked = [registered(), ...failures(4), ...decideOk([registered(), ...failures(4)], login('k5', false))];
    const later = NOW_MS + LOCKOUT_MS;
    expect(decideOk(locked, login('k6', false), later)).toEqual([failedLogin('k6', 1, later)]);
  });

  it('resets the count on success', () => {
    const history = [registered(), ...failures(3), ...loggedIn('ok')];
    expect(user(history).failures).toBe(0);
    expect(decideOk(history, login('k9', false))).toEqual([failedLogin('k9', 1, NOW_MS)]);
  });

  it('answers a retried failure with its first outcome and counts it once', () => {
    spec.given([registered(), failedLogin('k1', 1)]).when(login('k1', false)).thenFails({ code: 'invalid_credentials' });
    spec.given([registered(), failedLogin('k1', 1)]).when(login('k1', true)).thenFails({ code: 'invalid_credentials' });
  });

  it('gives a retried success a fresh session (its first token exists only as a hash)', () => {
    const events = decideOk([registered(), ...loggedIn('k1')], login('k1', true, { sessionId: 'session-k1-again' }));
    expect(events.map((event) => event.type)).toEqual(['identity.LoginSucceeded.v1', 'identity.RefreshTokenIssued.v1']);
  });

  it('is invalid_credentials for an unknown user', () => {
    spec.given([]).when(login('k1', true)).thenFails({ code: 'invalid_credentials' });
  });

  describe('with TOTP enabled', () => {
    const mfa = [registered(), ...totpEnabled(100)];

    it('needs a code: missing or wrong is a counted failure (invalid_credentials)', () => {
      const missing = decideOk(mfa, login('k1', true));
      expect(missing).toEqual([{ type: 'identity.LoginFailed.v1', data: { reason: 'totp_missing', failures: 1, attemptKey: 'k1', ip: null, atMs: NOW_MS } }]);
      expect(replyErrorOf(missing)).toMatchObject({ code: 'invalid_credentials' });
      expect(decideOk(mfa, login('k2', true, { totp: TOTP_WRONG }))).toEqual([
        { type: 'identity.LoginFailed.v1', data: { reason: 'totp_invalid', failures: 1, attemptKey: 'k2', ip: null, atMs: NOW_MS } },
      ]);
    });

    it('refuses a code of a time step already used (replay)', () => {
      expect(decideOk(mfa, login('k1', true, { totp: TOTP_OK(100) }))[0]).toMatchObject({ data: { reason: 'totp_invalid' } });
      expect(decideOk(mfa, login('k1', true, { totp: TOTP_OK(99) }))[0]).toMatchObject({ data: { reason: 'totp_invalid' } });
    });

    it('logs in with the password and a fresh code, and remembers its time step', () => {
      const events = decideOk(mfa, login('k1', true, { totp: TOTP_OK(101) }));
      expect(events[0]).toEqual({ type: 'identity.LoginSucceeded.v1', data: { sessionId: 'session-k1', totpTimeStep: 101, attemptKey: 'k1', ip: null, atMs: NOW_MS } });
      expect(user([...mfa, ...events]).totp.lastTimeStep).toBe(101);
    });

    it('logs a retried success in again only with a code again: its own (no replay for it) or a fresh one', () => {
      const history = [...mfa, ...loggedIn('k1', NOW_MS - MINUTE_MS, 101)];
      expect(decideOk(history, login('k1', true, { sessionId: 'session-k1-again' }))).toEqual([
        { type: 'identity.LoginFailed.v1', data: { reason: 'totp_missing', failures: 1, attemptKey: 'k1', ip: null, atMs: NOW_MS } },
      ]);
      expect(decideOk(history, login('k1', true, { sessionId: 'session-k1-again', totp: TOTP_WRONG }))[0]).toMatchObject({ data: { reason: 'totp_invalid' } });
      const again = decideOk(history, login('k1', true, { sessionId: 'session-k1-again', totp: TOTP_OK(101) }));
      expect(again[0]).toMatchObject({ type: 'identity.LoginSucceeded.v1', data: { totpTimeStep: null, attemptKey: 'k1' } });
      expect(decideOk(history, login('k1', true, { sessionId: 'session-k1-again', totp: TOTP_OK(102) }))[0]).toMatchObject({ data: { totpTimeStep: 102 } });
      // A failed retry is that key's outcome from then on.
      const failed = decideOk(history, login('k1', true, { sessionId: 'session-k1-again' }));
      spec.given([...history, ...failed]).when(login('k1', true, { sessionId: 'session-k1-3', totp: TOTP_OK(101) })).thenFails({ code: 'invalid_credentials' });
    });

    it('does not check the code of a wrong password (the reason is the password)', () => {
      expect(decideOk(mfa, login('k1', false, { totp: TOTP_OK(101) }))[0]).toMatchObject({ data: { reason: 'password' } });
    });
  });

  it('ends the oldest live sessions beyond IDENTITY_SESSIONS_MAX', () => {
    const history = [registered(), ...loggedIn('a', NOW_MS - 3 * MINUTE_MS), ...loggedIn('b', NOW_MS - 2 * MINUTE_MS), ...loggedIn('c', NOW_MS - MINUTE_MS)];
    const events = decideOk(history, login('d', true));
    expect(events[0]).toEqual({ type: 'identity.SessionRevoked.v1', data: { sessionId: 'session-a', reason: 'evicted', atMs: NOW_MS } });
    const after = user([...history, ...events]);
    expect([...after.sessions.values()].filter((session) => session.status === 'live').map((session) => session.id)).toEqual([
      'session-b',
      'session-c',
      'session-d',
    ]);
  });
});

describe('Refresh', () => {
  const session = [registered(), ...loggedIn('k1')];

  it('rotates the current token', () => {
    spec.given(session).when(refresh('r1', 'session-k1', 'token-k1', 'token-r1')).then([rotated('session-k1', 'token-k1', 'token-r1', 1, 'r1', NOW_MS)]);
  });

  it('revokes the whole session when a rotated token comes back (reuse: unauthenticated)', () => {
    const history = [...session, rotated('session-k1', 'token-k1', 'token-r1', 1, 'r1')];
    const events = decideOk(history, refresh('r2', 'session-k1', 'token-k1', 'token-r2'));
    expect(events).toEqual([{ type: 'identity.SessionRevoked.v1', data: { sessionId: 'session-k1', reason: 'refresh_token_reuse', atMs: NOW_MS } }]);
    expect(replyErrorOf(events)).toMatchObject({ code: 'unauthenticated' });
    // The token the rotation issued is dead too.
    spec.given([...history, ...events]).when(refresh('r3', 'session-k1', 'token-r1', 'token-r3')).thenFails({ code: 'unauthenticated' });
  });

  it('rotates again for a retry of the same request (its reply was lost), not calling it reuse', () => {
    const history = [...session, rotated('session-k1', 'token-k1', 'token-r1', 1, 'r1')];
    spec.given(history).when(refresh('r1', 'session-k1', 'token-k1', 'token-r1b')).then([rotated('session-k1', 'token-r1', 'token-r1b', 2, 'r1', NOW_MS)]);
    // And again for its next retry: it still presents the token its first try rotated away.
    const retried = [...history, rotated('session-k1', 'token-r1', 'token-r1b', 2, 'r1')];
    spec.given(retried).when(refresh('r1', 'session-k1', 'token-k1', 'token-r1c')).then([rotated('session-k1', 'token-r1b', 'token-r1c', 3, 'r1', NOW_MS)]);
    const reuse: UserEvent = { type: 'identity.SessionRevoked.v1', data: { sessionId: 'session-k1', reason: 'refresh_token_reuse', atMs: NOW_MS } };
    spec.given(retried).when(refresh('r1', 'session-k1', 'token-r1', 'token-r1c')).then([reuse]);
  });

  it('refuses unknown sessions and tokens, revoked sessions and expired ones', () => {
    spec.given(session).when(refresh('r1', 'session-nope', 'token-k1', 'x')).thenFails({ code: 'unauthenticated' });
    spec.given(session).when(refresh('r1', 'session-k1', 'forged', 'x')).thenFails({ code: 'unauthenticated' });
    const loggedOut = [...session, { type: 'identity.SessionRevoked.v1', data: { sessionId: 'session-k1', reason: 'logout', atMs: NOW_MS } } as UserEvent];
    spec.given(loggedOut).when(refresh('r1', 'session-k1', 'token-k1', 'x')).thenFails({ code: 'unauthenticated' });
    specAt(NOW_MS - MINUTE_MS + SESSION_TTL_MS).given(session).when(refresh('r1', 'session-k1', 'token-k1', 'x')).thenFails({ code: 'token_expired' });
    spec.given([]).when(refresh('r1', 'session-k1', 'token-k1', 'x')).thenFails({ code: 'unauthenticated' });
  });

  it('forgets sessions past their end', () => {
    const history = [...session, ...loggedIn('k2', NOW_MS - MINUTE_MS + SESSION_TTL_MS)];
    expect([...user(history).sessions.keys()]).toEqual(['session-k2']);
  });
});

describe('Logout', () => {
  const session = [registered(), ...loggedIn('k1')];
  const logout = (token: string) => ({ type: 'Logout' as const, sessionId: 'session-k1', presentedTokenHash: tokenHashOf(token) });

  it('revokes the session, and is done already the second time', () => {
    const revoked = { type: 'identity.SessionRevoked.v1' as const, data: { sessionId: 'session-k1', reason: 'logout' as const, atMs: NOW_MS } };
    spec.given(session).when(logout('token-k1')).then([revoked]);
    spec.given([...session, revoked]).when(logout('token-k1')).then([]);
  });

  it('treats a rotated token as reuse and refuses unknown tokens', () => {
    const history = [...session, rotated('session-k1', 'token-k1', 'token-r1', 1, 'r1')];
    spec
      .given(history)
      .when(logout('token-k1'))
      .then([{ type: 'identity.SessionRevoked.v1', data: { sessionId: 'session-k1', reason: 'refresh_token_reuse', atMs: NOW_MS } }]);
    spec.given(session).when(logout('forged')).thenFails({ code: 'unauthenticated' });
    spec.given(session).when({ ...logout('token-k1'), sessionId: 'session-nope' }).thenFails({ code: 'unauthenticated' });
  });
});

describe('password rehash', () => {
  const NEW_HASH = '$argon2id$v=19$m=2048,t=1,p=1$c2FsdHNhbHQ$bmV3aGFzaG5ld2hhc2g';

  it('replaces a hash of another cost at a successful login only', () => {
    const events = decideOk([registered()], login('k1', true, { newPasswordHash: NEW_HASH }));
    expect(events.at(-1)).toEqual({ type: 'identity.PasswordRehashed.v1', data: { passwordHash: NEW_HASH, atMs: NOW_MS } });
    expect(user([registered(), ...events]).passwordHash).toBe(NEW_HASH);
    expect(decideOk([registered()], login('k1', false, { newPasswordHash: NEW_HASH })).map((event) => event.type)).toEqual(['identity.LoginFailed.v1']);
    expect(decideOk([registered()], login('k1', true, { newPasswordHash: HASH })).map((event) => event.type)).not.toContain('identity.PasswordRehashed.v1');
  });
});

describe('TOTP enrolment', () => {
  const start = (attemptKey: string) => ({ type: 'StartTotpEnrolment' as const, attemptKey, encryptedSecret: `sealed-${attemptKey}` });
  const confirm = (totp: ConfirmTotpEnrolment['totp']): ConfirmTotpEnrolment => ({ type: 'ConfirmTotpEnrolment', totp });
  const started = { type: 'identity.TotpEnrolmentStarted.v1' as const, data: { encryptedSecret: 'sealed-e1', attemptKey: 'e1', atMs: NOW_MS } };

  it('starts with a sealed secret; a retry of that start adds nothing; a new start replaces it', () => {
    spec.given([registered()]).when(start('e1')).then([started]);
    spec.given([registered(), started]).when(start('e1')).then([]);
    spec.given([registered(), started]).when(start('e2')).then([{ ...started, data: { ...started.data, encryptedSecret: 'sealed-e2', attemptKey: 'e2' } }]);
  });

  it('answers a stale retry of an earlier start with the pending secret, not a new enrolment that would orphan the secret being scanned', () => {
    const second = { ...started, data: { ...started.data, encryptedSecret: 'sealed-e2', attemptKey: 'e2' } };
    spec.given([registered(), started, second]).when(start('e1')).then([]);
    expect(user([registered(), started, second]).totp.pending).toEqual({ encryptedSecret: 'sealed-e2', attemptKey: 'e2' });
    const keys = Array.from({ length: TOTP_ENROLMENT_KEYS_KEPT + 1 }, (_, index) => ({ ...started, data: { ...started.data, attemptKey: `k${index}` } }));
    spec.given([registered(), ...keys]).when(start('k1')).then([]);
    spec.given([registered(), ...keys]).when(start('k0')).then([{ ...started, data: { ...started.data, encryptedSecret: 'sealed-k0', attemptKey: 'k0' } }]); // beyond the bound
  });

  it('enables TOTP with a code of the pending secret', () => {
    spec.given([registered(), started]).when(confirm(TOTP_OK(7))).then([{ type: 'identity.TotpEnabled.v1', data: { totpTimeStep: 7, atMs: NOW_MS } }]);
    expect(user([registered(), started, { type: 'identity.TotpEnabled.v1', data: { totpTimeStep: 7, atMs: NOW_MS } }]).totp).toEqual({
      enabled: true,
      encryptedSecret: 'sealed-e1',
      pending: null,
      enrolmentKeys: [],
      lastTimeStep: 7,
    });
  });

  it('refuses a wrong or missing code, and a confirmation without an enrolment', () => {
    spec.given([registered(), started]).when(confirm(TOTP_WRONG)).thenFails({ code: 'validation_failed', details: { fields: [{ field: 'code', reason: 'invalid_code' }] } });
    spec.given([registered(), started]).when(confirm({ provided: false })).thenFails({ details: { fields: [{ field: 'code', reason: 'required' }] } });
    spec.given([registered()]).when(confirm(TOTP_OK(7))).thenFails({ details: { fields: [{ field: 'code', reason: 'no_pending_enrolment' }] } });
  });

  it('is done already once enabled, and refuses a new enrolment then', () => {
    spec.given([registered(), ...totpEnabled(5)]).when(confirm(TOTP_OK(9))).then([]);
    spec.given([registered(), ...totpEnabled(5)]).when(start('e9')).thenFails({ code: 'validation_failed', details: { fields: [{ field: 'totp', reason: 'already_enabled' }] } });
  });

  it('needs a registered user', () => {
    spec.given([]).when(start('e1')).thenFails({ code: 'not_found' });
    spec.given([]).when(confirm(TOTP_OK(1))).thenFails({ code: 'not_found' });
  });
});

describe('VerifyStepUp', () => {
  it('accepts the password, or a fresh TOTP code', () => {
    spec
      .given([registered()])
      .when(stepUp('s1', true))
      .then([{ type: 'identity.StepUpSucceeded.v1', data: { method: 'password', totpTimeStep: null, attemptKey: 's1', atMs: NOW_MS } }]);
    spec
      .given([registered(), ...totpEnabled(10)])
      .when(stepUp('s1', null, TOTP_OK(11)))
      .then([{ type: 'identity.StepUpSucceeded.v1', data: { method: 'totp', totpTimeStep: 11, attemptKey: 's1', atMs: NOW_MS } }]);
  });

  it('is step_up_required without a credential (not counted) and with wrong ones (counted)', () => {
    spec.given([registered()]).when(stepUp('s1', null)).thenFails({ code: 'step_up_required' });
    const events = decideOk([registered()], stepUp('s1', false, TOTP_WRONG));
    expect(events).toEqual([{ type: 'identity.StepUpFailed.v1', data: { failures: 1, attemptKey: 's1', atMs: NOW_MS } }]);
    expect(replyErrorOf(events)).toMatchObject({ code: 'step_up_required' });
    // A replayed TOTP code is as good as a wrong one.
    expect(decideOk([registered(), ...totpEnabled(10)], stepUp('s2', null, TOTP_OK(10)))[0].type).toBe('identity.StepUpFailed.v1');
  });

  it('counts toward the same lockout as logins, and is refused while locked', () => {
    const events = decideOk([registered(), ...failures(4)], stepUp('s5', false));
    expect(events.map((event) => event.type)).toEqual(['identity.StepUpFailed.v1', 'identity.UserLocked.v1']);
    expect(replyErrorOf(events)).toMatchObject({ code: 'account_locked' });
    spec.given([registered(), ...failures(4), ...events]).when(stepUp('s6', true)).thenFails({ code: 'account_locked' });
  });

  it('answers retries with their first outcome', () => {
    const ok = decideOk([registered()], stepUp('s1', true));
    spec.given([registered(), ...ok]).when(stepUp('s1', true)).then([]);
    const bad = decideOk([registered()], stepUp('s2', false));
    spec.given([registered(), ...bad]).when(stepUp('s2', true)).thenFails({ code: 'step_up_required' });
  });

  it('answers a retried success only with a good credential again (the key is none)', () => {
    const ok = [registered(), ...decideOk([registered()], stepUp('s1', true))];
    spec.given(ok).when(stepUp('s1', null)).thenFails({ code: 'step_up_required' });
    const wrong = decideOk(ok, stepUp('s1', false));
    expect(wrong).toEqual([{ type: 'identity.StepUpFailed.v1', data: { failures: 1, attemptKey: 's1', atMs: NOW_MS } }]);
    spec.given([...ok, ...wrong]).when(stepUp('s1', true)).thenFails({ code: 'step_up_required' });
    const mfa = [registered(), ...totpEnabled(10)];
    const byCode = [...mfa, ...decideOk(mfa, stepUp('s2', null, TOTP_OK(11)))];
    spec.given(byCode).when(stepUp('s2', null, TOTP_OK(11))).then([]);
    expect(decideOk(byCode, stepUp('s2', null, TOTP_WRONG))[0].type).toBe('identity.StepUpFailed.v1');
  });

  it('needs a registered user', () => {
    spec.given([]).when(stepUp('s1', true)).thenFails({ code: 'not_found' });
  });
});

describe('evolve', () => {
  it('never changes the state it is given', () => {
    const before = user([registered(), ...loggedIn('k1')]);
    const snapshot = { ...before, sessions: new Map(before.sessions), attempts: new Map(before.attempts) };
    evolve(before, failedLogin('k2', 1));
    evolve(before, rotated('session-k1', 'token-k1', 'token-r1', 1, 'r1'));
    expect(before).toEqual(snapshot);
  });

  it('remembers at most ATTEMPT_KEYS_KEPT attempt keys', () => {
    const history: UserEvent[] = [registered()];
    for (let i = 0; i < ATTEMPT_KEYS_KEPT + 5; i++) history.push(...loggedIn(`k${i}`, NOW_MS - 100 * MINUTE_MS + i));
    const attempts = user(history).attempts;
    expect(attempts.size).toBe(ATTEMPT_KEYS_KEPT);
    expect(attempts.has('k0')).toBe(false);
    expect(attempts.has(`k${ATTEMPT_KEYS_KEPT + 4}`)).toBe(true);
  });

  it('refuses a history that breaks an invariant', () => {
    expect(() => foldUser([registered(), failedLogin('k1', 2)])).toThrow(/invariant/);
    expect(() => foldUser([failedLogin('k1', 1)])).toThrow(/invariant/);
    expect(() => foldUser([registered(), registered()])).toThrow(/invariant/);
  });
});

function decideOk(history: UserEvent[], command: Parameters<typeof decide>[0], nowMs = NOW_MS): UserEvent[] {
  const result = decide(command, foldUser(history), at(nowMs));
  if (!result.ok) throw new Error(`expected events, got ${JSON.stringify(result.error)}`);
  return result.events;
}
