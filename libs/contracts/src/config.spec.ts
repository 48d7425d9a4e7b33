import { randomBytes } from 'node:crypto';
import { base64KeyOf, booleanSetting, ConfigError, enumSetting, intSetting, loadConfig, stringSetting } from './config';

const schema = {
  PORT: intSetting(3000, { min: 0, max: 65535 }),
  DATA_DIR: stringSetting('./data'),
  MODE: enumSetting('embedded', ['embedded', 'distributed'] as const),
  VERBOSE: booleanSetting(false),
};

describe('loadConfig', () => {
  it('applies defaults', () => {
    expect(loadConfig(schema, {})).toEqual({ PORT: 3000, DATA_DIR: './data', MODE: 'embedded', VERBOSE: false });
  });

  it('reads values', () => {
    expect(loadConfig(schema, { PORT: '8080', MODE: 'distributed', VERBOSE: 'true' })).toMatchObject({ PORT: 8080, MODE: 'distributed', VERBOSE: true });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '3.5'],
    ['MODE', 'cluster'],
    ['VERBOSE', 'yes'],
  ])('stops on a bad %s=%s with a message naming the setting', (name, value) => {
    let thrown: unknown;
    try {
      loadConfig(schema, { [name]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).setting).toBe(name);
    expect((thrown as Error).message).toContain(name);
  });
});

describe('base64KeyOf', () => {
  const key = randomBytes(32);
  const text = key.toString('base64');

  it('takes a key of the length in base64, padded or not, with surrounding whitespace', () => {
    for (const good of [text, text.replace(/=+$/, ''), ` ${text}\n`]) expect(base64KeyOf(good, 'K', 32).equals(key)).toBe(true);
  });

  it('refuses stray characters, base64url, other lengths, naming the setting and never the key', () => {
    const bads = [`${text.slice(0, 10)}!!${text.slice(10)}`, `${text.slice(0, 20)} ${text.slice(20)}`, text.replace(/=+$/, '%'), key.toString('hex'), randomBytes(31).toString('base64'), ''];
    bads.push(Buffer.from(Array.from({ length: 32 }, () => 0xfb)).toString('base64url'));
    for (const bad of bads) {
      expect(() => base64KeyOf(bad, 'K', 32)).toThrow(new ConfigError('K', 'must be 32 bytes in base64'));
    }
  });
});
