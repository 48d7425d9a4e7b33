import { ConfigError } from '@ledger/contracts';
import { IDEMPOTENCY_WINDOW_MS as LEDGER_IDEMPOTENCY_WINDOW_MS } from '@ledger/ledger';
import { DEV_NETWORK_API_KEY, loadGatewayConfig, networkApiKeyOf } from './gateway.config';

describe('gateway settings: the card network key', () => {
  it('defaults to the embedded mode\'s dev-network-key', () => {
    expect(networkApiKeyOf(loadGatewayConfig({}))).toBe(DEV_NETWORK_API_KEY);
    expect(DEV_NETWORK_API_KEY).toBe('dev-network-key');
  });

  it('takes NETWORK_API_KEY when set', () => {
    expect(networkApiKeyOf(loadGatewayConfig({ NETWORK_API_KEY: 'acquirer-key-0123456789' }))).toBe('acquirer-key-0123456789');
  });

  it.each<[string, Record<string, string>]>([
    ['shorter than 16 characters', { NETWORK_API_KEY: 'short-key' }],
    ['with a space', { NETWORK_API_KEY: 'acquirer key 0123456789' }],
    ['required but missing', { NETWORK_API_KEY_REQUIRED: 'true' }],
  ])('refuses a key %s, naming NETWORK_API_KEY and never its value', (_label, env) => {
    const load = () => loadGatewayConfig(env);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/NETWORK_API_KEY/);
    if (env.NETWORK_API_KEY !== undefined) expect(load).not.toThrow(env.NETWORK_API_KEY);
  });

  it('starts with a key of its own when one is required', () => {
    expect(networkApiKeyOf(loadGatewayConfig({ NETWORK_API_KEY_REQUIRED: 'true', NETWORK_API_KEY: 'acquirer-key-0123456789' }))).toBe('acquirer-key-0123456789');
  });
});

describe('gateway settings: the Idempotency-Key window', () => {
  it("is at most the ledger's: a released key retried within it must reach a ledger that still knows its service key", () => {
    expect(loadGatewayConfig({}).IDEMPOTENCY_WINDOW_MS).toBe(LEDGER_IDEMPOTENCY_WINDOW_MS);
    const longer = () => loadGatewayConfig({ IDEMPOTENCY_WINDOW_MS: String(LEDGER_IDEMPOTENCY_WINDOW_MS + 60_000) });
    expect(longer).toThrow(ConfigError);
    expect(longer).toThrow(/IDEMPOTENCY_WINDOW_MS/);
  });
});

describe('gateway settings: the Idempotency-Key lease', () => {
  it('outlasts the bus requests one request makes in a row, or start stops naming IDEMPOTENCY_LEASE_MS', () => {
    expect(loadGatewayConfig({ IDEMPOTENCY_LEASE_MS: '10001', BUS_REQUEST_TIMEOUT_MS: '5000' }).IDEMPOTENCY_LEASE_MS).toBe(10_001);
    const tooShort = () => loadGatewayConfig({ IDEMPOTENCY_LEASE_MS: '10000', BUS_REQUEST_TIMEOUT_MS: '5000' });
    expect(tooShort).toThrow(ConfigError);
    expect(tooShort).toThrow(/IDEMPOTENCY_LEASE_MS.*BUS_REQUEST_TIMEOUT_MS/);
  });
});

describe('gateway settings: the ports', () => {
  it('refuses GRPC_PORT equal to PORT (both cannot be listened on), but lets both be 0 (a free port each)', () => {
    const same = () => loadGatewayConfig({ PORT: '4000', GRPC_PORT: '4000' });
    expect(same).toThrow(ConfigError);
    expect(same).toThrow(/GRPC_PORT must differ from PORT/);
    expect(loadGatewayConfig({ PORT: '0', GRPC_PORT: '0' }).GRPC_PORT).toBe(0);
  });
});

describe('gateway settings: the HTTP server', () => {
  it('bounds connections and slow requests by default, and refuses a request timeout shorter than the headers one', () => {
    const config = loadGatewayConfig({});
    expect([config.HTTP_MAX_CONNECTIONS, config.HTTP_HEADERS_TIMEOUT_MS, config.HTTP_REQUEST_TIMEOUT_MS]).toEqual([10_000, 10_000, 30_000]);
    const shorter = () => loadGatewayConfig({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000' });
    expect(shorter).toThrow(ConfigError);
    expect(shorter).toThrow(/HTTP_REQUEST_TIMEOUT_MS must be at least HTTP_HEADERS_TIMEOUT_MS/);
  });
});

describe("gateway settings: the fingerprint secret", () => {
  const key = Buffer.alloc(32, 1).toString('base64');

  it('takes GATEWAY_FINGERPRINT_KEY_BASE64 with GATEWAY_KEY_SOURCE=config, and requires it there', () => {
    expect(loadGatewayConfig({ GATEWAY_KEY_SOURCE: 'config', GATEWAY_FINGERPRINT_KEY_BASE64: key }).GATEWAY_FINGERPRINT_KEY_BASE64).toBe(key);
    expect(() => loadGatewayConfig({ GATEWAY_KEY_SOURCE: 'config' })).toThrow(/GATEWAY_FINGERPRINT_KEY_BASE64 is required when GATEWAY_KEY_SOURCE=config/);
    expect(() => loadGatewayConfig({ GATEWAY_KEY_SOURCE: 'config', GATEWAY_FINGERPRINT_KEY_BASE64: Buffer.alloc(16).toString('base64') })).toThrow(
      /GATEWAY_FINGERPRINT_KEY_BASE64 must be 32 bytes in base64/,
    );
  });

  it('refuses a key it would ignore (GATEWAY_KEY_SOURCE=data_dir): instances sharing a store must share the secret', () => {
    const ignored = () => loadGatewayConfig({ GATEWAY_FINGERPRINT_KEY_BASE64: key });
    expect(ignored).toThrow(ConfigError);
    expect(ignored).toThrow(/GATEWAY_KEY_SOURCE is data_dir, which ignores GATEWAY_FINGERPRINT_KEY_BASE64/);
  });
});
