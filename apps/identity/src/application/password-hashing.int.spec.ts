// Password hashing under load, through the transport: argon2 calls (each takes
// IDENTITY_ARGON2_MEMORY_KIB) are counted and held here, so the test sees how many run at once.
import { waitFor } from '@ledger/contracts/testing';
import type { Reply } from '@ledger/contracts';
import { startIdentityHarness, type IdentityHarness } from '../testing/identity.harness';
import { totpCodeAt } from './totp-codes';
import { userStreamId } from './user-repository';

const argon2Calls = { running: 0, most: 0, hashes: 0, verifies: 0, release: () => undefined as void, held: Promise.resolve() };

jest.mock('argon2', () => {
  const actual = jest.requireActual<typeof import('argon2')>('argon2');
  const counted =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      argon2Calls.running += 1;
      argon2Calls.most = Math.max(argon2Calls.most, argon2Calls.running);
      try {
        await argon2Calls.held;
        return await call(...args);
      } finally {
        argon2Calls.running -= 1;
      }
    };
  const hash = counted(actual.hash);
  const verify = counted(actual.verify);
  return {
    ...actual,
    hash: (...args: Parameters<typeof actual.hash>) => ((argon2Calls.hashes += 1), hash(...args)),
    verify: (...args: Parameters<typeof actual.verify>) => ((argon2Calls.verifies += 1), verify(...args)),
  };
});

function holdArgon2(): void {
  let release!: () => void;
  argon2Calls.held = new Promise<void>((resolve) => (release = resolve));
  argon2Calls.release = release;
  argon2Calls.most = 0;
}

describe('password hashing under load', () => {
  let h: IdentityHarness;

  /** A registration that takes a hashing turn and keeps it while argon2 is held (called on the service: no partition waits behind it). */
  function holdOneTurn(): Promise<Reply<unknown>> {
    const meta = { idempotencyKey: 'blocker', actor: 'test' };
    return h.identity.service.execute({ type: 'RegisterUser', email: 'blocker@example.com', password: 'correct horse battery staple', meta });
  }

  afterEach(async () => {
    argon2Calls.release();
    await h.close({ remove: true });
  });

  it('runs at most IDENTITY_HASHES_IN_FLIGHT_MAX hashes at once, queues IDENTITY_HASHES_QUEUED_MAX, and answers the rest unavailable (503)', async () => {
    h = await startIdentityHarness({ env: { IDENTITY_PARTITIONS: '64', IDENTITY_HASHES_IN_FLIGHT_MAX: '2', IDENTITY_HASHES_QUEUED_MAX: '3' } });
    holdArgon2();
    const replies: Reply<unknown>[] = [];
    const registrations = Array.from({ length: 10 }, (_, i) =>
      h.send({ type: 'RegisterUser', email: `load${i}@example.com`, password: 'correct horse battery staple' }).then((reply) => {
        replies.push(reply);
        return reply;
      }),
    );
    await waitFor('five refused or more than two hashes running', () => replies.length === 5 || argon2Calls.running > 2);
    expect(argon2Calls.running).toBe(2);
    expect(replies).toHaveLength(5);
    for (const reply of replies) expect(reply).toMatchObject({ ok: false, error: { code: 'unavailable', details: { retryable: true } } });

    argon2Calls.release();
    const all = await Promise.all(registrations);
    expect(all.filter((reply) => reply.ok)).toHaveLength(5);
    expect(argon2Calls.most).toBe(2);
  });

  it('counts a hash made at a higher IDENTITY_ARGON2_MEMORY_KIB as that many turns: the memory bound holds for older hashes', async () => {
    h = await startIdentityHarness({ env: { IDENTITY_ARGON2_MEMORY_KIB: '2048' } });
    expect(await h.send({ type: 'RegisterUser', email: 'costly@example.com', password: 'correct horse battery staple' })).toMatchObject({ ok: true });
    await h.close();
    h = await startIdentityHarness({ dataDir: h.dataDir, env: { IDENTITY_ARGON2_MEMORY_KIB: '1024', IDENTITY_HASHES_IN_FLIGHT_MAX: '2', IDENTITY_HASHES_QUEUED_MAX: '0' } });
    holdArgon2();
    const costly = h.send({ type: 'Login', email: 'costly@example.com', password: 'correct horse battery staple' });
    await waitFor('the older hash being verified', () => argon2Calls.running === 1);
    // It takes 2048 KiB, the whole budget of 2 x 1024: nothing else may run beside it.
    let beside: Reply<unknown> | undefined;
    void holdOneTurn().then((reply) => (beside = reply));
    await waitFor('a registration refused, or hashing beside the older hash', () => beside !== undefined || argon2Calls.running > 1);
    expect(argon2Calls.running).toBe(1);
    expect(beside).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    argon2Calls.release();
    expect(await costly).toMatchObject({ ok: true });
  });

  it('hashes a password again at the current cost at the next login that proves it, once', async () => {
    h = await startIdentityHarness({ env: { IDENTITY_ARGON2_MEMORY_KIB: '2048' } });
    const user = await h.send<{ id: string }>({ type: 'RegisterUser', email: 'older@example.com', password: 'correct horse battery staple' });
    if (!user.ok) throw new Error('registration failed');
    await h.close();
    h = await startIdentityHarness({ dataDir: h.dataDir });
    const rehashes = async () => (await h.store.readStream(userStreamId(user.value.id))).filter((event) => event.type === 'identity.PasswordRehashed.v1');
    expect(await h.send({ type: 'Login', email: 'older@example.com', password: 'wrong password here' })).toMatchObject({ ok: false });
    expect(await rehashes()).toHaveLength(0);
    expect(await h.send({ type: 'Login', email: 'older@example.com', password: 'correct horse battery staple' })).toMatchObject({ ok: true });
    const [rehashed] = await rehashes();
    expect((rehashed.data as { passwordHash: string }).passwordHash).toMatch(/^\$argon2id\$v=19\$m=1024,/);
    expect(await h.send({ type: 'Login', email: 'older@example.com', password: 'correct horse battery staple' })).toMatchObject({ ok: true });
    expect(await rehashes()).toHaveLength(1);
  });

  it('hashes no new password for a login refused (its TOTP code, a retried failure): the extra hash told a right password by its time', async () => {
    h = await startIdentityHarness({ env: { IDENTITY_ARGON2_MEMORY_KIB: '2048' } });
    const password = 'correct horse battery staple';
    const user = await h.send<{ id: string }>({ type: 'RegisterUser', email: 'mfa@example.com', password });
    if (!user.ok) throw new Error('registration failed');
    const started = await h.send<{ secret: string }>({ type: 'StartTotpEnrolment', userId: user.value.id });
    if (!started.ok) throw new Error('enrolment failed');
    expect(await h.send({ type: 'ConfirmTotpEnrolment', userId: user.value.id, code: totpCodeAt(started.value.secret, h.clock.nowMs()) })).toMatchObject({ ok: true });
    await h.close();
    h = await startIdentityHarness({ dataDir: h.dataDir, clock: h.clock });
    h.clock.advance(30_000); // the confirming code's step is used up
    argon2Calls.hashes = 0;
    for (const totp of [undefined, '000000']) {
      expect(await h.send({ type: 'Login', email: 'mfa@example.com', password, ...(totp === undefined ? {} : { totp }) })).toMatchObject({ error: { code: 'invalid_credentials' } });
    }
    expect(await h.send({ type: 'Login', email: 'mfa@example.com', password: 'wrong password here' }, 'failed-once')).toMatchObject({ error: { code: 'invalid_credentials' } });
    const code = totpCodeAt(started.value.secret, h.clock.nowMs());
    // A retry of a failed attempt is answered as it was, uncounted: a hash for the right factors would be a free guess.
    expect(await h.send({ type: 'Login', email: 'mfa@example.com', password, totp: code }, 'failed-once')).toMatchObject({ error: { code: 'invalid_credentials' } });
    expect(argon2Calls.hashes).toBe(0);
    expect(await h.send({ type: 'Login', email: 'mfa@example.com', password, totp: code })).toMatchObject({ ok: true });
    expect(argon2Calls.hashes).toBe(1);
    expect((await h.store.readStream(userStreamId(user.value.id))).filter((event) => event.type === 'identity.PasswordRehashed.v1')).toHaveLength(1);
  });

  it('checks no password for a retried failed attempt, which is answered uncounted: a wrong decomposed one took two hashes, the right one one', async () => {
    h = await startIdentityHarness();
    const password = 'Crème brûlée à Noël';
    const user = await h.send<{ id: string }>({ type: 'RegisterUser', email: 'accent@example.com', password });
    if (!user.ok) throw new Error('registration failed');
    expect(await h.send({ type: 'Login', email: 'accent@example.com', password: 'wrong password here' }, 'failed-once')).toMatchObject({ error: { code: 'invalid_credentials' } });
    for (const guess of [password, 'Crème brûlée à Paris']) {
      argon2Calls.verifies = 0;
      const reply = await h.send({ type: 'Login', email: 'accent@example.com', password: guess.normalize('NFD') }, 'failed-once');
      expect(reply).toMatchObject({ error: { code: 'invalid_credentials' } });
      expect(argon2Calls.verifies).toBe(0);
      expect(await h.send({ type: 'VerifyStepUp', userId: user.value.id, password: 'wrong password here' }, 'step-up-failed')).toMatchObject({ error: { code: 'step_up_required' } });
      argon2Calls.verifies = 0;
      expect(await h.send({ type: 'VerifyStepUp', userId: user.value.id, password: guess.normalize('NFD') }, 'step-up-failed')).toMatchObject({ error: { code: 'step_up_required' } });
      expect(argon2Calls.verifies).toBe(0);
    }
    expect(await h.send({ type: 'Login', email: 'accent@example.com', password: password.normalize('NFD') })).toMatchObject({ ok: true });
  });

  it('does not count a login refused for load as a failed one', async () => {
    h = await startIdentityHarness({ env: { IDENTITY_HASHES_IN_FLIGHT_MAX: '1', IDENTITY_HASHES_QUEUED_MAX: '0', IDENTITY_LOCKOUT_FAILURES: '2' } });
    expect(await h.send({ type: 'RegisterUser', email: 'busy@example.com', password: 'correct horse battery staple' })).toMatchObject({ ok: true });
    holdArgon2();
    const blocker = holdOneTurn();
    await waitFor('one hash running', () => argon2Calls.running === 1);
    for (let i = 0; i < 3; i++) {
      expect(await h.send({ type: 'Login', email: 'busy@example.com', password: 'wrong password here' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    }
    argon2Calls.release();
    expect(await blocker).toMatchObject({ ok: true });
    expect(await h.send({ type: 'Login', email: 'busy@example.com', password: 'correct horse battery staple' })).toMatchObject({ ok: true });
  });

  it('makes the decoy hash of unknown emails again after a turn was refused for it', async () => {
    h = await startIdentityHarness({ env: { IDENTITY_HASHES_IN_FLIGHT_MAX: '1', IDENTITY_HASHES_QUEUED_MAX: '0' } });
    holdArgon2();
    const blocker = holdOneTurn();
    await waitFor('one hash running', () => argon2Calls.running === 1);
    expect(await h.send({ type: 'Login', email: 'nobody@example.com', password: 'any password at all' })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    argon2Calls.release();
    expect(await blocker).toMatchObject({ ok: true });
    expect(await h.send({ type: 'Login', email: 'nobody@example.com', password: 'any password at all' })).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
  });
});
