import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@ledger/contracts';
import { isLuhnValid } from '../domain/pan';
import { loadCardIssuerConfig } from '../card-issuer.config';
import { CardCrypto, randomDigits } from './card-crypto';
import { CARD_KEYS_FILE, loadCardKeys, type CardKeys } from './card-keys';
import { allocateUniquePan } from './card-issuer.service';

const key = () => randomBytes(32);
const keysWith = (current: string, keks: Record<string, Buffer>, shared = { fingerprintKey: key(), cvvKey: key() }): CardKeys => ({
  currentKekId: current,
  keks: new Map(Object.entries(keks)),
  ...shared,
});

describe('card crypto', () => {
  const shared = { fingerprintKey: key(), cvvKey: key() };
  const v1 = key();
  const crypto = new CardCrypto(keysWith('v1', { v1 }, shared));

  it('draws 16-digit Luhn-valid PANs under the BIN from the CSPRNG', () => {
    const pans = new Set(Array.from({ length: 200 }, () => crypto.newPan('400000')));
    expect(pans.size).toBe(200);
    for (const pan of pans) {
      expect(pan).toMatch(/^400000[0-9]{10}$/);
      expect(isLuhnValid(pan)).toBe(true);
    }
    expect(randomDigits(5, () => Buffer.from([250, 255, 1, 2, 3, 4, 5, 6, 7, 8]))).toBe('12345');
  });

  it('seals and opens a PAN; the sealed form holds neither the PAN nor its digits in clear', () => {
    const pan = '4000001234567899';
    const { sealedPan, kekId } = crypto.sealPan(pan, 'card-1');
    expect(kekId).toBe('v1');
    expect(sealedPan.startsWith('v1.v1.')).toBe(true);
    expect(sealedPan).not.toContain(pan);
    expect(crypto.openPan(sealedPan, 'card-1')).toBe(pan);
    expect(crypto.sealPan(pan, 'card-1').sealedPan).not.toBe(sealedPan); // a fresh data key and IVs each time
  });

  it('refuses a sealed PAN moved to another card or altered, without saying the PAN', () => {
    const pan = '4000001234567899';
    const { sealedPan } = crypto.sealPan(pan, 'card-1');
    expect(() => crypto.openPan(sealedPan, 'card-2')).toThrow(/authentication failed/);
    const parts = sealedPan.split('.');
    parts[6] = Buffer.from(Buffer.from(parts[6], 'base64url').map((byte, index) => (index === 0 ? byte ^ 1 : byte))).toString('base64url');
    expect(() => crypto.openPan(parts.join('.'), 'card-1')).toThrow(/authentication failed/);
    try {
      crypto.openPan(parts.join('.'), 'card-1');
    } catch (error) {
      expect(String(error)).not.toContain(pan);
    }
  });

  it('rotates keys: a card sealed under v1 still opens after v2 becomes current; new cards use v2', () => {
    const sealedUnderV1 = crypto.sealPan('4000001111111116', 'card-1').sealedPan;
    const rotated = new CardCrypto(keysWith('v2', { v1, v2: key() }, shared));
    expect(rotated.openPan(sealedUnderV1, 'card-1')).toBe('4000001111111116');
    const sealedUnderV2 = rotated.sealPan('4000002222222224', 'card-2');
    expect(sealedUnderV2.kekId).toBe('v2');
    expect(rotated.openPan(sealedUnderV2.sealedPan, 'card-2')).toBe('4000002222222224');
    expect(() => crypto.openPan(sealedUnderV2.sealedPan, 'card-2')).toThrow(/v2 is not configured/);
    expect(rotated.fingerprint('4000001111111116')).toBe(crypto.fingerprint('4000001111111116'));
  });

  it('derives a stable 3-digit CVV from the PAN and expiry, and compares it in constant time', () => {
    const cvv = crypto.cvv('4000001234567899', 1, 2029);
    expect(cvv).toMatch(/^[0-9]{3}$/);
    expect(crypto.cvv('4000001234567899', 1, 2029)).toBe(cvv);
    expect(new CardCrypto(keysWith('v1', { v1 }, shared)).cvv('4000001234567899', 1, 2029)).toBe(cvv);
    const others = new Set(Array.from({ length: 50 }, (_, month) => crypto.cvv('4000001234567899', (month % 12) + 1, 2029 + Math.floor(month / 12))));
    expect(others.size).toBeGreaterThan(30); // depends on the expiry
    expect(crypto.cvvMatches('4000001234567899', 1, 2029, cvv)).toBe(true);
    expect(crypto.cvvMatches('4000001234567899', 1, 2029, cvv === '000' ? '001' : '000')).toBe(false);
    expect(crypto.cvvMatches('4000001234567899', 1, 2029, `${cvv}0`)).toBe(false);
  });

  it('fingerprints with its own key: the same PAN, the same fingerprint; another key, another one', () => {
    expect(crypto.fingerprint('4000001234567899')).toMatch(/^[0-9a-f]{64}$/);
    expect(crypto.fingerprint('4000001234567899')).toBe(crypto.fingerprint('4000001234567899'));
    expect(new CardCrypto(keysWith('v1', { v1 })).fingerprint('4000001234567899')).not.toBe(crypto.fingerprint('4000001234567899'));
  });

  it('draws again when a PAN is taken, a bounded number of times', async () => {
    const draws = ['4000001111111116', '4000001111111116', '4000002222222224'];
    const taken = new Set([crypto.fingerprint('4000001111111116')]);
    const reserve = async (fingerprint: string) => !taken.has(fingerprint);
    const allocated = await allocateUniquePan({ draw: () => draws.shift()!, fingerprint: (pan) => crypto.fingerprint(pan), reserve });
    expect(allocated?.pan).toBe('4000002222222224');
    expect(draws).toEqual([]);
    let attempts = 0;
    const never = await allocateUniquePan({ draw: () => (attempts++, '4000001111111116'), fingerprint: (pan) => crypto.fingerprint(pan), reserve, attemptsMax: 3 });
    expect(never).toBeUndefined();
    expect(attempts).toBe(3);
  });
});

describe('card keys', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'card-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates dev keys into DATA_DIR once (mode 0600), says so without the keys, and loads them again', () => {
    const lines: string[] = [];
    const first = loadCardKeys(loadCardIssuerConfig({}), dir, (line) => lines.push(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('generated development card keys');
    const file = readFileSync(join(dir, CARD_KEYS_FILE), 'utf8');
    for (const secret of [first.fingerprintKey, first.cvvKey, ...first.keks.values()]) expect(lines[0]).not.toContain(secret.toString('base64'));
    expect(file).toContain(first.cvvKey.toString('base64'));
    if (process.platform !== 'win32') expect(statSync(join(dir, CARD_KEYS_FILE)).mode & 0o777).toBe(0o600);
    const again = loadCardKeys(loadCardIssuerConfig({}), dir, (line) => lines.push(line));
    expect(lines).toHaveLength(1);
    expect(again).toEqual(first);
  });

  it('with CARD_KEY_SOURCE=config refuses to start without keys, naming the setting', () => {
    const good = {
      CARD_KEY_SOURCE: 'config',
      CARD_KEKS: `k1:${key().toString('base64')},k2:${key().toString('base64')}`,
      CARD_KEK_CURRENT_ID: 'k2',
      CARD_FINGERPRINT_KEY_BASE64: key().toString('base64'),
      CARD_CVV_KEY_BASE64: key().toString('base64'),
    };
    const keys = loadCardKeys(loadCardIssuerConfig(good), dir);
    expect(keys.currentKekId).toBe('k2');
    expect([...keys.keks.keys()]).toEqual(['k1', 'k2']);
    const refusal = (env: Record<string, string>) => {
      try {
        loadCardIssuerConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).setting;
      }
      return 'accepted';
    };
    expect(refusal({ ...good, CARD_KEKS: '' })).toBe('CARD_KEKS');
    expect(refusal({ ...good, CARD_KEKS: 'k1:short' })).toBe('CARD_KEKS (key k1)');
    expect(refusal({ ...good, CARD_KEKS: 'no-colon' })).toBe('CARD_KEKS');
    expect(refusal({ ...good, CARD_KEK_CURRENT_ID: '' })).toBe('CARD_KEK_CURRENT_ID');
    expect(refusal({ ...good, CARD_KEK_CURRENT_ID: 'k3' })).toBe('CARD_KEK_CURRENT_ID');
    expect(refusal({ ...good, CARD_CVV_KEY_BASE64: '' })).toBe('CARD_CVV_KEY_BASE64');
    expect(refusal({ ...good, CARD_FINGERPRINT_KEY_BASE64: '' })).toBe('CARD_FINGERPRINT_KEY_BASE64');
    expect(refusal({ CARD_BIN: '12345' })).toBe('CARD_BIN');
    // Keys set for a source that ignores them: the dev keys in DATA_DIR would seal and find cards, and switching later would lose them.
    expect(refusal({ ...good, CARD_KEY_SOURCE: 'data_dir' })).toBe('CARD_KEY_SOURCE');
    expect(refusal({ CARD_CVV_KEY_BASE64: good.CARD_CVV_KEY_BASE64 })).toBe('CARD_KEY_SOURCE');
    expect(() => loadCardKeys(loadCardIssuerConfig({ ...good, CARD_CVV_KEY_BASE64: 'c2hvcnQ=' }), dir)).toThrow(/CARD_CVV_KEY_BASE64/);
  });
});
