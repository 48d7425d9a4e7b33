import { createGatewayLogger, grpcJsLoggerOf, scrubSecrets } from './logger';

function capture() {
  const lines: string[] = [];
  const logger = createGatewayLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } });
  return { logger, output: () => lines.join('') };
}

// A test PAN (Visa's documented test number) and a JWT-shaped token.
const PAN = '4111111111111111';
const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLWJ5dGVz';

describe('gateway logs', () => {
  it('redact secret fields at any of the first four levels', () => {
    const { logger, output } = capture();
    logger.info(
      {
        password: 'hunter2-hunter2',
        req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'x-network-key': 'nk-1' } },
        body: { refreshToken: 'rt-secret', card: { pan: PAN, cvv: '123' }, totp: '654321' },
        reply: { value: { accessToken: 'at-secret', secret: 'JBSWY3DPEHPK3PXP' } },
      },
      'request',
    );
    const text = output();
    for (const secret of ['hunter2-hunter2', 'abc.def.ghi', 'sid=1', 'nk-1', 'rt-secret', PAN, '"123"', '654321', 'at-secret', 'JBSWY3DPEHPK3PXP']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[REDACTED]');
    expect(JSON.parse(text)).toMatchObject({ msg: 'request', service: 'gateway', password: '[REDACTED]' });
  });

  it("keep an error's code (the project's, SQLite's, Node's) but redact a TOTP code and anything else under `code`", () => {
    const { logger, output } = capture();
    logger.warn({ err: { code: 'SQLITE_FULL' }, error: { code: 'insufficient_funds' }, io: { code: 'ECONNRESET' }, reply: { code: 'unavailable' } }, 'failed');
    logger.info({ body: { code: '654321' }, other: { code: 'JBSWY3DPEHPK3PXP' }, mixed: { code: 'not a code' } }, 'request');
    const [failed, request] = output().trim().split('\n').map((line) => JSON.parse(line));
    expect(failed).toMatchObject({ err: { code: 'SQLITE_FULL' }, error: { code: 'insufficient_funds' }, io: { code: 'ECONNRESET' }, reply: { code: 'unavailable' } });
    expect(request).toMatchObject({ body: { code: '[REDACTED]' }, other: { code: '[REDACTED]' }, mixed: { code: '[REDACTED]' } });
  });

  it('show no PAN or CVV of a logged card network request, nor of a reveal\'s reply, at any depth they are logged', () => {
    const { logger, output } = capture();
    const authorization = { pan: PAN, expMonth: 12, expYear: 2029, cvv: '987', amount: '1050', currency: 'USD', merchant: { name: 'Shop', mcc: '5411', country: 'US' } };
    logger.info({ method: 'POST', route: '/v1/network/authorizations', body: authorization }, 'request');
    logger.info({ req: { method: 'POST', body: authorization } }, 'request');
    logger.warn({ request: { body: { ...authorization } }, reply: { body: { pan: PAN, cvv: '987', expMonth: 12, expYear: 2029 } } }, 'reveal');
    logger.error({ err: { message: `declined ${PAN}`, response: { value: { pan: PAN, cvv: '987' } } } }, 'failed');
    const text = output();
    expect(text).not.toContain(PAN);
    expect(text).not.toContain('"987"');
    expect(text).toContain('"amount":"1050"'); // the rest of the body is still there
    expect(text.split('\n').filter(Boolean)).toHaveLength(4);
  });

  it('mask PANs, JWTs and bearer tokens inside free text, and leave amounts alone', () => {
    const { logger, output } = capture();
    logger.error({ err: new Error(`card ${PAN} declined for Bearer ${JWT} (amount 123456789012345678)`) }, `pan ${PAN} token ${JWT}`);
    const text = output();
    expect(text).not.toContain(PAN);
    expect(text).not.toContain(JWT);
    expect(text).toContain('[REDACTED]1111'); // last four stay, as on a receipt
    expect(text).toContain('123456789012345678'); // not a Luhn-valid PAN: an amount
    expect(() => JSON.parse(text)).not.toThrow();
  });

  it('scrubSecrets keeps text without secrets as it is', () => {
    expect(scrubSecrets('{"msg":"request","status":201,"amount":"1050"}')).toBe('{"msg":"request","status":201,"amount":"1050"}');
  });
});

describe("grpc-js's own log lines", () => {
  it('name a refused metadata entry by its key only, and pass other lines through as JSON at their level', () => {
    const { logger, output } = capture();
    const grpcJs = grpcJsLoggerOf(logger);
    const key = 'network-key-0123456789\u00e9';
    grpcJs.error(`Failed to add metadata entry x-network-key: ${key}. Metadata string value "${key}" contains illegal characters. For more information see https://github.com/grpc/grpc-node/issues/1173`);
    grpcJs.error('Server listen error');
    const lines = output().trim().split('\n').map((line) => JSON.parse(line));
    expect(output()).not.toContain('network-key-0123456789');
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, context: 'grpc-js', msg: expect.stringContaining('refused the metadata entry x-network-key') }),
      expect.objectContaining({ level: 50, context: 'grpc-js', msg: 'Server listen error' }),
    ]);
  });

  it('redact secret metadata in the request headers its server_call tracer writes (GRPC_TRACE)', () => {
    const { logger, output } = capture();
    const traced = { authorization: ['Basic dXNlcjpodW50ZXIy'], 'x-network-key': ['nk-se"cr]et'], 'x-request-id': ['trace-1'] };
    grpcJsLoggerOf(logger).error(`D 2026-01-01T00:00:00.000Z | v1.14.7 1 | server_call | Request to /ledger.v1.Wallets/GetWallet received headers ${JSON.stringify(traced)}`);
    expect(output()).not.toContain('dXNlcjpodW50ZXIy');
    expect(output()).not.toContain('cr]et');
    expect(output()).toContain('trace-1');
  });
});
