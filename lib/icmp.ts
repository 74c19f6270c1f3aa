// ICMP echo packets (RFC 792 for IPv4, RFC 4443 for IPv6): building requests, reading replies and the
// errors that quote our requests back to us.
import { formatAddress, formatV4, type Family } from './targets.js';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP6_DEST_UNREACHABLE = 1;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

/** The ICMP types a probe needs to see: every other one can be filtered out in the kernel. */
export const WANTED_TYPES: Record<Family, number[]> = {
  4: [ICMP_ECHO_REPLY, ICMP_DEST_UNREACHABLE, ICMP_TIME_EXCEEDED],
  6: [ICMP6_ECHO_REPLY, ICMP6_DEST_UNREACHABLE, ICMP6_TIME_EXCEEDED],
};

const HEADER = 8;
const PROTOCOL_ICMP = 1;
const NEXT_HEADER_ICMPV6 = 58;
const IPV6_HEADER = 40;
// A recognisable payload: it makes our packets easy to spot in tcpdump and costs nothing.
const PAYLOAD = Buffer.from('pmap pingprobe\0\0', 'latin1');

/** The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of 16-bit words. */
export function internetChecksum(data: Uint8Array): number {
  let sum = 0;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * An echo request. IPv4 carries our checksum; for ICMPv6 the checksum covers a pseudo-header with the
 * source address we don't choose, and raw ICMPv6 sockets always fill it in (RFC 3542 section 3.1).
 */
export function echoRequest(family: Family, identifier: number, sequence: number): Buffer {
  const packet = Buffer.alloc(HEADER + PAYLOAD.length);
  packet[0] = family === 4 ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
  packet.writeUInt16BE(identifier, 4);
  packet.writeUInt16BE(sequence, 6);
  PAYLOAD.copy(packet, HEADER);
  if (family === 4) packet.writeUInt16BE(internetChecksum(packet), 2);
  return packet;
}

export interface EchoReply {
  kind: 'reply';
  identifier: number;
  sequence: number;
  source: string;
  /** IPv4 only: a raw ICMPv6 socket does not see the IPv6 header, so the hop limit is unknown. */
  ttl?: number;
}

/** An ICMP error about one of our echo requests, found by the request it quotes. */
export interface EchoError {
  kind: 'error';
  identifier: number;
  sequence: number;
  /** Where the quoted request was going. */
  target: string;
  /** Who complained (a router, or our own host when ARP/ND failed). */
  source: string;
  reason: string;
}

export type IcmpMessage = EchoReply | EchoError;

// RFC 792, RFC 1122 3.2.2.1 and RFC 1812 5.2.7.1 codes.
const UNREACHABLE_V4: Record<number, string> = {
  0: 'net-unreachable',
  1: 'host-unreachable',
  2: 'protocol-unreachable',
  3: 'port-unreachable',
  4: 'fragmentation-needed',
  5: 'source-route-failed',
  6: 'net-unknown',
  7: 'host-unknown',
  9: 'net-prohibited',
  10: 'host-prohibited',
  13: 'admin-prohibited',
};

// RFC 4443 3.1. Code 3 is what a failed neighbour discovery gives, as a failed ARP gives host-unreachable.
const UNREACHABLE_V6: Record<number, string> = {
  0: 'net-unreachable',
  1: 'admin-prohibited',
  2: 'beyond-scope',
  3: 'host-unreachable',
  4: 'port-unreachable',
  5: 'source-policy-failed',
  6: 'reject-route',
};

/** The `reason` of an ICMP error about an echo (`host-unreachable`, …), null for other types. */
export function errorReason(family: Family, type: number, code: number): string | null {
  if (family === 4) {
    if (type === ICMP_TIME_EXCEEDED) return 'time-exceeded';
    if (type === ICMP_DEST_UNREACHABLE) return UNREACHABLE_V4[code] ?? `unreachable-code-${code}`;
    return null;
  }
  if (type === ICMP6_TIME_EXCEEDED) return 'time-exceeded';
  if (type === ICMP6_DEST_UNREACHABLE) return UNREACHABLE_V6[code] ?? `unreachable-code-${code}`;
  return null;
}

/**
 * What a packet read from a raw ICMP socket says about our echoes, or null when it is about nothing
 * of ours (someone's echo request, our own request looped back, a truncated packet). IPv4 raw sockets
 * deliver the IP header too (raw(7)); ICMPv6 ones deliver the ICMPv6 message alone (RFC 3542 3).
 */
export function parseIcmp(family: Family, packet: Buffer, source: string): IcmpMessage | null {
  let icmp = packet;
  let ttl: number | undefined;
  if (family === 4) {
    if (packet.length < 20 || packet[0]! >> 4 !== 4) return null;
    ttl = packet[8];
    icmp = packet.subarray((packet[0]! & 0x0f) * 4);
  }
  if (icmp.length < HEADER) return null;
  const type = icmp[0]!;
  if (type === (family === 4 ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY)) {
    const reply: EchoReply = { kind: 'reply', identifier: icmp.readUInt16BE(4), sequence: icmp.readUInt16BE(6), source };
    if (ttl !== undefined) reply.ttl = ttl;
    return reply;
  }
  const reason = errorReason(family, type, icmp[1]!);
  if (reason === null) return null;
  const quoted = quotedEcho(family, icmp.subarray(HEADER));
  return quoted && { kind: 'error', ...quoted, source, reason };
}

/**
 * The echo request an ICMP error quotes: the original IP header and at least its first 8 data bytes
 * (RFC 792), which hold the type, identifier and sequence of our request.
 */
function quotedEcho(family: Family, original: Buffer): { identifier: number; sequence: number; target: string } | null {
  let target: string;
  let inner: Buffer;
  if (family === 4) {
    if (original.length < 20 || original[0]! >> 4 !== 4 || original[9] !== PROTOCOL_ICMP) return null;
    target = formatV4(original.readUInt32BE(16));
    inner = original.subarray((original[0]! & 0x0f) * 4);
  } else {
    // We send no extension headers, so the quoted ICMPv6 header follows the fixed IPv6 header.
    if (original.length < IPV6_HEADER || original[0]! >> 4 !== 6 || original[6] !== NEXT_HEADER_ICMPV6) return null;
    target = formatAddress(6, BigInt(`0x${original.subarray(24, 40).toString('hex')}`));
    inner = original.subarray(IPV6_HEADER);
  }
  if (inner.length < HEADER || inner[0] !== (family === 4 ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST)) return null;
  return { identifier: inner.readUInt16BE(4), sequence: inner.readUInt16BE(6), target };
}
