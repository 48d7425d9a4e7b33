import { segment } from './grpc-edge';

describe('segment', () => {
  it('encodes an id as a client puts it in the HTTP path, and a missing one as empty', () => {
    expect(segment('019b76da-a800-700e')).toBe('019b76da-a800-700e');
    expect(segment('a/b?c')).toBe('a%2Fb%3Fc');
    expect(segment(undefined)).toBe('');
  });
});
