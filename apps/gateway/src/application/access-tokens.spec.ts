import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { ManualClock, type PublicKeys } from '@ledger/contracts';
import { AccessTokenVerifier } from './access-tokens';

const ISSUER = 'ledger-identity';
const AUDIENCE = 'ledger-gateway';

function keyPair(kid: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' } };
}

function jwt(claims: Record<string, unknown>, key: KeyObject, header: Record<string, unknown>): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

describe('access token verification', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const nowS = () => Math.floor(clock.nowMs() / 1000);
  let current = keyPair('k1');
  let fetches = 0;
  /** Logins identity revoked, and how often it was asked. */
  let revoked = new Set<string>();
  let sessionChecks = 0;
  const sessionAlive = async (_userId: string, sessionId: string) => {
    sessionChecks++;
    return !revoked.has(sessionId);
  };
  const verifier = (options: { verifiedTokensMax?: number } = {}) =>
    new AccessTokenVerifier({
      ...options,
      fetchKeys: async (): Promise<PublicKeys> => {
        fetches++;
        return { keys: [current.jwk], issuer: ISSUER, audience: AUDIENCE };
      },
      clock,
      cacheMs: 600_000,
      staleMaxMs: 0,
      refetchMinIntervalMs: 10_000,
      clockSkewMs: 5_000,
      sessionAlive,
      sessionCheckMs: 5_000,
    });
  const token = (claims: Record<string, unknown> = {}, pair = current, header: Record<string, unknown> = {}) =>
    jwt({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', roles: ['user'], sid: 's1', iat: nowS(), exp: nowS() + 900, ...claims }, pair.privateKey, {
      alg: 'EdDSA',
      kid: pair.kid,
      ...header,
    });

  beforeEach(() => {
    current = keyPair('k1');
    fetches = 0;
    revoked = new Set();
    sessionChecks = 0;
  });

  it("refuses a token of a revoked login: identity is asked at most once per sessionCheckMs while alive, never again once revoked", async () => {
    const v = verifier();
    const first = token();
    await Promise.all([v.verify(first), v.verify(first), v.verify(token({ iat: nowS() - 1 }))]);
    expect(sessionChecks).toBe(1); // concurrent requests of one login share one question
    revoked.add('s1'); // logout or refresh-token reuse
    await expect(v.verify(first)).resolves.toMatchObject({ ok: true }); // believed for sessionCheckMs
    clock.advance(5_000);
    await expect(v.verify(first)).resolves.toEqual({ ok: false, code: 'unauthenticated', reason: 'the login was revoked' });
    await expect(v.verify(token({ sid: 's2' }))).resolves.toMatchObject({ ok: true }); // another login of the user
    clock.advance(60_000);
    const checks = sessionChecks;
    await expect(v.verify(token())).resolves.toMatchObject({ ok: false, reason: 'the login was revoked' });
    expect(sessionChecks).toBe(checks); // a revoked login is not asked about again
    await expect(v.verify(token({ sid: undefined }))).resolves.toMatchObject({ ok: false }); // no login named
  });

  it('accepts a valid token and returns its claims', async () => {
    await expect(verifier().verify(token({ roles: ['user', 'admin', 'root'] }))).resolves.toEqual({
      ok: true,
      claims: { sub: 'user-1', roles: ['user', 'admin'], sid: 's1' },
    });
  });

  it.each([
    ['a wrong issuer', { iss: 'someone-else' }],
    ['a wrong audience', { aud: 'another-api' }],
    ['no expiry', { exp: undefined }],
    ['no subject', { sub: undefined }],
    ['a future nbf', { nbf: Math.floor(Date.UTC(2026, 0, 2) / 1000) }],
  ])('refuses %s as unauthenticated', async (_label, claims) => {
    await expect(verifier().verify(token(claims))).resolves.toMatchObject({ ok: false, code: 'unauthenticated' });
  });

  it('answers token_expired after exp plus the allowed skew', async () => {
    const v = verifier();
    const expiring = token({ exp: nowS() + 60 });
    clock.advance(64_000);
    await expect(v.verify(expiring)).resolves.toMatchObject({ ok: true });
    clock.advance(2_000);
    await expect(v.verify(expiring)).resolves.toMatchObject({ ok: false, code: 'token_expired' });
  });

  it('remembers a verified token only until its expiry, at most verifiedTokensMax of them', async () => {
    const v = verifier({ verifiedTokensMax: 2 });
    const first = token({ exp: nowS() + 60 });
    await expect(v.verify(first)).resolves.toMatchObject({ ok: true });
    expect(v.rememberedTokens).toBe(1);
    clock.advance(66_000);
    await expect(v.verify(first)).resolves.toMatchObject({ ok: false, code: 'token_expired' });
    expect(v.rememberedTokens).toBe(0);
    for (const sid of ['a', 'b', 'c']) await expect(v.verify(token({ sid }))).resolves.toMatchObject({ ok: true });
    expect(v.rememberedTokens).toBe(2);
  });

  it('checks a remembered token again once the keys are fetched anew (a key replaced under the same kid)', async () => {
    const v = verifier();
    const signedByOld = token();
    await expect(v.verify(signedByOld)).resolves.toMatchObject({ ok: true });
    current = keyPair('k1');
    clock.advance(600_000);
    await expect(v.verify(signedByOld)).resolves.toMatchObject({ ok: false, code: 'unauthenticated' });
    expect(fetches).toBe(2);
  });

  it('refuses a token signed by another key, a tampered payload, alg none and garbage', async () => {
    const v = verifier();
    await expect(v.verify(token({}, keyPair('k1')))).resolves.toMatchObject({ ok: false, code: 'unauthenticated' });
    const [header, , signature] = token().split('.');
    const forged = Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', roles: ['admin'], exp: nowS() + 900 })).toString('base64url');
    await expect(v.verify(`${header}.${forged}.${signature}`)).resolves.toMatchObject({ ok: false });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${forged}.`;
    await expect(v.verify(none)).resolves.toMatchObject({ ok: false, code: 'unauthenticated' });
    for (const garbage of ['', 'a.b', 'a.b.c', '....', 'x'.repeat(10_000)]) {
      await expect(v.verify(garbage)).resolves.toMatchObject({ ok: false, code: 'unauthenticated' });
    }
  });

  it('caches the keys, and asks again at once for a key id it does not know: one fetch shared by all waiting, a flood of made-up ids at most every refetchMinIntervalMs', async () => {
    const v = verifier();
    await v.verify(token());
    await v.verify(token());
    expect(fetches).toBe(1);
    clock.advance(1_000);
    current = keyPair('k2'); // identity rotated its key a second after the gateway fetched the keys
    const rotated = token();
    const checks = await Promise.all([v.verify(rotated), v.verify(token({ sid: 's2' })), v.verify(token({ sid: 's3' }))]);
    for (const check of checks) expect(check).toMatchObject({ ok: true }); // not refused until the throttle lets a fetch through
    expect(fetches).toBe(2); // one fetch for all three
    for (let i = 0; i < 20; i++) await expect(v.verify(token({}, keyPair(`made-up-${i}`)))).resolves.toMatchObject({ ok: false, code: 'unauthenticated' });
    expect(fetches).toBe(2); // the rotation's fetch was the one of this interval: the flood waits for the next
    clock.advance(10_000);
    await expect(v.verify(token({}, keyPair('made-up-again')))).resolves.toMatchObject({ ok: false });
    expect(fetches).toBe(3);
    await expect(v.verify(rotated)).resolves.toMatchObject({ ok: true });
  });

  /** A verifier whose session checks fail while `identity.reachable` is false; `identity.asked` counts them. */
  function withFlakyIdentity() {
    const identity = { reachable: true, asked: 0 };
    const v = new AccessTokenVerifier({
      fetchKeys: async () => ({ keys: [current.jwk], issuer: ISSUER, audience: AUDIENCE }),
      clock,
      cacheMs: 600_000,
      staleMaxMs: 0,
      refetchMinIntervalMs: 0,
      clockSkewMs: 0,
      sessionAlive: async (userId, sessionId) => {
        identity.asked++;
        if (!identity.reachable) throw new Error('identity unreachable');
        return sessionAlive(userId, sessionId);
      },
      sessionCheckMs: 1_000,
    });
    return { v, identity };
  }

  it("keeps a login identity said was alive while identity cannot be reached, and rejects (503) one it never answered for", async () => {
    const { v, identity } = withFlakyIdentity();
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    identity.reachable = false;
    clock.advance(2_000);
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    await expect(v.verify(token({ sid: 's-new' }))).rejects.toThrow('identity unreachable');
    identity.reachable = true;
    revoked.add('s1');
    clock.advance(1_000); // no check is sent for sessionCheckMs after one failed
    await expect(v.verify(token())).resolves.toMatchObject({ ok: false, reason: 'the login was revoked' }); // asked again once reachable
  });

  it('asks identity about no login known alive for sessionCheckMs after a check failed: each request waited for the bus timeout meanwhile', async () => {
    const { v, identity } = withFlakyIdentity();
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    await expect(v.verify(token({ sid: 's2' }))).resolves.toMatchObject({ ok: true });
    identity.reachable = false;
    clock.advance(2_000);
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    expect(identity.asked).toBe(3);
    // Identity just failed: the other login and this one again are known alive, and answered so at once.
    await expect(v.verify(token({ sid: 's2' }))).resolves.toMatchObject({ ok: true });
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    expect(identity.asked).toBe(3);
    // A login never answered for is asked about (identity may be back): 503 while it is not.
    await expect(v.verify(token({ sid: 's-new' }))).rejects.toThrow('identity unreachable');
    expect(identity.asked).toBe(4);
    clock.advance(1_000);
    identity.reachable = true;
    revoked.add('s1');
    await expect(v.verify(token())).resolves.toMatchObject({ ok: false, reason: 'the login was revoked' });
    expect(identity.asked).toBe(5);
  });

  it('keeps the last keys while identity cannot be reached, at most staleMaxMs past their cache time, asking again at most every refetchMinIntervalMs', async () => {
    let reachable = true;
    let asked = 0;
    const v = new AccessTokenVerifier({
      fetchKeys: async () => {
        asked++;
        if (!reachable) throw new Error('identity unreachable');
        return { keys: [current.jwk], issuer: ISSUER, audience: AUDIENCE };
      },
      clock,
      cacheMs: 600_000,
      staleMaxMs: 3_600_000,
      refetchMinIntervalMs: 10_000,
      clockSkewMs: 0,
      sessionAlive: async () => true,
      sessionCheckMs: 3_600_000,
    });
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    reachable = false;
    clock.advance(600_000); // the keys are due for a refetch, and identity is down
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    await expect(v.verify(token({ iat: nowS() - 1 }))).resolves.toMatchObject({ ok: true });
    expect(asked).toBe(2); // one failed refetch, then not again before refetchMinIntervalMs
    clock.advance(10_000);
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    expect(asked).toBe(3);
    await expect(v.verify(token({}, keyPair('k1')))).resolves.toMatchObject({ ok: false, code: 'unauthenticated' }); // stale keys still check signatures
    await expect(v.verify(token({}, keyPair('k2')))).rejects.toThrow('identity unreachable'); // a key it cannot ask about: 503, not 401
    expect(asked).toBe(3); // answered with the last failure until refetchMinIntervalMs
    reachable = true;
    clock.advance(10_000);
    await expect(v.verify(token())).resolves.toMatchObject({ ok: true });
    expect(asked).toBe(4); // fetched anew once reachable
    reachable = false;
    clock.advance(600_000 + 3_600_000); // down past the bound: stale keys are no longer trusted
    await expect(v.verify(token())).rejects.toThrow('identity unreachable');
  });

  it('rejects (so the caller answers 503) when the keys cannot be had', async () => {
    const v = new AccessTokenVerifier({
      fetchKeys: () => Promise.reject(new Error('identity unreachable')),
      clock,
      cacheMs: 1_000,
      staleMaxMs: 0,
      refetchMinIntervalMs: 0,
      clockSkewMs: 0,
      sessionAlive,
      sessionCheckMs: 0,
    });
    await expect(v.verify(token())).rejects.toThrow('identity unreachable');
  });
});
