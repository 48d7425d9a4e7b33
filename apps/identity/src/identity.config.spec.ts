// Identity's settings: bad values refuse the start, naming the setting.
import { ConfigError } from '@ledger/contracts';
import { loadIdentityConfig } from './identity.config';

describe('identity config', () => {
  it.each([
    ['IDENTITY_ARGON2_MEMORY_KIB', '1023'],
    ['IDENTITY_ARGON2_MEMORY_KIB', String(4 * 1024 * 1024 + 1)],
    ['IDENTITY_ARGON2_ITERATIONS', '0'],
    ['IDENTITY_ARGON2_ITERATIONS', '101'],
    ['IDENTITY_ARGON2_PARALLELISM', '0'],
    ['IDENTITY_ARGON2_PARALLELISM', '17'],
    ['IDENTITY_ARGON2_PARALLELISM', '1.5'],
    ['IDENTITY_HASHES_IN_FLIGHT_MAX', '0'],
    ['IDENTITY_HASHES_IN_FLIGHT_MAX', '257'],
    ['IDENTITY_HASHES_QUEUED_MAX', '-1'],
    ['IDENTITY_HASHES_QUEUED_MAX', '100001'],
  ])('refuses %s=%s, naming it', (name, value) => {
    expect(() => loadIdentityConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadIdentityConfig({ [name]: value })).toThrow(name);
  });

  it('bounds the memory argon2 takes at once: IDENTITY_HASHES_IN_FLIGHT_MAX x IDENTITY_ARGON2_MEMORY_KIB at most 4 GiB', () => {
    expect(loadIdentityConfig({ IDENTITY_HASHES_IN_FLIGHT_MAX: '4', IDENTITY_ARGON2_MEMORY_KIB: String(1024 * 1024) }).IDENTITY_HASHES_IN_FLIGHT_MAX).toBe(4);
    expect(() => loadIdentityConfig({ IDENTITY_HASHES_IN_FLIGHT_MAX: '5', IDENTITY_ARGON2_MEMORY_KIB: String(1024 * 1024) })).toThrow(/IDENTITY_HASHES_IN_FLIGHT_MAX/);
  });

  // The password rules count characters (code points of the NFC form); an emoji is two UTF-16 units.
  it('takes an ADMIN_PASSWORD of 128 characters of any kind, and refuses 129', () => {
    const admin = (password: string) => loadIdentityConfig({ ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: password });
    expect(admin('🔒'.repeat(128)).ADMIN_PASSWORD).toBe('🔒'.repeat(128));
    expect(admin('한'.repeat(128).normalize('NFD')).ADMIN_PASSWORD).toHaveLength(384);
    expect(() => admin('🔒'.repeat(129))).toThrow(/ADMIN_PASSWORD/);
    expect(() => admin('a'.repeat(10_000))).toThrow(/ADMIN_PASSWORD/);
  });
});
