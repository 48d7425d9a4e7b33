import { peerAddress, segment } from './grpc-edge';

describe('peerAddress', () => {
  it('drops the port of IPv4 and bracketed IPv6 peers, and keeps what it cannot read', () => {
    expect(peerAddress('127.0.0.1:53211')).toBe('127.0.0.1');
    expect(peerAddress('[::1]:53211')).toBe('::1');
    expect(peerAddress('[::ffff:10.0.0.7]:80')).toBe('::ffff:10.0.0.7');
    expect(peerAddress('::1')).toBe('::1');
    expect(peerAddress('')).toBe('');
  });
});

describe('segment', () => {
  it('encodes an id as a client puts it in the HTTP path, and a missing one as empty', () => {
    expect(segment('019b76da-a800-700e')).toBe('019b76da-a800-700e');
    expect(segment('a/b?c')).toBe('a%2Fb%3Fc');
    expect(segment(undefined)).toBe('');
  });
});
