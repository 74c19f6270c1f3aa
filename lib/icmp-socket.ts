// Raw ICMP sockets through @neuralegion/raw-socket.
//
// Why this module and not `raw-socket`: both are the same C++ addon, but `raw-socket` 1.8.1 compiles
// with node-gyp at install (a compiler on every machine, and nan pinned to 2.19, which stops at Node
// 21), while @neuralegion/raw-socket ships prebuilt binaries for Linux/macOS/Windows and Node 10-22,
// has typings, and falls back to node-gyp only where no prebuild fits. So `npm ci` needs nothing but
// the registry. Neither opens unprivileged ICMP datagram sockets on Linux (SOCK_DGRAM is tried on
// macOS only), so without CAP_NET_RAW we fall back to the system ping binary (see ping-command.ts).
//
// It is imported lazily: a machine where the addon cannot load still pings through that fallback.
import { WANTED_TYPES } from './icmp.js';
import type { IcmpSocket, OpenIcmpSocket } from './icmp-engine.js';
import type { Family } from './targets.js';

const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SEND_BUFFER_BYTES = 8 * 1024 * 1024;
/** Packets read at most per readable event (the rest on the next turn: other events get theirs). */
const READS_PER_EVENT = 256;
const WOULD_BLOCK = /temporarily unavailable|no buffer space|EAGAIN|ENOBUFS/i;

/**
 * The wrapper's own object under its Socket (index.js): send and recv are one sendto/recvfrom each,
 * on a non-blocking socket, calling back at once or throwing (EAGAIN when there is nothing to read).
 * Either reopens the socket if it was closed (raw.cc CreateSocket), hence the `closed` guard below.
 */
interface SocketWrap {
  send(buffer: Buffer, offset: number, length: number, address: string, done: (bytes: number) => void): void;
  recv(buffer: Buffer, done: (buffer: Buffer, bytes: number, source: string) => void): void;
}
// raw(7): ICMP_FILTER on SOL_RAW takes a 32-bit mask, a set bit filters that ICMP type out.
const SOL_RAW = 255;
const ICMP_FILTER = 1;
// RFC 3542 3.2: ICMP6_FILTER on IPPROTO_ICMPV6 takes 256 bits; on Linux a set bit blocks that type.
const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;

/** The kernel-side filter keeping only the types a probe needs (no one else's echo requests, nor ours on lo). */
export function icmpFilter(family: Family): Buffer | number {
  if (family === 4) {
    let pass = 0;
    for (const type of WANTED_TYPES[4]) pass |= 1 << type;
    return ~pass >>> 0;
  }
  const words = new Uint32Array(8).fill(0xffffffff);
  for (const type of WANTED_TYPES[6]) words[type >> 5] = (words[type >> 5]! & ~(1 << (type & 31))) >>> 0;
  return Buffer.from(words.buffer);
}

/** Loads the addon and returns a socket opener; rejects when the addon cannot load here. */
export async function loadRawSocket(): Promise<OpenIcmpSocket> {
  const raw = (await import('@neuralegion/raw-socket')).default;
  return (family, handlers): IcmpSocket => {
    const socket = raw.createSocket({
      protocol: family === 4 ? raw.Protocol.ICMP : raw.Protocol.ICMPv6,
      addressFamily: family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
    });
    // Echo requests to silent addresses on a local segment wait in the kernel's ARP queue (about
    // 3 s, until resolution fails) and count against the socket's send buffer meanwhile; with the
    // default 208 KiB a /24 sweep of dead hosts stalled every send for seconds (10 s for a /24,
    // measured). socket(7): SO_SNDBUFFORCE lifts wmem_max for a privileged process, SO_SNDBUF
    // otherwise (capped at wmem_max). The receive buffer likewise: sends go out back to back now,
    // and on loopback a window of replies is there before the first is read.
    for (const options of [[SO_SNDBUFFORCE, SO_SNDBUF], [SO_RCVBUFFORCE, SO_RCVBUF]]) {
      for (const option of options) {
        try {
          socket.setOption(SOL_SOCKET, option!, SEND_BUFFER_BYTES);
          break;
        } catch {
          // not permitted: try the next, or keep the default
        }
      }
    }
    const filter = icmpFilter(family);
    try {
      if (typeof filter === 'number') socket.setOption(SOL_RAW, ICMP_FILTER, filter);
      // The addon takes a Buffer value when a length is given; its typings only know numbers.
      else socket.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, filter as unknown as number, filter.length);
    } catch {
      // Not Linux: the engine drops what is not ours by type and identifier anyway.
    }
    // The wrapper's Socket sends one queued packet per writable event and reads one packet per
    // readable event: a turn of the event loop per packet (65536 hosts: 4.8-5.0 s against the C
    // floor's 0.5 s). Here a send goes straight to sendto while the wrapper's queue is empty (else
    // behind it, in order), and each readable event reads until EAGAIN, bounded.
    const internals = socket as unknown as { wrap: SocketWrap; requests: unknown[] };
    const wrap = internals.wrap;
    const inbox = Buffer.alloc(4096);
    let closed = false;
    let backlog = false;
    const deliver = (buffer: Buffer, bytes: number, source: string): void => handlers.message(buffer.subarray(0, bytes), source);
    const drain = (): void => {
      const limit = Error.stackTraceLimit;
      // The EAGAIN that ends each drain is thrown as an Error: no stack for it.
      Error.stackTraceLimit = 0;
      backlog = true;
      try {
        for (let reads = 1; reads < READS_PER_EVENT && !closed; reads++) wrap.recv(inbox, deliver);
        backlog = !closed;
      } catch {
        // EAGAIN: drained. Anything else comes again through the wrapper's next read, as an 'error'.
        backlog = false;
      } finally {
        Error.stackTraceLimit = limit;
      }
    };
    // The addon hands every packet in one shared buffer: the engine parses it before returning.
    socket.on('message', (packet: Buffer, source: string) => {
      handlers.message(packet, source);
      drain();
    });
    socket.on('error', (err: Error) => handlers.error(err));
    return {
      send: (packet, address, sent) => {
        if (!closed && internals.requests.length === 0) {
          let error: Error | null = null;
          try {
            wrap.send(packet, 0, packet.length, address, () => undefined);
          } catch (err) {
            error = err as Error;
          }
          // A full buffer: the packet waits in the wrapper's queue for the socket to be writable.
          if (!error || !WOULD_BLOCK.test(error.message)) return sent(error);
        }
        socket.send(packet, 0, packet.length, address, (err: Error | null) => sent(err));
      },
      close: () => {
        closed = true;
        socket.close();
      },
      backlog: () => backlog && !closed,
    };
  };
}
