// The identity service through the transport: every command, its codes, idempotency, the
// registration race, lockout by the clock, refresh rotation and reuse, TOTP, step-up, the first
// admin, restarts, the users projection, identity.events, and no secret in the store.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { ConfigError, idFromKey, IDENTITY_TOPICS, UuidV7Generator, type MeView, type PublicKeys, type Reply, type TokenPair, type UserView } from '@ledger/contracts';
import { waitFor } from '@ledger/contracts/testing';
import { expectedState, openProjectionDb, ProjectionRunner } from '@ledger/event-store';
import { decodeIntegrationEvent, type IntegrationEvent } from '@ledger/messaging';
import { verifyAccessToken } from './application/access-tokens';
import { TOTP_KEY_FILE } from './application/identity-keys';
import { IdentityService, userIdForKey } from './application/identity.service';
import { totpCodeAt } from './application/totp-codes';
import { emailReservationStreamId } from './application/user-repository';
import { findUserByEmail, identityUsersProjection } from './projections/identity-users.projection';
import { loadIdentityConfig } from './identity.config';
import { FAST_ARGON2_ENV, startIdentityHarness, type IdentityHarness } from './testing/identity.harness';

const PASSWORD = 'correct horse battery staple';
const MINUTE_MS = 60_000;

function expectOk<T>(reply: Reply<T>): T {
  if (!reply.ok) throw new Error(`expected ok: ${JSON.stringify(reply.error)}`);
  return reply.value;
}

describe('identity through the transport', () => {
  let h: IdentityHarness;
  let emails = 0;
  const newEmail = () => `user${++emails}@example.com`;

  async function register(email = newEmail(), password = PASSWORD, displayName?: string): Promise<UserView> {
    const reply = await h.send<UserView>({ type: 'RegisterUser', email, password, ...(displayName === undefined ? {} : { displayName }) });
    if (!reply.ok) throw new Error(`register failed: ${JSON.stringify(reply.error)}`);
    return reply.value;
  }

  async function login(email: string, password = PASSWORD, totp?: string): Promise<TokenPair> {
    const reply = await h.send<TokenPair>({ type: 'Login', email, password, ...(totp === undefined ? {} : { totp }) });
    if (!reply.ok) throw new Error(`login failed: ${JSON.stringify(reply.error)}`);
    return reply.value;
  }

  async function publicKeys(): Promise<PublicKeys> {
    const reply = await h.send<PublicKeys>({ type: 'GetPublicKeys' });
    if (!reply.ok) throw new Error('no public keys');
    return reply.value;
  }

  async function enableTotp(userId: string): Promise<string> {
    const started = await h.send<{ secret: string; otpauthUrl: string }>({ type: 'StartTotpEnrolment', userId });
    if (!started.ok) throw new Error('enrolment failed');
    expect(await h.send({ type: 'ConfirmTotpEnrolment', userId, code: totpCodeAt(started.value.secret, h.clock.nowMs()) })).toEqual({ ok: true, value: null });
    h.clock.advance(30_000); // the confirming code's time step is used up
    return started.value.secret;
  }

  beforeEach(async () => {
    h = await startIdentityHarness();
  });

  afterEach(async () => {
    await h.close({ remove: true });
  });

  describe('RegisterUser', () => {
    it('answers with the user (POST /v1/users 201 shape), and a retry with the same outcome', async () => {
      const first = await h.send<UserView>({ type: 'RegisterUser', email: 'Alice@Example.com', password: PASSWORD, displayName: 'Alice' }, 'reg-1');
      expect(first).toEqual({
        ok: true,
        value: { id: userIdForKey('reg-1'), email: 'Alice@Example.com', displayName: 'Alice', createdAt: new Date(h.clock.nowMs()).toISOString() },
      });
      h.clock.advance(1_000);
      expect(await h.send({ type: 'RegisterUser', email: 'Alice@Example.com', password: PASSWORD, displayName: 'Alice' }, 'reg-1')).toEqual(first);
      expect(await h.send({ type: 'RegisterUser', email: 'bob@example.com', password: PASSWORD }, 'reg-1')).toMatchObject({
        ok: false,
        error: { code: 'idempotency_key_reuse' },
      });
      const noName = await register('carol@example.com');
      expect(noName.displayName).toBeNull();
    });

    it('takes no Unicode look-alike of a registered address for it', async () => {
      const kate = await register('kate@example.com');
      expect(await h.send({ type: 'Login', email: '\u212Aate@example.com', password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      expect(await login('KATE@example.com')).toMatchObject({ tokenType: 'Bearer' });
      expect(kate.email).toBe('kate@example.com');
    });

    it('is email_taken for the same email in any case', async () => {
      await register('Dave@Example.com');
      for (const email of ['dave@example.com', 'DAVE@EXAMPLE.COM']) {
        expect(await h.send({ type: 'RegisterUser', email, password: PASSWORD })).toEqual({
          ok: false,
          error: { code: 'email_taken', message: expect.any(String) },
        });
      }
    });

    it('is validation_failed listing each bad field', async () => {
      expect(await h.send({ type: 'RegisterUser', email: 'nope', password: 'short' })).toEqual({
        ok: false,
        error: {
          code: 'validation_failed',
          message: expect.any(String),
          details: { fields: [{ field: 'email', reason: 'invalid_format' }, { field: 'password', reason: 'too_short' }] },
        },
      });
      for (const [password, reason] of [['Password123', 'too_common'], ['x'.repeat(129), 'too_long'], ['', 'required']]) {
        expect(await h.send({ type: 'RegisterUser', email: newEmail(), password })).toMatchObject({
          ok: false,
          error: { code: 'validation_failed', details: { fields: [{ field: 'password', reason }] } },
        });
      }
      expect(await h.send({ type: 'RegisterUser', email: `${'a'.repeat(250)}@x.io`, password: PASSWORD })).toMatchObject({
        error: { details: { fields: [{ field: 'email', reason: 'too_long' }] } },
      });
    });

    it('refuses a command without an idempotency key, and an unknown command', async () => {
      expect(await h.sendRaw({ type: 'RegisterUser', email: newEmail(), password: PASSWORD, meta: { idempotencyKey: '', actor: 'x' } })).toMatchObject({
        ok: false,
        error: { code: 'idempotency_key_required' },
      });
      expect(await h.sendRaw({ type: 'Login', email: 'a@b.io', password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'idempotency_key_required' } });
      expect(await h.sendRaw({ type: 'Teleport', meta: { idempotencyKey: 'k', actor: 'x' } })).toMatchObject({
        ok: false,
        error: { code: 'validation_failed' },
      });
    });

    it('lets exactly one of many concurrent registrations of one email win', async () => {
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) => h.send<UserView>({ type: 'RegisterUser', email: i % 2 ? 'race@example.com' : 'RACE@example.com', password: PASSWORD }, `race-${i}`)),
      );
      const winners = replies.filter((reply) => reply.ok);
      expect(winners).toHaveLength(1);
      expect(replies.filter((reply) => !reply.ok && reply.error.code === 'email_taken')).toHaveLength(7);
      const userStreams = new Set((await h.store.readAll({ streamPrefixes: ['user-'] })).filter((e) => e.type === 'identity.UserRegistered.v1').map((e) => e.streamId));
      expect(userStreams.size).toBe(1);
      expect((await h.store.readStream(emailReservationStreamId('race@example.com'))).map((e) => e.data)).toEqual([
        { userId: winners[0].ok && winners[0].value.id, atMs: expect.any(Number) },
      ]);
    });

    it('completes a registration that stopped between the reservation and the user stream, on retry', async () => {
      const userId = userIdForKey('crashed-key');
      await h.store.append(
        emailReservationStreamId('erin@example.com'),
        [
          {
            eventId: idFromKey('test', 'reservation'),
            type: 'identity.EmailReserved.v1',
            schemaVersion: 1,
            data: { userId, atMs: h.clock.nowMs() },
            metadata: { correlationId: 'c', causationId: 'c', actor: 'test', idempotencyKey: 'crashed-key', occurredAt: new Date(h.clock.nowMs()).toISOString() },
          },
        ],
        expectedState.noStream,
      );
      expect(await h.send({ type: 'Login', email: 'erin@example.com', password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      expect(await h.send({ type: 'RegisterUser', email: 'erin@example.com', password: PASSWORD }, 'someone-else')).toMatchObject({ error: { code: 'email_taken' } });
      expect(await h.send({ type: 'RegisterUser', email: 'erin@example.com', password: PASSWORD }, 'crashed-key')).toMatchObject({ ok: true, value: { id: userId } });
      await login('erin@example.com');
    });
  });

  describe('an email reserved by a registration that did not complete', () => {
    const DAY_MS = 24 * 60 * MINUTE_MS;

    /** The store refuses the next append of a user stream (a crash between reserving the email and registering). */
    function failNextUserAppend(): void {
      const append = h.store.append.bind(h.store);
      const spy = jest.spyOn(h.store, 'append').mockImplementation(async (streamId, ...rest) => {
        if (!streamId.startsWith('user-email-') && streamId.startsWith('user-')) {
          spy.mockRestore();
          throw new Error('disk I/O error');
        }
        return append(streamId, ...rest);
      });
    }

    it('goes to its owner when the key that reserved it registered another email (a corrected typo)', async () => {
      failNextUserAppend();
      expect(await h.send({ type: 'RegisterUser', email: 'typo@example.com', password: PASSWORD }, 'reg-typo')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      expect(await h.send({ type: 'RegisterUser', email: 'meant@example.com', password: PASSWORD }, 'reg-typo')).toMatchObject({ ok: true });
      // The typo is no way into the account registered under the corrected email.
      expect(await h.send({ type: 'Login', email: 'typo@example.com', password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      // The typo is someone else's address: they register it, and it logs in to their account alone.
      expectOk(await h.send<UserView>({ type: 'RegisterUser', email: 'Typo@example.com', password: 'the owner of typo' }, 'reg-owner'));
      expect((await h.send({ type: 'Login', email: 'typo@example.com', password: PASSWORD })).ok).toBe(false);
      const owner = await login('typo@example.com', 'the owner of typo');
      expect(owner.tokenType).toBe('Bearer');
    });

    it('is held for its key for a day, then goes to whoever registers it', async () => {
      failNextUserAppend();
      expect(await h.send({ type: 'RegisterUser', email: 'gone@example.com', password: PASSWORD }, 'reg-gone')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      expect(await h.send({ type: 'RegisterUser', email: 'gone@example.com', password: 'someone else here' })).toMatchObject({ ok: false, error: { code: 'email_taken' } });
      h.clock.advance(DAY_MS);
      const owner = expectOk(await h.send<UserView>({ type: 'RegisterUser', email: 'gone@example.com', password: 'someone else here' }));
      expect(await login('gone@example.com', 'someone else here')).toMatchObject({ tokenType: 'Bearer' });
      // The first key, retried late, finds the email taken.
      expect(await h.send({ type: 'RegisterUser', email: 'gone@example.com', password: PASSWORD }, 'reg-gone')).toMatchObject({ ok: false, error: { code: 'email_taken' } });
      expect(owner.email).toBe('gone@example.com');
    });

    it('goes to one registration only when its key retries just as another registration takes it over', async () => {
      failNextUserAppend();
      expect(await h.send({ type: 'RegisterUser', email: 'late@example.com', password: PASSWORD }, 'reg-late')).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      h.clock.advance(DAY_MS);
      // The late retry's user append waits until the other registration has been answered.
      let reachedUserAppend = false;
      let otherAnswered!: () => void;
      const otherDone = new Promise<void>((resolve) => (otherAnswered = resolve));
      const append = h.store.append.bind(h.store);
      const spy = jest.spyOn(h.store, 'append').mockImplementation(async (streamId, ...rest) => {
        if (streamId === `user-${userIdForKey('reg-late')}`) {
          spy.mockRestore();
          reachedUserAppend = true;
          await otherDone;
        }
        return append(streamId, ...rest);
      });
      const late = h.send({ type: 'RegisterUser', email: 'late@example.com', password: PASSWORD }, 'reg-late');
      await waitFor('the late retry to reach its user append', () => reachedUserAppend);
      // Straight to the service: on the bus it would wait behind the late retry in their partition.
      const meta = { idempotencyKey: 'reg-other', actor: 'test-gateway' };
      const other = await h.identity.service.execute({ type: 'RegisterUser', email: 'late@example.com', password: 'someone else here', meta });
      otherAnswered();
      const replies = [await late, other];
      expect(replies.filter((reply) => reply.ok)).toHaveLength(1);
      expect(replies.filter((reply) => !reply.ok && reply.error.code === 'email_taken')).toHaveLength(1);
      const registered = (await h.store.readAll({ streamPrefixes: ['user-'] })).filter((e) => e.type === 'identity.UserRegistered.v1');
      expect(registered).toHaveLength(1);
    });
  });

  describe('Login', () => {
    // The password typed on a device that sends it decomposed (NFD), as macOS does for accents and Hangul.
    it.each([
      ['accented', 'Crème brûlée à Noël'],
      ['128 Hangul syllables', '한글비밀번호'.repeat(22).slice(0, 128)],
    ])('takes a password registered composed and sent decomposed: %s', async (_, typed) => {
      const composed = typed.normalize('NFC');
      const user = await register(newEmail(), composed);
      const decomposed = composed.normalize('NFD');
      expect(decomposed).not.toBe(composed);
      const pair = await login(user.email, decomposed);
      expect(pair.tokenType).toBe('Bearer');
    });

    it('returns a token pair; the access token verifies with the public keys and names user, roles and session', async () => {
      const user = await register('Frank@Example.com');
      const pair = await login('frank@example.com');
      expect(pair).toEqual({ accessToken: expect.any(String), refreshToken: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/), tokenType: 'Bearer', expiresIn: 900 });
      const keys = await publicKeys();
      expect(keys).toMatchObject({ issuer: 'ledger-identity', audience: 'ledger-gateway', keys: [{ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' }] });
      const verified = verifyAccessToken(pair.accessToken, keys, h.clock.nowMs());
      expect(verified).toMatchObject({ ok: true, value: { sub: user.id, roles: ['user'], iss: 'ledger-identity', aud: 'ledger-gateway' } });
      const sid = verified.ok ? verified.value.sid : '';
      expect(await h.send({ type: 'CheckSession', userId: user.id, sessionId: sid })).toEqual({ ok: true, value: { alive: true } });
      h.clock.advance(900_000);
      expect(verifyAccessToken(pair.accessToken, keys, h.clock.nowMs())).toMatchObject({ ok: false, error: { code: 'token_expired' } });
    });

    it('is invalid_credentials for a wrong password and an unknown email, validation_failed without fields', async () => {
      const email = newEmail();
      await register(email);
      expect(await h.send({ type: 'Login', email, password: 'wrong password!' })).toEqual({
        ok: false,
        error: { code: 'invalid_credentials', message: expect.any(String) },
      });
      expect(await h.send({ type: 'Login', email: 'nobody@example.com', password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      expect(await h.send({ type: 'Login', email, password: '' })).toMatchObject({
        ok: false,
        error: { code: 'validation_failed', details: { fields: [{ field: 'password', reason: 'required' }] } },
      });
    });

    it('locks after five failures in a row for 15 minutes (account_locked, even with the right password), then works', async () => {
      const email = newEmail();
      await register(email);
      for (let i = 1; i <= 4; i++) expect(await h.send({ type: 'Login', email, password: `wrong password ${i}` })).toMatchObject({ error: { code: 'invalid_credentials' } });
      const lockedUntil = new Date(h.clock.nowMs() + 15 * MINUTE_MS).toISOString();
      expect(await h.send({ type: 'Login', email, password: 'wrong password 5' })).toEqual({
        ok: false,
        error: { code: 'account_locked', message: expect.any(String), details: { lockedUntil } },
      });
      expect(await h.send({ type: 'Login', email, password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'account_locked', details: { lockedUntil } } });
      h.clock.advance(15 * MINUTE_MS - 1);
      expect(await h.send({ type: 'Login', email, password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'account_locked' } });
      h.clock.advance(1);
      await login(email);
    });

    it('takes no lone surrogate for a password: UTF-8 turns each into U+FFFD, so they would all match one another', async () => {
      const withReplacement = 'pass \uFFFD word \uFFFD!';
      const user = await register(newEmail(), withReplacement);
      for (const typed of ['pass \uD800 word \uDFFF!', 'pass \uDBFF word \uFFFD!']) {
        expect(await h.send({ type: 'Login', email: user.email, password: typed })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      }
      expect(await h.send({ type: 'RegisterUser', email: newEmail(), password: 'pass \uD800 word \uD800!' })).toMatchObject({
        ok: false,
        error: { code: 'validation_failed', details: { fields: [{ field: 'password', reason: 'invalid_characters' }] } },
      });
      await login(user.email, withReplacement);
      // Nor in a display name: identity.events would carry it, and strict JSON readers (serde_json) refuse a lone surrogate escape.
      expect(await h.send({ type: 'RegisterUser', email: newEmail(), password: PASSWORD, displayName: 'Ada \uDC00' })).toMatchObject({
        ok: false,
        error: { code: 'validation_failed', details: { fields: [{ field: 'displayName', reason: 'invalid_characters' }] } },
      });
    });

    it('counts a retried failure once (same idempotency key)', async () => {
      const email = newEmail();
      await register(email);
      for (let i = 1; i <= 4; i++) await h.send({ type: 'Login', email, password: 'wrong password!' }, `attempt-${i}`);
      // Redelivered four times: still four failures, not locked.
      for (let i = 0; i < 4; i++) expect(await h.send({ type: 'Login', email, password: 'wrong password!' }, 'attempt-4')).toMatchObject({ error: { code: 'invalid_credentials' } });
      await login(email);
    });
  });

  describe('Refresh and Logout', () => {
    it('rotates: a new pair each time, the old token works no more, and reusing it revokes the whole login', async () => {
      const email = newEmail();
      const user = await register(email);
      const first = await login(email);
      const second = await h.send<TokenPair>({ type: 'Refresh', refreshToken: first.refreshToken });
      expect(second).toMatchObject({ ok: true, value: { tokenType: 'Bearer', expiresIn: 900 } });
      if (!second.ok) return;
      expect(second.value.refreshToken).not.toBe(first.refreshToken);
      expect(second.value.accessToken).not.toBe(first.accessToken);
      const sid = (verifyAccessToken(second.value.accessToken, await publicKeys(), h.clock.nowMs()) as { value: { sid: string } }).value.sid;

      // The rotated token comes back: reuse. 401, and the token the rotation issued dies with it.
      expect(await h.send({ type: 'Refresh', refreshToken: first.refreshToken })).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
      expect(await h.send({ type: 'Refresh', refreshToken: second.value.refreshToken })).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
      expect(await h.send({ type: 'CheckSession', userId: user.id, sessionId: sid })).toEqual({ ok: true, value: { alive: false } });
      // Other logins of the user are untouched.
      const other = await login(email);
      expect(await h.send({ type: 'Refresh', refreshToken: other.refreshToken })).toMatchObject({ ok: true });
    });

    it('treats a redelivered refresh (same idempotency key) as the same request, not as reuse', async () => {
      const email = newEmail();
      await register(email);
      const pair = await login(email);
      const first = await h.send<TokenPair>({ type: 'Refresh', refreshToken: pair.refreshToken }, 'refresh-once');
      const again = await h.send<TokenPair>({ type: 'Refresh', refreshToken: pair.refreshToken }, 'refresh-once');
      expect(again.ok && first.ok && again.value.refreshToken !== first.value.refreshToken).toBe(true);
      if (!again.ok) return;
      expect(await h.send({ type: 'Refresh', refreshToken: again.value.refreshToken })).toMatchObject({ ok: true });
    });

    it('treats every redelivery of a refresh as the same request, not only the first (two replies lost in a row)', async () => {
      const email = newEmail();
      await register(email);
      const pair = await login(email);
      for (let delivery = 1; delivery <= 2; delivery++) expect(await h.send({ type: 'Refresh', refreshToken: pair.refreshToken }, 'refresh-lost')).toMatchObject({ ok: true });
      const third = await h.send<TokenPair>({ type: 'Refresh', refreshToken: pair.refreshToken }, 'refresh-lost');
      expect(third).toMatchObject({ ok: true });
      if (!third.ok) return;
      expect(await h.send({ type: 'Refresh', refreshToken: third.value.refreshToken })).toMatchObject({ ok: true });
      // Another request presenting that first token is still reuse.
      expect(await h.send({ type: 'Refresh', refreshToken: pair.refreshToken }, 'refresh-other')).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    });

    it('logs out (204: null), idempotently; the session and its tokens are dead', async () => {
      const email = newEmail();
      const user = await register(email);
      const pair = await login(email);
      const sid = (verifyAccessToken(pair.accessToken, await publicKeys(), h.clock.nowMs()) as { value: { sid: string } }).value.sid;
      expect(await h.send({ type: 'Logout', refreshToken: pair.refreshToken })).toEqual({ ok: true, value: null });
      expect(await h.send({ type: 'Logout', refreshToken: pair.refreshToken })).toEqual({ ok: true, value: null });
      expect(await h.send({ type: 'Refresh', refreshToken: pair.refreshToken })).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
      expect(await h.send({ type: 'CheckSession', userId: user.id, sessionId: sid })).toEqual({ ok: true, value: { alive: false } });
      expect(await h.send({ type: 'Logout', refreshToken: 'garbage' })).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    });

    it('ends a login after REFRESH_TOKEN_TTL_SECONDS (token_expired)', async () => {
      const email = newEmail();
      await register(email);
      const pair = await login(email);
      h.clock.advance(30 * 24 * 60 * MINUTE_MS);
      expect(await h.send({ type: 'Refresh', refreshToken: pair.refreshToken })).toMatchObject({ ok: false, error: { code: 'token_expired' } });
    });
  });

  /** A second identity service on the same store, keys and clock: another process, as far as the store can tell. */
  const secondInstance = () =>
    new IdentityService({
      config: loadIdentityConfig(FAST_ARGON2_ENV),
      store: h.store,
      clock: h.clock,
      ids: new UuidV7Generator(() => h.clock.nowMs()),
      keys: h.identity.keys,
    });

  it('two instances refreshing one token at once: one rotates, the other is reuse, and no refresh token of that login lives', async () => {
    const email = newEmail();
    const user = await register(email);
    const pair = await login(email);
    const other = secondInstance();
    // Both instances have the session cached as it is now, so each decides first on a state the other changes.
    expect(await other.execute({ type: 'CheckSession', userId: user.id, sessionId: 'none', meta: { idempotencyKey: 'warm', actor: 'test' } })).toMatchObject({ ok: true });
    const replies = await Promise.all([
      h.send<TokenPair>({ type: 'Refresh', refreshToken: pair.refreshToken }, 'refresh-a'),
      other.execute({ type: 'Refresh', refreshToken: pair.refreshToken, meta: { idempotencyKey: 'refresh-b', actor: 'test' } }) as Promise<Reply<TokenPair>>,
    ]);
    expect(replies.filter((reply) => reply.ok)).toHaveLength(1);
    expect(replies.filter((reply) => !reply.ok && reply.error.code === 'unauthenticated')).toHaveLength(1);
    for (const reply of replies) {
      if (reply.ok) expect(await h.send({ type: 'Refresh', refreshToken: reply.value.refreshToken })).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    }
  });

  it('two instances on one store lose no failure: concurrent wrong logins lock at exactly five', async () => {
    const email = newEmail();
    const user = await register(email);
    const other = secondInstance();
    const attempts = Array.from({ length: 4 }, (_, i) =>
      i % 2 === 0
        ? h.send({ type: 'Login', email, password: `wrong password ${i}` })
        : other.execute({ type: 'Login', email, password: `wrong password ${i}`, meta: { idempotencyKey: `other-${i}`, actor: 'test' } }),
    );
    expect((await Promise.all(attempts)).map((reply) => !reply.ok && reply.error.code)).toEqual(Array(4).fill('invalid_credentials'));
    expect(await other.execute({ type: 'GetMe', userId: user.id, meta: { idempotencyKey: 'me', actor: 'test' } })).toMatchObject({ ok: true });
    expect(await h.send({ type: 'Login', email, password: 'wrong password 5' })).toMatchObject({ ok: false, error: { code: 'account_locked' } });
    const failures = (await h.store.readStream(`user-${user.id}`)).filter((event) => event.type === 'identity.LoginFailed.v1');
    expect(failures.map((event) => (event.data as { failures: number }).failures)).toEqual([1, 2, 3, 4, 5]);
  });

  it('GetMe answers API.md\'s /v1/me, and not_found for an unknown user', async () => {
    const user = await register(newEmail(), PASSWORD, 'Grace');
    expect(await h.send({ type: 'GetMe', userId: user.id })).toEqual({
      ok: true,
      value: { id: user.id, email: user.email, displayName: 'Grace', roles: ['user'], mfaEnabled: false },
    });
    expect(await h.send({ type: 'GetMe', userId: idFromKey('x', 'y') })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await h.sendRaw({ type: 'GetMe' })).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
  });

  describe('TOTP', () => {
    it('answers a stale retry of an earlier enrolment with the newer pending secret, which still confirms', async () => {
      const user = await register(newEmail());
      const first = await h.send<{ secret: string }>({ type: 'StartTotpEnrolment', userId: user.id }, 'enrol-a');
      const second = await h.send<{ secret: string; otpauthUrl: string }>({ type: 'StartTotpEnrolment', userId: user.id }, 'enrol-b');
      if (!first.ok || !second.ok) throw new Error('enrolment failed');
      expect(second.value.secret).not.toBe(first.value.secret);
      expect(await h.send({ type: 'StartTotpEnrolment', userId: user.id }, 'enrol-a')).toEqual(second); // its first reply was lost
      expect(await h.send({ type: 'ConfirmTotpEnrolment', userId: user.id, code: totpCodeAt(second.value.secret, h.clock.nowMs()) })).toEqual({ ok: true, value: null });
    });

    it('enrols (secret and otpauth URL, the same on retry), confirms with a code, then login needs a fresh code', async () => {
      const email = newEmail();
      const user = await register(email);
      const started = await h.send<{ secret: string; otpauthUrl: string }>({ type: 'StartTotpEnrolment', userId: user.id }, 'enrol-1');
      expect(started).toEqual({
        ok: true,
        value: { secret: expect.stringMatching(/^[A-Z2-7]{32}$/), otpauthUrl: expect.stringMatching(/^otpauth:\/\/totp\/Ledger:user\d+%40example\.com\?secret=[A-Z2-7]{32}&issuer=Ledger$/) },
      });
      if (!started.ok) return;
      expect(await h.send({ type: 'StartTotpEnrolment', userId: user.id }, 'enrol-1')).toEqual(started);
      const secret = started.value.secret;
      const wrong = totpCodeAt(secret, h.clock.nowMs() + 10 * MINUTE_MS);
      expect(await h.send({ type: 'ConfirmTotpEnrolment', userId: user.id, code: wrong })).toMatchObject({
        ok: false,
        error: { code: 'validation_failed', details: { fields: [{ field: 'code', reason: 'invalid_code' }] } },
      });
      expect(await h.send({ type: 'ConfirmTotpEnrolment', userId: user.id, code: totpCodeAt(secret, h.clock.nowMs()) })).toEqual({ ok: true, value: null });
      expect(await h.send({ type: 'GetMe', userId: user.id })).toMatchObject({ ok: true, value: { mfaEnabled: true } });
      expect(await h.send({ type: 'StartTotpEnrolment', userId: user.id })).toMatchObject({ ok: false, error: { code: 'validation_failed' } });

      // The confirming code's step is used: the same code does not log in.
      expect(await h.send({ type: 'Login', email, password: PASSWORD, totp: totpCodeAt(secret, h.clock.nowMs()) })).toMatchObject({ error: { code: 'invalid_credentials' } });
      h.clock.advance(30_000);
      expect(await h.send({ type: 'Login', email, password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      expect(await h.send({ type: 'Login', email, password: PASSWORD, totp: '000000' })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      const code = totpCodeAt(secret, h.clock.nowMs());
      await login(email, PASSWORD, code);
      expect(await h.send({ type: 'Login', email, password: PASSWORD, totp: code })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
    });
  });

  describe('VerifyStepUp', () => {
    it('passes with the password or a TOTP code, and is step_up_required otherwise', async () => {
      const user = await register();
      expect(await h.send({ type: 'VerifyStepUp', userId: user.id, password: PASSWORD })).toEqual({ ok: true, value: { verified: true } });
      expect(await h.send({ type: 'VerifyStepUp', userId: user.id, password: 'not the password' })).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
      expect(await h.send({ type: 'VerifyStepUp', userId: user.id })).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
      expect(await h.send({ type: 'VerifyStepUp', userId: user.id, totp: '123456' })).toMatchObject({ ok: false, error: { code: 'step_up_required' } });
      const secret = await enableTotp(user.id);
      expect(await h.send({ type: 'VerifyStepUp', userId: user.id, totp: totpCodeAt(secret, h.clock.nowMs()) })).toEqual({ ok: true, value: { verified: true } });
      expect(await h.send({ type: 'VerifyStepUp', userId: idFromKey('x', 'nobody'), password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    });
  });

  describe('the first admin', () => {
    it('is created from ADMIN_EMAIL/ADMIN_PASSWORD at start, once, across restarts', async () => {
      const { dataDir, clock } = h;
      await h.close();
      const env = { ADMIN_EMAIL: 'Admin@Example.com', ADMIN_PASSWORD: 'an admin pass phrase' };
      h = await startIdentityHarness({ dataDir, clock, env });
      const pair = await login('admin@example.com', 'an admin pass phrase');
      const claims = verifyAccessToken(pair.accessToken, await publicKeys(), clock.nowMs());
      expect(claims).toMatchObject({ ok: true, value: { roles: ['admin', 'user'] } });
      const adminId = claims.ok ? claims.value.sub : '';
      await h.close();
      h = await startIdentityHarness({ dataDir, clock, env });
      expect(await h.send<MeView>({ type: 'GetMe', userId: adminId })).toMatchObject({ ok: true, value: { roles: ['admin', 'user'], email: 'Admin@Example.com' } });
      const registrations = (await h.store.readAll()).filter((event) => event.type === 'identity.UserRegistered.v1' || event.type === 'identity.RoleGranted.v1');
      expect(registrations.map((event) => event.type)).toEqual(['identity.UserRegistered.v1', 'identity.RoleGranted.v1']);
    });

    it('promotes an existing user with that email whose password is ADMIN_PASSWORD', async () => {
      const user = await register('boss@example.com');
      const { dataDir, clock } = h;
      await h.close();
      h = await startIdentityHarness({ dataDir, clock, env: { ADMIN_EMAIL: 'boss@example.com', ADMIN_PASSWORD: PASSWORD } });
      expect(await h.send({ type: 'GetMe', userId: user.id })).toMatchObject({ ok: true, value: { roles: ['admin', 'user'] } });
      await login('boss@example.com');
      // Once an admin, a later ADMIN_PASSWORD (rotated in the config) leaves them be, and says so at start.
      await h.close();
      const warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        h = await startIdentityHarness({ dataDir, clock, env: { ADMIN_EMAIL: 'boss@example.com', ADMIN_PASSWORD: 'some other pass phrase' } });
        expect(warnings.mock.calls.map(([message]) => String(message))).toContainEqual(expect.stringMatching(/^ADMIN_PASSWORD is not the password of the admin/));
        expect(warnings.mock.calls.join(' ')).not.toContain('some other pass phrase');
      } finally {
        warnings.mockRestore();
      }
      expect(await h.send({ type: 'GetMe', userId: user.id })).toMatchObject({ ok: true, value: { roles: ['admin', 'user'] } });
      expect(await h.send({ type: 'Login', email: 'boss@example.com', password: 'some other pass phrase' })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
      await login('boss@example.com');
    });

    it('does not promote whoever registered ADMIN_EMAIL first with another password (no email is verified)', async () => {
      const squatter = await register('ops@example.com', 'the squatters own pass phrase');
      const { dataDir, clock } = h;
      await h.close();
      const env = { ADMIN_EMAIL: 'OPS@example.com', ADMIN_PASSWORD: 'the operators pass phrase' };
      // Closed if it starts after all, so a failing run does not hang.
      const start = await startIdentityHarness({ dataDir, clock, env }).then(async (started) => started.close().then(() => 'started'), (error: unknown) => error);
      expect(String(start)).toMatch(/ADMIN_PASSWORD/);
      h = await startIdentityHarness({ dataDir, clock });
      expect(await h.send({ type: 'GetMe', userId: squatter.id })).toMatchObject({ ok: true, value: { roles: ['user'] } });
    });

    it('refuses to start with a weak ADMIN_PASSWORD or a bad ADMIN_EMAIL', async () => {
      const { dataDir, clock } = h;
      await h.close();
      await expect(startIdentityHarness({ dataDir, clock, env: { ADMIN_EMAIL: 'a@example.com', ADMIN_PASSWORD: 'password123' } })).rejects.toThrow(ConfigError);
      await expect(startIdentityHarness({ dataDir, clock, env: { ADMIN_EMAIL: 'a@example.com', ADMIN_PASSWORD: 'password123' } })).rejects.toThrow(/ADMIN_PASSWORD/);
      await expect(startIdentityHarness({ dataDir, clock, env: { ADMIN_EMAIL: 'not-an-email', ADMIN_PASSWORD: 'a fine pass phrase' } })).rejects.toThrow(/ADMIN_EMAIL/);
      h = await startIdentityHarness({ dataDir, clock });
    });
  });

  it('keeps everything across a restart: keys, users, sessions, TOTP, locks', async () => {
    const email = newEmail();
    const user = await register(email);
    const secret = await enableTotp(user.id);
    const pair = await login(email, PASSWORD, totpCodeAt(secret, h.clock.nowMs()));
    const locked = newEmail();
    await register(locked);
    for (let i = 0; i < 5; i++) await h.send({ type: 'Login', email: locked, password: 'wrong password!' });
    const keysBefore = await publicKeys();
    const { dataDir, clock } = h;
    await h.close();

    h = await startIdentityHarness({ dataDir, clock });
    expect(await publicKeys()).toEqual(keysBefore);
    expect(verifyAccessToken(pair.accessToken, await publicKeys(), clock.nowMs())).toMatchObject({ ok: true, value: { sub: user.id } });
    expect(await h.send({ type: 'Refresh', refreshToken: pair.refreshToken })).toMatchObject({ ok: true });
    expect(await h.send({ type: 'GetMe', userId: user.id })).toMatchObject({ ok: true, value: { mfaEnabled: true } });
    expect(await h.send({ type: 'Login', email: locked, password: PASSWORD })).toMatchObject({ ok: false, error: { code: 'account_locked' } });
    clock.advance(30_000);
    await login(email, PASSWORD, totpCodeAt(secret, clock.nowMs()));
  });

  it('keeps TOTP users able to log in after the TOTP key is rotated (the old one in IDENTITY_PREVIOUS_TOTP_KEYS); new enrolments take the new key', async () => {
    const email = newEmail();
    const user = await register(email);
    const secret = await enableTotp(user.id);
    const { dataDir, clock } = h;
    await h.close();
    const oldKey = readFileSync(join(dataDir, TOTP_KEY_FILE), 'utf8').trim();
    writeFileSync(join(dataDir, TOTP_KEY_FILE), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

    h = await startIdentityHarness({ dataDir, clock, env: { IDENTITY_PREVIOUS_TOTP_KEYS: `before-2026:${oldKey}` } });
    await login(email, PASSWORD, totpCodeAt(secret, clock.nowMs()));
    const other = await register();
    const otherSecret = await enableTotp(other.id);
    await h.close();

    h = await startIdentityHarness({ dataDir, clock }); // the old key dropped: only what it sealed stops opening
    await login(other.email, PASSWORD, totpCodeAt(otherSecret, clock.nowMs()));
    expect(await h.send({ type: 'Login', email, password: PASSWORD, totp: totpCodeAt(secret, clock.nowMs()) })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
  });

  it('projects users by id and email, and a rebuild from position 0 equals the live table', async () => {
    const user = await register('Heidi@Example.com', PASSWORD, 'Heidi');
    await enableTotp(user.id);
    h.clock.advance(1_000);
    const loginAt = h.clock.nowMs();
    expect(await h.send({ type: 'Login', email: 'heidi@example.com', password: PASSWORD })).toMatchObject({ error: { code: 'invalid_credentials' } });
    const head = await h.store.headPosition();
    expect(await h.identity.projection.waitUntil(head)).toBe(true);
    const db = h.db;
    expect(findUserByEmail(db, 'HEIDI@example.com')).toEqual({
      id: user.id,
      email: 'Heidi@Example.com',
      displayName: 'Heidi',
      roles: ['user'],
      mfaEnabled: true,
      lockedUntil: null,
      lastLoginAt: null,
      createdAt: user.createdAt,
    });
    expect(loginAt).toBeGreaterThan(0);

    const rebuilt = openProjectionDb(':memory:');
    const runner = new ProjectionRunner({ store: h.store, db: rebuilt, projection: identityUsersProjection });
    await runner.start();
    expect(await runner.waitUntil(head)).toBe(true);
    await runner.stop();
    const rows = (target: typeof db) => target.prepare('SELECT * FROM identity_users ORDER BY user_id').all();
    expect(rows(rebuilt)).toEqual(rows(db));
    rebuilt.close();
  });

  it('publishes identity.events from the store, without password hashes or token hashes', async () => {
    const received: IntegrationEvent[] = [];
    const consumer = await h.bus.subscribe({
      topics: [IDENTITY_TOPICS.events],
      groupId: 'test-consumer',
      handler: async (message) => {
        received.push(decodeIntegrationEvent(message.value));
      },
    });
    const email = newEmail();
    const user = await register(email);
    const pair = await login(email);
    expect(await h.send({ type: 'Logout', refreshToken: pair.refreshToken })).toMatchObject({ ok: true });
    await waitFor('the relay', () => received.some((event) => event.type === 'identity.SessionRevoked.v1'));
    await consumer.stop();
    const registered = received.find((event) => event.type === 'identity.UserRegistered.v1');
    expect(registered).toMatchObject({ streamId: `user-${user.id}`, data: { userId: user.id, email, roles: ['user'] } });
    expect(JSON.stringify(received)).not.toMatch(/argon2|passwordHash|tokenHash/);
    expect(received.map((event) => event.type)).not.toContain('identity.RefreshTokenIssued.v1');
    expect(received.map((event) => event.type)).not.toContain('identity.EmailReserved.v1');
  });

  it('writes no password, refresh token, access token or TOTP secret into the event store', async () => {
    const email = newEmail();
    const user = await register(email, 'a very particular passphrase');
    const secret = await enableTotp(user.id);
    const pair = await login(email, 'a very particular passphrase', totpCodeAt(secret, h.clock.nowMs()));
    const rotated = await h.send<TokenPair>({ type: 'Refresh', refreshToken: pair.refreshToken });
    if (!rotated.ok) throw new Error('refresh failed');
    await h.send({ type: 'VerifyStepUp', userId: user.id, password: 'a very particular passphrase' });
    await h.send({ type: 'Login', email, password: 'a wrong particular passphrase' });
    await h.send({ type: 'Logout', refreshToken: rotated.value.refreshToken });

    const stored = JSON.stringify(await h.store.readAll(), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    expect(stored).toContain(user.id); // the scan sees the events
    for (const secretText of [
      'a very particular passphrase',
      'a wrong particular passphrase',
      pair.refreshToken,
      rotated.value.refreshToken,
      pair.accessToken,
      rotated.value.accessToken,
      secret,
      secret.toLowerCase(),
      Buffer.from(secret).toString('base64'),
    ]) {
      expect(stored).not.toContain(secretText);
    }
    expect(stored).toContain('$argon2id$'); // the hash is there, by design
  });
});
