import { booleanSetting, ConfigError, enumSetting, intSetting, loadConfig, stringSetting } from './config';

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
