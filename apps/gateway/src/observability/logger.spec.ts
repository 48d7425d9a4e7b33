import { createGatewayLogger, scrubSecrets } from './logger';

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
