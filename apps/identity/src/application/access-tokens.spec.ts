import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { AccessTokenSigner, verifyAccessToken } from './access-tokens';
import { jwkThumbprint } from './identity-keys';

const NOW_MS = Date.UTC(2026, 0, 1);

function signerWith(settings = { issuer: 'ledger-identity', audience: 'ledger-gateway', ttlSeconds: 900 }) {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);
  return new AccessTokenSigner({ signingKey: privateKey, publicKey, keyId: jwkThumbprint(publicKey) }, settings);
}

describe('access tokens', () => {
  const signer = signerWith();
  const subject = { userId: 'user-1', roles: ['user', 'admin'] as const, sessionId: 'session-1' };

  it('are EdDSA JWTs with sub, roles, sid, iss, aud, iat, exp and jti', () => {
    const token = signer.sign({ ...subject, roles: [...subject.roles] }, NOW_MS, 'jti-1');
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
    expect(header).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: signer.publicKeys().keys[0].kid });
    expect(payload).toEqual({
      iss: 'ledger-identity',
      aud: 'ledger-gateway',
      sub: 'user-1',
      sid: 'session-1',
      roles: ['user', 'admin'],
      iat: NOW_MS / 1000,
      exp: NOW_MS / 1000 + 900,
      jti: 'jti-1',
    });
    expect(verifyAccessToken(token, signer.publicKeys(), NOW_MS)).toMatchObject({ ok: true, value: { sub: 'user-1', sid: 'session-1' } });
  });

  it('expire after ACCESS_TOKEN_TTL_SECONDS (token_expired)', () => {
    const token = signer.sign({ ...subject, roles: ['user'] }, NOW_MS, 'jti-1');
    expect(verifyAccessToken(token, signer.publicKeys(), NOW_MS + 899_999).ok).toBe(true);
    expect(verifyAccessToken(token, signer.publicKeys(), NOW_MS + 900_000)).toMatchObject({ ok: false, error: { code: 'token_expired' } });
  });

  it('are refused when tampered with, signed by another key, or for another audience or issuer', () => {
    const token = signer.sign({ ...subject, roles: ['user'] }, NOW_MS, 'jti-1');
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url');
    const keys = signer.publicKeys();
    for (const bad of [
      `${header}.${forged}.${signature}`,
      `${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`,
      signerWith().sign({ ...subject, roles: ['user'] }, NOW_MS, 'x'),
      'not.a.jwt',
      '',
    ]) {
      expect(verifyAccessToken(bad, keys, NOW_MS)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    }
    expect(verifyAccessToken(token, { ...keys, audience: 'elsewhere' }, NOW_MS)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    expect(verifyAccessToken(token, { ...keys, issuer: 'elsewhere' }, NOW_MS)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  it('publish one Ed25519 JWK with its kid, and the issuer and audience', () => {
    expect(signer.publicKeys()).toEqual({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), kid: expect.any(String), alg: 'EdDSA', use: 'sig' }],
      issuer: 'ledger-identity',
      audience: 'ledger-gateway',
    });
  });
});
