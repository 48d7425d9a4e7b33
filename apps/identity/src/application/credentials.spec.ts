import { randomBytes } from 'node:crypto';
import * as argon2 from 'argon2';
import { waitFor } from '@ledger/contracts/testing';
import { HashingBusyError, HashingTurns, mintRefreshToken, parseRefreshToken, PasswordHasher, REFRESH_TOKEN_LENGTH, SecretBox, tokenHash } from './credentials';
import { base32Decode, base32Encode, TotpCodes, totpCodeAt } from './totp-codes';

const USER = '0190a0a0-0000-7000-8000-000000000001';
const SESSION = '0190a0a0-0000-7000-8000-0000000000ff';
const T0_MS = Date.UTC(2026, 0, 1);

describe('refresh tokens', () => {
  it('point to their user and session, and carry 32 random bytes', () => {
    const token = mintRefreshToken(USER, SESSION);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(token).toHaveLength(REFRESH_TOKEN_LENGTH);
    expect(parseRefreshToken(token)).toEqual({ userId: USER, sessionId: SESSION });
    expect(mintRefreshToken(USER, SESSION)).not.toBe(token);
  });

  it('are stored as SHA-256 hex only', () => {
    const token = mintRefreshToken(USER, SESSION);
    expect(tokenHash(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenHash(token)).not.toContain(token);
  });

  it.each([undefined, 42, '', 'abc', 'x'.repeat(REFRESH_TOKEN_LENGTH + 1), `${mintRefreshToken(USER, SESSION).slice(1)}=`, `${mintRefreshToken(USER, SESSION).slice(1)}.`])('refuses %j', (token) => {
    expect(parseRefreshToken(token)).toBeUndefined();
  });
});

describe('TOTP codes', () => {
  const codes = new TotpCodes('Ledger', 1);
  const secret = codes.newSecret();
  const codeAt = (ms: number) => totpCodeAt(secret, ms);

  it('match a time step within one step of drift, and say which', () => {
    const step = Math.floor(T0_MS / 30_000);
    expect(codes.check(secret, codeAt(T0_MS), T0_MS)).toEqual({ provided: true, timeStep: step });
    expect(codes.check(secret, codeAt(T0_MS - 30_000), T0_MS)).toEqual({ provided: true, timeStep: step - 1 });
    expect(codes.check(secret, codeAt(T0_MS + 30_000), T0_MS)).toEqual({ provided: true, timeStep: step + 1 });
    expect(codes.check(secret, codeAt(T0_MS - 90_000), T0_MS)).toEqual({ provided: true, timeStep: null });
  });

  it('tell a missing code from a malformed one', () => {
    expect(codes.check(secret, undefined, T0_MS)).toEqual({ provided: false });
    expect(codes.check(secret, '12345', T0_MS)).toEqual({ provided: true, timeStep: null });
    expect(codes.check(secret, 'abcdef', T0_MS)).toEqual({ provided: true, timeStep: null });
  });

  it('use 160-bit base32 secrets', () => {
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(base32Decode(secret)).toHaveLength(20);
  });

  it('agree with RFC 6238 (appendix B, SHA-1, T = 59 s: 94287082, 6 digits: 287082)', () => {
    const rfcSecret = base32Encode(Buffer.from('12345678901234567890'));
    expect(totpCodeAt(rfcSecret, 59_000)).toBe('287082');
    expect(totpCodeAt(rfcSecret, 1_111_111_109_000)).toBe('081804');
  });

  it('give an otpauth URL for authenticator apps', () => {
    expect(codes.otpauthUrl(secret, 'alice@example.com')).toBe(`otpauth://totp/Ledger:alice%40example.com?secret=${secret}&issuer=Ledger`);
  });
});

describe('sealed TOTP secrets', () => {
  const box = new SecretBox(randomBytes(32), 'key-1');

  it('open for the same user only, and never show the secret', () => {
    const sealed = box.seal('JBSWY3DPEHPK3PXPJBSWY3DP', USER);
    expect(sealed).not.toContain('JBSWY3DP');
    expect(sealed.startsWith('v1.key-1.')).toBe(true);
    expect(box.open(sealed, USER)).toBe('JBSWY3DPEHPK3PXPJBSWY3DP');
    expect(() => box.open(sealed, SESSION)).toThrow();
    expect(box.seal('JBSWY3DPEHPK3PXPJBSWY3DP', USER)).not.toBe(sealed); // a fresh IV each time
  });

  it('refuse a damaged value or another key', () => {
    const sealed = box.seal('secret', USER);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => box.open(parts.join('.'), USER)).toThrow();
    expect(() => new SecretBox(randomBytes(32), 'key-2').open(sealed, USER)).toThrow(/key-1/);
  });
});

describe('password hashes', () => {
  const hasher = new PasswordHasher({ memoryKib: 1024, iterations: 1, parallelism: 1 }, { inFlightMax: 2, queuedMax: 8 });

  it('are argon2id with the configured cost, and verify', async () => {
    const hash = await hasher.hash('correct horse battery');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,p=1,t=1\$/);
    expect(await hasher.verify(hash, 'correct horse battery')).toBe(true);
    expect(await hasher.verify(hash, 'Correct horse battery')).toBe(false);
    expect(await hasher.verify('not a hash', 'x')).toBe(false);
    expect(await hasher.verifyDecoy('anything')).toBe(false);
  });

  // One password typed on two keyboards: macOS sends 'é' decomposed (NFD), most others composed (NFC).
  it('verify a password in another Unicode normalization form than it was registered in', async () => {
    const composed = 'Crème brûlée à Noël'.normalize('NFC');
    const decomposed = composed.normalize('NFD');
    expect(decomposed).not.toBe(composed);
    expect(await hasher.verify(await hasher.hash(composed), decomposed)).toBe(true);
    expect(await hasher.verify(await hasher.hash(decomposed), composed)).toBe(true);
    expect(await hasher.verify(await hasher.hash(composed), 'Creme brulee a Noel')).toBe(false);
    // A hash made before passwords were normalized holds the decomposed bytes as typed.
    const before = await argon2.hash(decomposed, { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 });
    expect(await hasher.verify(before, decomposed)).toBe(true);
  });
});

describe('hashing turns', () => {
  function deferred(): { promise: Promise<void>; resolve: () => void } {
    let resolve!: () => void;
    return { promise: new Promise<void>((done) => (resolve = done)), resolve };
  }

  it('run inFlightMax jobs at once, queue queuedMax in order, refuse the rest at once, and pass turns on', async () => {
    const turns = new HashingTurns({ inFlightMax: 2, queuedMax: 2 });
    const gates = Array.from({ length: 5 }, deferred);
    const started: number[] = [];
    const jobs = gates.map((gate, i) =>
      turns.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await expect(jobs[4]).rejects.toBeInstanceOf(HashingBusyError);
    expect(started).toEqual([0, 1]);
    gates[1].resolve();
    expect(await jobs[1]).toBe(1);
    await waitFor('the first waiter to get the turn', () => started.length === 3);
    expect(started).toEqual([0, 1, 2]);
    gates[0].resolve();
    gates[2].resolve();
    gates[3].resolve();
    expect(await Promise.all(jobs.slice(0, 4))).toEqual([0, 1, 2, 3]);
    expect(started).toEqual([0, 1, 2, 3]);
    // Every turn came back: two run at once again.
    const again = [deferred(), deferred()];
    const running = again.map((gate) => turns.run(() => gate.promise));
    const third = turns.run(async () => 'third');
    again.forEach((gate) => gate.resolve());
    await Promise.all(running);
    expect(await third).toBe('third');
  });

  it('let a costlier job take several turns (at most all), and keep later jobs behind a waiting one', async () => {
    const turns = new HashingTurns({ inFlightMax: 3, queuedMax: 2 });
    const [light, heavy, after] = [deferred(), deferred(), deferred()];
    const started: string[] = [];
    const job = (name: string, gate: { promise: Promise<void> }) => async () => {
      started.push(name);
      await gate.promise;
    };
    const first = turns.run(job('light', light));
    const second = turns.run(job('heavy', heavy), 2.5); // rounds up to 3: waits for the light one
    const third = turns.run(job('after', after));
    await expect(turns.run(job('refused', deferred()))).rejects.toBeInstanceOf(HashingBusyError);
    expect(started).toEqual(['light']); // 'after' does not pass the waiting heavy job
    light.resolve();
    await first;
    await waitFor('the heavy job to start', () => started.length === 2);
    expect(started).toEqual(['light', 'heavy']);
    heavy.resolve();
    await second;
    await waitFor('the next job to start', () => started.length === 3);
    const all = turns.run(async () => 'alone', 99); // 99 turns: all three, never more
    after.resolve();
    await third;
    expect(await all).toBe('alone');
  });

  it('give the turn back when a job throws', async () => {
    const turns = new HashingTurns({ inFlightMax: 1, queuedMax: 0 });
    await expect(turns.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await turns.run(async () => 'next')).toBe('next');
  });
});
