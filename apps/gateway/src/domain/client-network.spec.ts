import { clientNetworkOf, forwardedClientOf, peerAddressOf, withoutPort } from './client-network';

describe('withoutPort', () => {
  it('drops the port of IPv4 and bracketed IPv6 peers, and keeps what it cannot read', () => {
    expect(withoutPort('127.0.0.1:53211')).toBe('127.0.0.1');
    expect(withoutPort('[::1]:53211')).toBe('::1');
    expect(withoutPort('[::ffff:10.0.0.7]:80')).toBe('::ffff:10.0.0.7');
    expect(withoutPort('::1')).toBe('::1');
    expect(withoutPort('host:name')).toBe('host:name');
    expect(withoutPort('')).toBe('');
  });
});

describe('the client network a per-IP rate limit counts', () => {
  it('counts an IPv4 client as its address, however the socket spells it', () => {
    expect(clientNetworkOf('203.0.113.7')).toBe('203.0.113.7');
    expect(clientNetworkOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientNetworkOf('::FFFF:cb00:7107')).toBe('203.0.113.7');
    expect(clientNetworkOf('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv6 client as its /64, in one spelling', () => {
    const network = '2001:db8:0:1::/64';
    for (const address of ['2001:db8:0:1::1', '2001:db8:0:1:ffff:ffff:ffff:ffff', '2001:0DB8:0000:0001:0:0:0:2', '2001:db8::1:0:0:0:3', '2001:db8:0:1::5%eth0']) {
      expect(clientNetworkOf(address)).toBe(network);
    }
    expect(clientNetworkOf('2001:db8:0:2::1')).toBe('2001:db8:0:2::/64');
    expect(clientNetworkOf('::1')).toBe('0:0:0:0::/64');
    expect(clientNetworkOf('64:ff9b::203.0.113.7')).toBe('64:ff9b:0:0::/64');
  });

  it('drops a port that a proxy appended', () => {
    expect(clientNetworkOf('203.0.113.7:51234')).toBe('203.0.113.7');
    expect(clientNetworkOf('[2001:db8:0:1::1]:443')).toBe('2001:db8:0:1::/64');
    expect(clientNetworkOf('[::ffff:203.0.113.7]:443')).toBe('203.0.113.7');
  });

  it('keeps what is not an address as it is', () => {
    expect(clientNetworkOf('unknown')).toBe('unknown');
    expect(clientNetworkOf('')).toBe('');
  });
});

describe('the client behind trusted proxies', () => {
  const peer = '10.0.0.2';

  it('is the peer when no proxy is trusted, whatever X-Forwarded-For claims', () => {
    expect(forwardedClientOf(peer, ['198.51.100.1'], 0)).toBe(peer);
  });

  it('is read from the right end of X-Forwarded-For, one entry per trusted hop', () => {
    expect(forwardedClientOf(peer, ['203.0.113.9, 198.51.100.1'], 1)).toBe('198.51.100.1');
    expect(forwardedClientOf(peer, ['203.0.113.9', '198.51.100.1, 10.0.0.1'], 2)).toBe('198.51.100.1');
    expect(forwardedClientOf(peer, ['203.0.113.9,, 198.51.100.1 , '], 1)).toBe('198.51.100.1');
  });

  it('stops at the far end of a shorter chain, or at the peer without one', () => {
    expect(forwardedClientOf(peer, ['198.51.100.1'], 3)).toBe('198.51.100.1');
    expect(forwardedClientOf(peer, [], 1)).toBe(peer);
  });
});

describe('peerAddressOf', () => {
  it("reads grpc-js's `address:port` peers, IPv6 ones without brackets, as the address", () => {
    expect(peerAddressOf('127.0.0.1:53211')).toBe('127.0.0.1');
    expect(peerAddressOf('::ffff:127.0.0.1:53211')).toBe('::ffff:127.0.0.1');
    expect(peerAddressOf('2001:db8::1:53211')).toBe('2001:db8::1');
    expect(peerAddressOf('2001:db8:0:1:2:3:4:5:443')).toBe('2001:db8:0:1:2:3:4:5');
    expect(peerAddressOf('::1:8080')).toBe('::1');
    expect(peerAddressOf('[::1]:53211')).toBe('::1');
    expect(peerAddressOf('unknown')).toBe('unknown');
    // However many connections (ports), one client.
    expect(new Set(['2001:db8::1:40000', '2001:db8::1:50001'].map((peer) => clientNetworkOf(peerAddressOf(peer))))).toEqual(new Set(['2001:db8:0:0::/64']));
  });
});
