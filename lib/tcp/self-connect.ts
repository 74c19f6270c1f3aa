// A connect scan's false "open": with nothing listening, the kernel may pick the destination port
// as the source port, and on the same address the SYN meets itself, a simultaneous open (RFC 793
// 3.4) of a socket to itself. Then the local end equals the remote end. Both ends are compared in
// canonical form, because the kernel writes an IPv4-mapped address as `::ffff:127.0.0.1` where the
// target may have been given, or rewritten, as `::ffff:7f00:1` (issue #10 item 3).
import { canonicalAddress } from '../targets.js';

export interface SocketEnds {
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

const canonical = (address: string): string => canonicalAddress(address) ?? address.toLowerCase();

/** Whether a connected socket is connected to itself; `host`/`port` stand in for an unknown remote end. */
export function isSelfConnect(socket: SocketEnds, host: string, port: number): boolean {
  const { localAddress, localPort } = socket;
  if (localAddress === undefined || localPort === undefined) return false;
  const remotePort = socket.remotePort ?? port;
  if (localPort !== remotePort) return false;
  return canonical(localAddress) === canonical(socket.remoteAddress ?? host);
}
