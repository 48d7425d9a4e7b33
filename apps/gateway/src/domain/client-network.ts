// Whom a per-IP rate limit counts: the client's network, not the exact address. An IPv6 client is
// given a whole /64, so it counts as its /64; an IPv4 client counts as its address however the
// socket spells it (`::ffff:1.2.3.4` on a dual-stack listener is `1.2.3.4`). Pure.
import { isIP, isIPv4, isIPv6 } from 'node:net';

const IPV6_GROUPS = 8;
/** The groups of an IPv6 address that name its /64. */
const PREFIX_GROUPS = 4;

/** `1.2.3.4` for IPv4 (mapped or not, with a port or not), `2001:db8:0:1::/64` for IPv6; anything else as it is. */
export function clientNetworkOf(address: string): string {
  // fe80::1%eth0: the zone names our interface, not the client.
  const unzoned = withoutPort(address).replace(/%.*$/, '');
  if (isIPv4(unzoned)) return unzoned;
  if (!isIPv6(unzoned)) return address;
  const groups = ipv6Groups(unzoned);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  }
  return `${groups
    .slice(0, PREFIX_GROUPS)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/**
 * The address without a port: some proxies append the client's port to X-Forwarded-For
 * (`127.0.0.1:53211`, `[::1]:53211`). A bare IPv6 address is kept (gRPC peers: peerAddressOf).
 */
export function withoutPort(address: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed !== null) return bracketed[1];
  const colon = address.lastIndexOf(':');
  return colon > 0 && address.indexOf(':') === colon && /^\d+$/.test(address.slice(colon + 1)) ? address.slice(0, colon) : address;
}

/**
 * The address of a gRPC peer as grpc-js names it: `${remoteAddress}:${remotePort}`, an IPv6 one without brackets
 * (`::ffff:10.0.0.7:51234`, `2001:db8::1:51234`), which withoutPort cannot tell from an address; read as is, each
 * connection of a client was a new bucket. A bracketed or bare address is read as withoutPort reads it.
 */
export function peerAddressOf(peer: string): string {
  const ported = /^(.+):\d{1,5}$/.exec(peer);
  return ported !== null && !peer.startsWith('[') && isIP(ported[1]) !== 0 ? ported[1] : withoutPort(peer);
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 as two groups). */
function ipv6Groups(address: string): number[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parse = (part: string | undefined): number[] =>
    part === undefined || part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const front = parse(head);
  const back = parse(tail);
  return [...front, ...new Array<number>(IPV6_GROUPS - front.length - back.length).fill(0), ...back];
}

/**
 * The client's address behind `trustedHops` proxies, read as Express's `trust proxy` (a hop
 * count) reads it, so both edges name the same client: the socket's peer, then one
 * X-Forwarded-For entry per trusted hop from its right end (each proxy appends whom it heard).
 */
export function forwardedClientOf(peer: string, forwardedFor: readonly string[], trustedHops: number): string {
  const entries = forwardedFor
    .flatMap((value) => value.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const chain = [peer, ...entries.reverse()];
  return chain[Math.min(trustedHops, chain.length - 1)];
}
