// Access tokens: compact JWS (RFC 7515/7519) signed with Ed25519 (`alg: EdDSA`, RFC 8037), so the
// gateway verifies them locally with the JWKS from `GetPublicKeys` (jose's `jwtVerify` accepts
// them; a test checks that). Signed with node:crypto rather than jose: jose 6 is ES-module only
// and this repo's Jest does not transform it, and a JWS is a few lines.
import { createPublicKey, sign, verify, type JsonWebKey } from 'node:crypto';
import { domainError, type AccessClaims, type DomainError, type PublicKeys, type Result, type Role } from '@ledger/contracts';
import type { IdentityKeys } from './identity-keys';

export const ACCESS_TOKEN_ALGORITHM = 'EdDSA';
/** Longest token `verifyAccessToken` looks at. */
export const ACCESS_TOKEN_LENGTH_MAX = 4_096;

export interface AccessTokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

/** Every claim of an access token. */
export interface AccessTokenClaims extends AccessClaims {
  readonly iss: string;
  readonly aud: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

export class AccessTokenSigner {
  constructor(
    private readonly keys: Pick<IdentityKeys, 'signingKey' | 'publicKey' | 'keyId'> & Partial<Pick<IdentityKeys, 'previousKeys'>>,
    private readonly settings: AccessTokenSettings,
  ) {}

  get ttlSeconds(): number {
    return this.settings.ttlSeconds;
  }

  sign(subject: { userId: string; roles: readonly Role[]; sessionId: string }, nowMs: number, tokenId: string): string {
    const iat = Math.floor(nowMs / 1000);
    const claims: AccessTokenClaims = {
      iss: this.settings.issuer,
      aud: this.settings.audience,
      sub: subject.userId,
      sid: subject.sessionId,
      roles: [...subject.roles],
      iat,
      exp: iat + this.settings.ttlSeconds,
      jti: tokenId,
    };
    const header = { alg: ACCESS_TOKEN_ALGORITHM, typ: 'JWT', kid: this.keys.keyId };
    const signingInput = `${base64urlJson(header)}.${base64urlJson(claims)}`;
    const signature = sign(null, Buffer.from(signingInput), this.keys.signingKey);
    return `${signingInput}.${signature.toString('base64url')}`;
  }

  /** The JWKS: the signing key's public half first, then the retired keys still verifying. */
  publicKeys(): PublicKeys {
    const published = [{ publicKey: this.keys.publicKey, keyId: this.keys.keyId }, ...(this.keys.previousKeys ?? [])];
    return {
      keys: published.map(({ publicKey, keyId }) => {
        const jwk = publicKey.export({ format: 'jwk' });
        return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: keyId, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' };
      }),
      issuer: this.settings.issuer,
      audience: this.settings.audience,
    };
  }
}

/**
 * What the gateway does with a bearer token, for this service's tests and tools: checks the
 * signature against the JWKS, `iss`, `aud` and `exp`. `unauthenticated` for anything wrong,
 * `token_expired` for a good token past its time.
 */
export function verifyAccessToken(token: string, publicKeys: PublicKeys, nowMs: number): Result<AccessTokenClaims, DomainError> {
  const invalid = { ok: false as const, error: domainError('unauthenticated', 'the access token is not valid') };
  if (typeof token !== 'string' || token.length > ACCESS_TOKEN_LENGTH_MAX) return invalid;
  const parts = token.split('.');
  if (parts.length !== 3) return invalid;
  const header = parseJson(parts[0]);
  const claims = parseJson(parts[1]);
  if (header === undefined || claims === undefined || header.alg !== ACCESS_TOKEN_ALGORITHM) return invalid;
  const jwk = publicKeys.keys.find((key) => key.kid === header.kid);
  if (jwk === undefined) return invalid;
  let valid = false;
  try {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    valid = verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'));
  } catch {
    return invalid;
  }
  if (!valid || claims.iss !== publicKeys.issuer || claims.aud !== publicKeys.audience) return invalid;
  if (typeof claims.sub !== 'string' || typeof claims.sid !== 'string' || !Array.isArray(claims.roles)) return invalid;
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number' || typeof claims.jti !== 'string') return invalid;
  if (Math.floor(nowMs / 1000) >= claims.exp) return { ok: false, error: domainError('token_expired', 'the access token has expired') };
  return { ok: true, value: claims as unknown as AccessTokenClaims };
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function parseJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
