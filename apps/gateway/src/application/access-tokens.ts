// Verifies access tokens locally: a JWT signed by identity (EdDSA, ES256 or RS256), checked
// against identity's public keys (a JWKS asked for on `identity.commands` and cached), with
// iss, aud, exp and nbf checked against the one clock.
//
// A verified token is remembered (by its SHA-256, at most VERIFIED_TOKENS_MAX, least recently
// used first out) with the key set that verified it, so a repeat skips the signature check; its
// claims (expiry, nbf, issuer, audience) are checked again on every use, and new keys forget it.
//
// API.md: reusing a refresh token revokes every token of that login, and logout ends it. A token's
// login (its `sid`) is asked of identity (CheckSession) at most once per SESSION_CHECK_CACHE_MS
// while alive; once revoked it stays refused (at most SESSION_CHECKS_MAX logins remembered). After a
// check that could not reach identity, no login known alive is asked about for SESSION_CHECK_CACHE_MS.
//
// Plain node:crypto rather than jose: jose 6 is ES modules only, and Jest on Node 20 cannot
// load it while jest.config.js transforms only @nestjs (see the gateway's notes in the report).
import { createHash, createPublicKey, verify as verifySignature, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { AccessClaims, Clock, PublicKeys, Role } from '@ledger/contracts';
import { RecentlyUsed } from './recently-used';

export type TokenCheck =
  | { readonly ok: true; readonly claims: AccessClaims }
  | { readonly ok: false; readonly code: 'unauthenticated' | 'token_expired'; readonly reason: string };

export interface AccessTokenVerifierOptions {
  /** Asks identity for its keys (GetPublicKeys); a rejection means identity cannot be reached. */
  readonly fetchKeys: () => Promise<PublicKeys>;
  readonly clock: Clock;
  readonly cacheMs: number;
  /** How long past cacheMs the last keys are still used while identity cannot be reached (keys rarely change). */
  readonly staleMaxMs: number;
  /** Least time between two fetches for unknown key ids (the first after a scheduled one goes at once), or after one that failed. */
  readonly refetchMinIntervalMs: number;
  readonly clockSkewMs: number;
  /** Most verified tokens remembered; default VERIFIED_TOKENS_MAX. */
  readonly verifiedTokensMax?: number;
  /** Asks identity whether a login is alive (CheckSession); a rejection means identity cannot be reached. */
  readonly sessionAlive: (userId: string, sessionId: string) => Promise<boolean>;
  /** How long an alive answer is believed before identity is asked again. */
  readonly sessionCheckMs: number;
}


/** Verified tokens remembered by default: a few per active session. */
export const VERIFIED_TOKENS_MAX = 10_000;

/** Logins whose liveness is remembered (least recently used first out). */
export const SESSION_CHECKS_MAX = 10_000;

/** Longest token looked at; real ones are well under 1 KiB. */
export const ACCESS_TOKEN_LENGTH_MAX = 8_192;
const ROLES: readonly Role[] = ['user', 'admin'];
const SUBJECT_LENGTH_MAX = 128;
const RSA_MODULUS_BITS_MIN = 2048;

type Algorithm = 'EdDSA' | 'Ed25519' | 'ES256' | 'RS256';

const ALGORITHMS: Record<Algorithm, { keyType: string; digest: string | null; curve?: string; dsaEncoding?: 'ieee-p1363' }> = {
  EdDSA: { keyType: 'ed25519', digest: null },
  Ed25519: { keyType: 'ed25519', digest: null },
  ES256: { keyType: 'ec', digest: 'sha256', curve: 'prime256v1', dsaEncoding: 'ieee-p1363' },
  RS256: { keyType: 'rsa', digest: 'sha256' },
};

interface KeySet {
  readonly keys: readonly { kid: string | undefined; alg: string | undefined; key: KeyObject }[];
  readonly issuer: string;
  readonly audience: string;
  readonly fetchedAtMs: number;
}

export class AccessTokenVerifier {
  private keySet: KeySet | undefined;
  private fetching: Promise<KeySet> | undefined;
  /** The last fetch's failure: none is tried again before refetchMinIntervalMs (its error is answered meanwhile). */
  private fetchFailure: { readonly atMs: number; readonly error: unknown } | undefined;
  /** When a token's unknown key id last caused a fetch: a flood of made-up ids asks identity at most every refetchMinIntervalMs. */
  private unknownKeyFetchAtMs: number | undefined;
  /** Token digest -> its payload and the key set its signature was checked with; Map order is recency. */
  private readonly verified: RecentlyUsed<string, { readonly payload: Record<string, unknown>; readonly keySet: KeySet }>;
  /** `sub \0 sid` -> identity's last answer and when it was had; a revoked login is never asked again. */
  private readonly sessions = new RecentlyUsed<string, { readonly alive: boolean; readonly checkedAtMs: number }>(SESSION_CHECKS_MAX);
  /** Checks in flight, shared by concurrent requests of one login. */
  private readonly checking = new Map<string, Promise<boolean>>();
  /** When a check last could not reach identity: logins known alive are not asked about for sessionCheckMs after (each waited the bus timeout). */
  private sessionCheckFailure: { readonly atMs: number } | undefined;

  constructor(private readonly options: AccessTokenVerifierOptions) {
    this.verified = new RecentlyUsed(options.verifiedTokensMax ?? VERIFIED_TOKENS_MAX);
  }

  /** How many verified tokens are remembered (for tests and metrics). */
  get rememberedTokens(): number {
    return this.verified.size;
  }

  /** Checks a bearer token and that its login is alive. Rejects only when identity cannot be reached. */
  async verify(token: string): Promise<TokenCheck> {
    const check = await this.verifyToken(token);
    if (!check.ok || (await this.sessionAlive(check.claims))) return check;
    return invalid('the login was revoked');
  }

  private async verifyToken(token: string): Promise<TokenCheck> {
    const digest = typeof token === 'string' && token.length <= ACCESS_TOKEN_LENGTH_MAX ? createHash('sha256').update(token).digest('base64') : undefined;
    const known = digest === undefined ? undefined : this.verified.get(digest);
    if (digest !== undefined && known !== undefined) {
      const keySet = await this.currentKeys();
      if (known.keySet === keySet) {
        const check = this.checkClaims(known.payload, keySet);
        if (!check.ok) this.verified.delete(digest);
        return check;
      }
      this.verified.delete(digest);
    }
    const checked = await this.verifySigned(token);
    if (digest !== undefined && checked.check.ok && checked.keySet !== undefined) this.verified.set(digest, { payload: checked.payload, keySet: checked.keySet });
    return checked.check;
  }

  private async sessionAlive(claims: AccessClaims): Promise<boolean> {
    if (claims.sid === '') return false; // identity's tokens always name their login
    const key = `${claims.sub}\u0000${claims.sid}`;
    const known = this.sessions.get(key);
    if (known !== undefined && (!known.alive || this.options.clock.nowMs() - known.checkedAtMs < this.options.sessionCheckMs)) return known.alive;
    // Identity just failed a check: a login it said was alive is not asked about again meanwhile (a new one may still be).
    const failure = this.sessionCheckFailure;
    if (known?.alive === true && failure !== undefined && this.options.clock.nowMs() - failure.atMs < this.options.sessionCheckMs) return true;
    let pending = this.checking.get(key);
    if (pending === undefined) {
      pending = this.options.sessionAlive(claims.sub, claims.sid).then(
        (alive) => {
          this.sessionCheckFailure = undefined;
          this.sessions.set(key, { alive, checkedAtMs: this.options.clock.nowMs() });
          return alive;
        },
        (error: unknown) => {
          this.sessionCheckFailure = { atMs: this.options.clock.nowMs() };
          // Identity unreachable: a login it said was alive stays usable (its tokens still expire), as the cached keys do; else 503.
          if (known?.alive === true) return true;
          throw error;
        },
      );
      const forget = (): void => void this.checking.delete(key);
      pending.then(forget, forget);
      this.checking.set(key, pending);
    }
    return pending;
  }

  private async verifySigned(token: string): Promise<{ check: TokenCheck; payload: Record<string, unknown>; keySet?: KeySet }> {
    const parts = typeof token === 'string' && token.length <= ACCESS_TOKEN_LENGTH_MAX ? token.split('.') : [];
    if (parts.length !== 3) return { check: invalid('not a compact JWT'), payload: {} };
    const header = jsonPart(parts[0]);
    const payload = jsonPart(parts[1]);
    if (header === undefined || payload === undefined) return { check: invalid('undecodable header or payload'), payload: {} };
    const alg = header.alg;
    if (typeof alg !== 'string' || !Object.prototype.hasOwnProperty.call(ALGORITHMS, alg)) return { check: invalid('algorithm not allowed'), payload };
    if (header.crit !== undefined) return { check: invalid('critical header parameters are not supported'), payload };
    const kid = typeof header.kid === 'string' ? header.kid : undefined;

    let keySet = await this.currentKeys();
    let key = pickKey(keySet, kid, alg as Algorithm);
    const fresh = key === undefined ? this.refetchForUnknownKey() : undefined;
    if (fresh !== undefined) {
      keySet = await fresh;
      key = pickKey(keySet, kid, alg as Algorithm);
    }
    if (key === undefined) return { check: invalid('no key for this token'), payload };

    const algorithm = ALGORITHMS[alg as Algorithm];
    const signature = Buffer.from(parts[2], 'base64url');
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
    let valid = false;
    try {
      valid = verifySignature(algorithm.digest, signed, algorithm.dsaEncoding ? { key, dsaEncoding: algorithm.dsaEncoding } : key, signature);
    } catch {
      valid = false;
    }
    if (!valid) return { check: invalid('bad signature'), payload };
    return { check: this.checkClaims(payload, keySet), payload, keySet };
  }

  private checkClaims(payload: Record<string, unknown>, keySet: KeySet): TokenCheck {
    const nowS = this.options.clock.nowMs() / 1000;
    const skewS = this.options.clockSkewMs / 1000;
    if (payload.iss !== keySet.issuer) return invalid('wrong issuer');
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(keySet.audience)) return invalid('wrong audience');
    if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) return invalid('no expiry');
    if (nowS >= payload.exp + skewS) return { ok: false, code: 'token_expired', reason: 'the access token has expired' };
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || nowS + skewS < payload.nbf)) return invalid('not valid yet');
    const { sub, sid } = payload;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > SUBJECT_LENGTH_MAX) return invalid('no subject');
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((role): role is Role => ROLES.includes(role as Role)) : [];
    return { ok: true, claims: { sub, roles, sid: typeof sid === 'string' ? sid : '' } };
  }

  private async currentKeys(): Promise<KeySet> {
    const keySet = this.keySet;
    if (keySet === undefined) return this.refetch();
    const ageMs = this.options.clock.nowMs() - keySet.fetchedAtMs;
    if (ageMs < this.options.cacheMs) return keySet;
    if (ageMs >= this.options.cacheMs + this.options.staleMaxMs) return this.refetch();
    // Due for a refetch: while identity cannot be reached the last keys serve (bounded), as a login last seen alive does.
    return this.refetch().catch(() => keySet);
  }

  /** A fetch for a key id the cached keys lack (identity may have rotated): the one in flight, else a new one unless one was asked for lately. */
  private refetchForUnknownKey(): Promise<KeySet> | undefined {
    if (this.fetching !== undefined) return this.fetching;
    const nowMs = this.options.clock.nowMs();
    if (this.unknownKeyFetchAtMs !== undefined && nowMs - this.unknownKeyFetchAtMs < this.options.refetchMinIntervalMs) return undefined;
    this.unknownKeyFetchAtMs = nowMs;
    return this.refetch();
  }

  private failedLately(): boolean {
    return this.fetchFailure !== undefined && this.options.clock.nowMs() - this.fetchFailure.atMs < this.options.refetchMinIntervalMs;
  }

  /** One fetch at a time; concurrent callers share it. */
  private refetch(): Promise<KeySet> {
    if (this.fetching === undefined && this.failedLately()) return Promise.reject(this.fetchFailure!.error);
    this.fetching ??= this.options
      .fetchKeys()
      .then(
        (keys) => {
          const keySet = toKeySet(keys, this.options.clock.nowMs());
          this.keySet = keySet;
          this.fetchFailure = undefined;
          return keySet;
        },
        (error: unknown) => {
          this.fetchFailure = { atMs: this.options.clock.nowMs(), error };
          throw error;
        },
      )
      .finally(() => {
        this.fetching = undefined;
      });
    return this.fetching;
  }
}

function invalid(reason: string): TokenCheck {
  return { ok: false, code: 'unauthenticated', reason };
}

function jsonPart(part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function toKeySet(publicKeys: PublicKeys, nowMs: number): KeySet {
  if (typeof publicKeys?.issuer !== 'string' || typeof publicKeys.audience !== 'string' || !Array.isArray(publicKeys.keys)) {
    throw new TypeError('identity answered GetPublicKeys without keys, issuer and audience');
  }
  const keys: KeySet['keys'][number][] = [];
  for (const jwk of publicKeys.keys) {
    if (typeof jwk !== 'object' || jwk === null || 'd' in jwk) continue; // never a private key
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    try {
      const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
      keys.push({ kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined, key });
    } catch {
      // A key this runtime cannot read verifies nothing.
    }
  }
  return { keys, issuer: publicKeys.issuer, audience: publicKeys.audience, fetchedAtMs: nowMs };
}

function pickKey(keySet: KeySet, kid: string | undefined, alg: Algorithm): KeyObject | undefined {
  const algorithm = ALGORITHMS[alg];
  const candidates = keySet.keys.filter(
    (entry) =>
      (kid === undefined || entry.kid === kid) &&
      entry.key.asymmetricKeyType === algorithm.keyType &&
      (algorithm.curve === undefined || entry.key.asymmetricKeyDetails?.namedCurve === algorithm.curve) &&
      (algorithm.keyType !== 'rsa' || (entry.key.asymmetricKeyDetails?.modulusLength ?? 0) >= RSA_MODULUS_BITS_MIN) &&
      (entry.alg === undefined || entry.alg === alg || (isEdDsa(entry.alg) && isEdDsa(alg))),
  );
  // Without a kid, only an unambiguous key will do.
  return candidates.length === 1 || (kid !== undefined && candidates.length > 0) ? candidates[0].key : undefined;
}

function isEdDsa(alg: string): boolean {
  return alg === 'EdDSA' || alg === 'Ed25519';
}
