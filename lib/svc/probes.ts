// What svcprobe sends. Only what a well-behaved client of each protocol sends first: no exploit-like
// payloads, nothing that changes server state. Each probe also says when an answer is complete,
// so a read ends as soon as there is something to match instead of waiting out the timeout.

export interface Probe {
  name: string;
  /** Bytes sent on a fresh connection (the banner "probe" sends nothing). */
  payload(host: string): Buffer;
  /** Whether the bytes so far are a whole answer. */
  complete(bytes: Buffer): boolean;
}

const lineEnded = (bytes: Buffer): boolean => bytes.includes(0x0a);

/** A MySQL packet (3-byte little-endian length, sequence byte) whose length has arrived. */
const mysqlPacket = (bytes: Buffer): boolean => bytes.length >= 4 && bytes.length >= 4 + bytes.readUIntLE(0, 3) && bytes[4] === 0x0a;

/** The Host header names the address as given (RFC 9110 7.2), IPv6 in brackets. */
const hostHeader = (host: string): string => (host.includes(':') ? `[${host}]` : host);

export function httpRequest(host: string): Buffer {
  return Buffer.from(`GET / HTTP/1.1\r\nHost: ${hostHeader(host)}\r\nUser-Agent: svcprobe\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
}

/** The end of an HTTP response's header block, or a non-HTTP answer's first line. */
const httpComplete = (bytes: Buffer): boolean =>
  bytes.includes('\r\n\r\n') || (bytes.length >= 5 && !bytes.subarray(0, 5).equals(Buffer.from('HTTP/')) && lineEnded(bytes));

/** RFC 1035 4.2.2: a 2-byte length, then the message; the id 0x5356 ("SV") is ours. */
function dnsQuery(): Buffer {
  // version.bind CH TXT: the conventional question for a server's software, answered or refused.
  const labels = Buffer.from('\x07version\x04bind\x00', 'latin1');
  const header = Buffer.from([0x53, 0x56, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
  const question = Buffer.concat([header, labels, Buffer.from([0x00, 0x10, 0x00, 0x03])]);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(question.length);
  return Buffer.concat([length, question]);
}

const framed = (bytes: Buffer): boolean => bytes.length >= 2 && bytes.length >= 2 + bytes.readUInt16BE(0);

/** MS-RDPBCGR 2.2.1.1: an X.224 Connection Request inside TPKT, asking for standard RDP security. */
const RDP_REQUEST = Buffer.from([0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);

export const PROBES: Record<string, Probe> = {
  banner: {
    name: 'banner',
    payload: () => Buffer.alloc(0),
    complete: (bytes) => lineEnded(bytes) || mysqlPacket(bytes),
  },
  http: { name: 'http', payload: httpRequest, complete: httpComplete },
  // The TLS probe's payload is the ClientHello node:tls writes, then this request inside the tunnel.
  tls: { name: 'tls', payload: httpRequest, complete: httpComplete },
  redis: {
    name: 'redis',
    // RESP array ["INFO", "server"]: the section with redis_version.
    payload: () => Buffer.from('*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n'),
    complete: (bytes) => (bytes[0] === 0x24 ? bytes.includes('redis_version:') && bytes.indexOf('\r\n', bytes.indexOf('redis_version:')) > 0 : lineEnded(bytes)),
  },
  memcached: { name: 'memcached', payload: () => Buffer.from('version\r\n'), complete: lineEnded },
  // PostgreSQL protocol 3 SSLRequest: length 8, code 80877103; the server answers one byte.
  postgres: { name: 'postgres', payload: () => Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), complete: (bytes) => bytes.length >= 1 },
  dns: { name: 'dns', payload: dnsQuery, complete: framed },
  rdp: { name: 'rdp', payload: () => RDP_REQUEST, complete: (bytes) => bytes.length >= 4 && bytes.length >= bytes.readUInt16BE(2) },
};

/** Sent after the banner wait when the port suggests nothing (and with --all, the rest). */
export const DEFAULT_ORDER = ['http', 'tls'];
export const ALL_PROBES = ['http', 'tls', 'redis', 'memcached', 'postgres', 'dns', 'rdp'];
