import { pathSegment } from '../application/idempotent-execution';

describe('pathSegment', () => {
  it('encodes an id as a client puts it in the HTTP path, and a missing one as empty', () => {
    expect(pathSegment('019b76da-a800-700e')).toBe('019b76da-a800-700e');
    expect(pathSegment('a/b?c')).toBe('a%2Fb%3Fc');
    expect(pathSegment(undefined)).toBe('');
  });
});
