import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ledger/contracts';
import { loadIdentityConfig } from '../identity.config';
import { AccessTokenSigner, verifyAccessToken } from './access-tokens';
import { SecretBox } from './credentials';
import { loadIdentityKeys, PREVIOUS_PUBLIC_KEYS_MAX, SIGNING_KEY_FILE, TOTP_KEY_FILE } from './identity-keys';

describe('identity keys', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'identity-keys-'));
  });

  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('are generated into DATA_DIR on first start (mode 0600) and reused after', () => {
    const first = loadIdentityKeys(loadIdentityConfig({}), dataDir);
    for (const file of [SIGNING_KEY_FILE, TOTP_KEY_FILE]) expect(statSync(join(dataDir, file)).mode & 0o777).toBe(0o600);
    const again = loadIdentityKeys(loadIdentityConfig({}), dataDir);
    expect(again.keyId).toBe(first.keyId);
    expect(again.totpKey.equals(first.totpKey)).toBe(true);
    expect(first.signingKey.asymmetricKeyType).toBe('ed25519');
  });

  it('warn when a key file is readable by others', () => {
    loadIdentityKeys(loadIdentityConfig({}), dataDir);
    chmodSync(join(dataDir, SIGNING_KEY_FILE), 0o644);
    const warnings: string[] = [];
    loadIdentityKeys(loadIdentityConfig({}), dataDir, (message) => warnings.push(message));
    expect(warnings).toEqual([expect.stringContaining('0600')]);
  });

  it('come from the settings with IDENTITY_KEY_SOURCE=config, which refuses to start without them', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const totp = randomBytes(32).toString('base64');
    const keys = loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: pem, IDENTITY_TOTP_KEY_BASE64: totp }), dataDir);
    expect(keys.totpKey.toString('base64')).toBe(totp);

    expect(() => loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_TOTP_KEY_BASE64: totp })).toThrow(ConfigError);
    expect(() => loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_TOTP_KEY_BASE64: totp })).toThrow(/IDENTITY_SIGNING_KEY_PEM/);
    expect(() => loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: pem })).toThrow(/IDENTITY_TOTP_KEY_BASE64/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() =>
      loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: rsa, IDENTITY_TOTP_KEY_BASE64: totp }), dataDir),
    ).toThrow(/Ed25519/);
    expect(() =>
      loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: 'junk', IDENTITY_TOTP_KEY_BASE64: totp }), dataDir),
    ).toThrow(/IDENTITY_SIGNING_KEY_PEM/);
    expect(() =>
      loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: pem, IDENTITY_TOTP_KEY_BASE64: 'c2hvcnQ=' }), dataDir),
    ).toThrow(/IDENTITY_TOTP_KEY_BASE64/);
  });

  it('data_dir: refuses key settings it would ignore (a rotation to IDENTITY_SIGNING_KEY_PEM kept signing with the old key)', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const settings = { IDENTITY_SIGNING_KEY_PEM: pem, IDENTITY_SIGNING_KEY_FILE: join(dataDir, 'new.pem'), IDENTITY_TOTP_KEY_BASE64: randomBytes(32).toString('base64') };
    for (const [setting, value] of Object.entries(settings)) {
      expect(() => loadIdentityConfig({ [setting]: value })).toThrow(ConfigError);
      expect(() => loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'data_dir', [setting]: value })).toThrow(`IDENTITY_KEY_SOURCE is data_dir, which ignores ${setting}`);
    }
  });

  it('config: refuses an IDENTITY_TOTP_KEY_BASE64 that is not plain base64, without echoing it', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const totp = randomBytes(32).toString('base64');
    for (const bad of [`${totp.slice(0, 10)}!!${totp.slice(10)}`, `${totp.slice(0, 43)}%`, `${totp.slice(0, 20)} ${totp.slice(20)}`]) {
      const load = () => loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: pem, IDENTITY_TOTP_KEY_BASE64: bad }), dataDir);
      expect(load).toThrow(/IDENTITY_TOTP_KEY_BASE64 must be 32 bytes in base64$/);
    }
  });

  it('config: refuses both IDENTITY_SIGNING_KEY_PEM and IDENTITY_SIGNING_KEY_FILE, rather than silently pick one', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const both = () =>
      loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: pem, IDENTITY_SIGNING_KEY_FILE: join(dataDir, 'new.pem'), IDENTITY_TOTP_KEY_BASE64: randomBytes(32).toString('base64') });
    expect(both).toThrow(ConfigError);
    expect(both).toThrow(/IDENTITY_SIGNING_KEY_FILE must not be set together with IDENTITY_SIGNING_KEY_PEM/);
  });

  it('read the signing key from IDENTITY_SIGNING_KEY_FILE', () => {
    const path = join(dataDir, 'elsewhere.pem');
    writeFileSync(path, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const env = { IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_FILE: path, IDENTITY_TOTP_KEY_BASE64: randomBytes(32).toString('base64') };
    expect(loadIdentityKeys(loadIdentityConfig(env), dataDir).signingKey.asymmetricKeyType).toBe('ed25519');
    expect(() => loadIdentityKeys(loadIdentityConfig({ ...env, IDENTITY_SIGNING_KEY_FILE: join(dataDir, 'missing.pem') }), dataDir)).toThrow(
      /IDENTITY_SIGNING_KEY_FILE/,
    );
  });

  it('config: ADMIN_EMAIL and ADMIN_PASSWORD go together', () => {
    expect(() => loadIdentityConfig({ ADMIN_EMAIL: 'admin@example.com' })).toThrow(/ADMIN_PASSWORD/);
    expect(() => loadIdentityConfig({ ADMIN_PASSWORD: 'a long admin password' })).toThrow(/ADMIN_EMAIL/);
    expect(() => loadIdentityConfig({ IDENTITY_LOCKOUT_FAILURES: '0' })).toThrow(/IDENTITY_LOCKOUT_FAILURES/);
  });

  describe('rotation: IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM', () => {
    const totp = randomBytes(32).toString('base64');
    const privatePem = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const publicPemOf = (pem: string) => createPublicKey(pem).export({ format: 'pem', type: 'spki' }).toString();
    const keysWith = (signingPem: string, previous: string) =>
      loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: signingPem, IDENTITY_TOTP_KEY_BASE64: totp, IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM: previous }), dataDir);
    const settings = { issuer: 'ledger-identity', audience: 'ledger-gateway', ttlSeconds: 900 };
    const subject = { userId: 'user-1', roles: ['user' as const], sessionId: 'session-1' };
    const nowMs = Date.UTC(2026, 0, 1);

    it('keeps the tokens of the retired key valid (until they expire) beside the new key, and only while it is listed', () => {
      const oldPem = privatePem();
      const before = new AccessTokenSigner(keysWith(oldPem, ''), settings);
      const token = before.sign(subject, nowMs, 'jti-1');
      const rotated = new AccessTokenSigner(keysWith(privatePem(), publicPemOf(oldPem)), settings);
      expect(rotated.publicKeys().keys.map((key) => key.kid)).toEqual([expect.any(String), before.publicKeys().keys[0].kid]);
      expect(verifyAccessToken(token, rotated.publicKeys(), nowMs)).toMatchObject({ ok: true, value: { sub: 'user-1' } });
      expect(verifyAccessToken(rotated.sign(subject, nowMs, 'jti-2'), rotated.publicKeys(), nowMs).ok).toBe(true);
      const dropped = new AccessTokenSigner(keysWith(privatePem(), ''), settings);
      expect(verifyAccessToken(token, dropped.publicKeys(), nowMs)).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    });

    it('takes several keys, escaped newlines too, in both key sources', () => {
      const pems = [privatePem(), privatePem()].map(publicPemOf);
      expect(keysWith(privatePem(), pems.join('')).previousKeys).toHaveLength(2);
      expect(keysWith(privatePem(), pems[0].replace(/\n/g, '\\n')).previousKeys).toHaveLength(1);
      expect(loadIdentityKeys(loadIdentityConfig({ IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM: pems[1] }), dataDir).previousKeys).toHaveLength(1);
    });

    it('refuses to start on anything but Ed25519 public keys, at most PREVIOUS_PUBLIC_KEYS_MAX, naming the setting', () => {
      const signing = privatePem();
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
      const tooMany = Array.from({ length: PREVIOUS_PUBLIC_KEYS_MAX + 1 }, () => publicPemOf(privatePem())).join('');
      const broken = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----';
      const retired = publicPemOf(privatePem());
      // The current key or one key twice would publish a kid twice, and jose refuses every token then (ERR_JWKS_MULTIPLE_MATCHING_KEYS).
      for (const previous of [signing, 'junk', rsa, tooMany, broken, `${publicPemOf(signing)}junk`, publicPemOf(signing), `${retired}${retired}`]) {
        expect(() => keysWith(signing, previous)).toThrow(ConfigError);
        expect(() => keysWith(signing, previous)).toThrow(/IDENTITY_PREVIOUS_PUBLIC_KEYS_PEM/);
      }
    });
  });

  describe('rotation: IDENTITY_PREVIOUS_TOTP_KEYS', () => {
    const signingPem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const keysWith = (totp: string, previous?: string) =>
      loadIdentityKeys(loadIdentityConfig({ IDENTITY_KEY_SOURCE: 'config', IDENTITY_SIGNING_KEY_PEM: signingPem, IDENTITY_TOTP_KEY_BASE64: totp, IDENTITY_PREVIOUS_TOTP_KEYS: previous }), dataDir);
    const boxOf = (keys: ReturnType<typeof loadIdentityKeys>) => new SecretBox(keys.totpKey, keys.totpKeyId, keys.previousTotpKeys);
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DP';

    it('opens the secrets sealed under a retired key while it is listed, and seals new ones under IDENTITY_TOTP_KEY_BASE64', () => {
      const [oldKey, newKey] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
      const sealedBefore = boxOf(keysWith(oldKey)).seal(secret, 'user-1');
      const rotated = boxOf(keysWith(newKey, `2026-01:${oldKey}`));
      expect(rotated.open(sealedBefore, 'user-1')).toBe(secret); // the user enrolled before the rotation still logs in
      const sealedAfter = rotated.seal(secret, 'user-2');
      expect(boxOf(keysWith(newKey)).open(sealedAfter, 'user-2')).toBe(secret); // new secrets need only the new key
      expect(() => boxOf(keysWith(newKey)).open(sealedBefore, 'user-1')).toThrow(/does not hold/); // dropped too early: named, not garbage
      expect(loadIdentityKeys(loadIdentityConfig({ IDENTITY_PREVIOUS_TOTP_KEYS: `old:${oldKey}` }), dataDir).previousTotpKeys.size).toBe(1); // embedded mode too
    });

    it('refuses to start on a bad list, naming the setting and never the key', () => {
      const key = randomBytes(32).toString('base64');
      for (const previous of ['junk', `:${key}`, 'a:c2hvcnQ=', `a:${key},a:${randomBytes(32).toString('base64')}`, `a:${key}`]) {
        const current = previous === `a:${key}` ? key : randomBytes(32).toString('base64');
        expect(() => keysWith(current, previous)).toThrow(ConfigError);
        expect(() => keysWith(current, previous)).toThrow(/IDENTITY_PREVIOUS_TOTP_KEYS/);
        try {
          keysWith(current, previous);
        } catch (error) {
          expect((error as Error).message).not.toContain(key);
        }
      }
    });
  });
});
