// The gateway will verify access tokens with jose: check, in a real Node process (jose is
// ES-module only), that jose accepts what AccessTokenSigner signs and refuses what it must.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { spawnTs } from '@ledger/contracts/testing';
import { AccessTokenSigner } from './access-tokens';
import { jwkThumbprint } from './identity-keys';

const CHILD = join(__dirname, '..', 'testing', 'jose-verify.child.ts');
const NOW_MS = Date.UTC(2026, 0, 1);

async function joseVerify(token: string, publicKeys: unknown, nowMs: number): Promise<Record<string, unknown>> {
  const child = spawnTs(CHILD, [token, JSON.stringify(publicKeys), String(nowMs)]);
  const exit = await child.exited;
  if (exit.code !== 0) throw new Error(`jose child failed: ${child.stderr()}`);
  return JSON.parse(child.stdout()) as Record<string, unknown>;
}

describe('access tokens and jose', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);
  const signer = new AccessTokenSigner({ signingKey: privateKey, publicKey, keyId: jwkThumbprint(publicKey) }, { issuer: 'ledger-identity', audience: 'ledger-gateway', ttlSeconds: 900 });

  it('jose verifies our tokens with the published JWKS, and refuses expired ones', async () => {
    const token = signer.sign({ userId: 'user-1', roles: ['user'], sessionId: 'session-1' }, NOW_MS, 'jti-1');
    expect(await joseVerify(token, signer.publicKeys(), NOW_MS + 1_000)).toMatchObject({
      ok: true,
      payload: { sub: 'user-1', sid: 'session-1', roles: ['user'], iss: 'ledger-identity', aud: 'ledger-gateway', jti: 'jti-1' },
      protectedHeader: { alg: 'EdDSA', kid: signer.publicKeys().keys[0].kid },
    });
    expect(await joseVerify(token, signer.publicKeys(), NOW_MS + 901_000)).toEqual({ ok: false, code: 'ERR_JWT_EXPIRED' });
    expect(await joseVerify(token, { ...signer.publicKeys(), audience: 'other' }, NOW_MS)).toEqual({ ok: false, code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  }, 30_000);
});
