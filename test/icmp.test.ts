import t from 'tap';
import { echoRequest, internetChecksum, parseIcmp } from '../lib/icmp.js';
import { icmpFilter } from '../lib/icmp-socket.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const PAYLOAD = '706d61702070696e6770726f62650000'; // "pmap pingprobe\0\0"

/** An IPv4 header (no options) around `body`, from `source` to `target`, with this TTL and protocol. */
function ipv4(source: number[], target: number[], ttl: number, body: Buffer, protocol = 1): Buffer {
  const header = Buffer.alloc(20);
  header[0] = 0x45;
  header.writeUInt16BE(20 + body.length, 2);
  header[8] = ttl;
  header[9] = protocol;
  Buffer.from(source).copy(header, 12);
  Buffer.from(target).copy(header, 16);
  return Buffer.concat([header, body]);
}

t.test('the Internet checksum (RFC 1071)', async (t) => {
  // The worked example of RFC 1071 section 3: the sum is ddf2, the checksum its complement.
  t.equal(internetChecksum(hex('0001 f203 f4f5 f6f7')), 0x220d);
  t.equal(internetChecksum(hex('0001 f203 f4f5 f6')), internetChecksum(hex('0001 f203 f4f5 f600')), 'odd length pads with zero');
  t.equal(internetChecksum(hex('ffff ffff')), 0);
});

t.test('builds echo requests byte for byte', async (t) => {
  // Golden bytes computed independently (Python struct) for id 0x1234, seq 1.
  t.equal(echoRequest(4, 0x1234, 1).toString('hex'), `08004dc912340001${PAYLOAD}`);
  const v4 = echoRequest(4, 0xbeef, 0xffff);
  t.equal(internetChecksum(v4), 0, 'a packet with its checksum sums to zero');
  t.equal(v4.readUInt16BE(4), 0xbeef);
  t.equal(v4.readUInt16BE(6), 0xffff);
  // ICMPv6: type 128 and the checksum left to the kernel.
  t.equal(echoRequest(6, 0x1234, 1).toString('hex'), `8000000012340001${PAYLOAD}`);
});

t.test('reads IPv4 echo replies past the IP header, with the TTL', async (t) => {
  const reply = ipv4([127, 0, 0, 9], [127, 0, 0, 1], 63, hex(`0000 0000 1234 0007 ${PAYLOAD}`));
  t.same(parseIcmp(4, reply, '127.0.0.9'), { kind: 'reply', identifier: 0x1234, sequence: 7, source: '127.0.0.9', ttl: 63 });
  // IP options make the header longer than 20 bytes: IHL says where ICMP starts.
  const withOptions = Buffer.concat([reply.subarray(0, 20), hex('01010101'), reply.subarray(20)]);
  withOptions[0] = 0x46;
  t.same(parseIcmp(4, withOptions, '127.0.0.9'), { kind: 'reply', identifier: 0x1234, sequence: 7, source: '127.0.0.9', ttl: 63 });
});

t.test('reads ICMPv6 echo replies without an IP header and without a hop limit', async (t) => {
  t.same(parseIcmp(6, hex(`8100 0000 abcd 0102 ${PAYLOAD}`), '::1'), {
    kind: 'reply',
    identifier: 0xabcd,
    sequence: 0x0102,
    source: '::1',
  });
});

t.test('ignores echo requests, other types and truncated packets', async (t) => {
  const request = ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64, echoRequest(4, 1, 1));
  t.equal(parseIcmp(4, request, '127.0.0.1'), null, 'our own request looped back');
  t.equal(parseIcmp(6, echoRequest(6, 1, 1), '::1'), null, 'an ICMPv6 request');
  t.equal(parseIcmp(4, ipv4([1, 2, 3, 4], [127, 0, 0, 1], 64, hex('0d00 0000 0001 0001')), '1.2.3.4'), null, 'timestamp');
  t.equal(parseIcmp(6, hex('8700 0000 0000 0000'), 'fe80::1'), null, 'neighbour solicitation');
  t.equal(parseIcmp(4, hex('4500'), '127.0.0.1'), null);
  t.equal(parseIcmp(4, ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64, hex('0000')), '127.0.0.1'), null);
  t.equal(parseIcmp(6, hex('8100 0000'), '::1'), null);
});

t.test('matches IPv4 errors to the request they quote', async (t) => {
  const quoted = ipv4([198, 18, 0, 1], [198, 18, 0, 200], 64, echoRequest(4, 0x1234, 42));
  const unreachable = ipv4([198, 18, 0, 1], [198, 18, 0, 1], 64, Buffer.concat([hex('0301 0000 0000 0000'), quoted.subarray(0, 28)]));
  t.same(parseIcmp(4, unreachable, '198.18.0.1'), {
    kind: 'error',
    identifier: 0x1234,
    sequence: 42,
    target: '198.18.0.200',
    source: '198.18.0.1',
    reason: 'host-unreachable',
  });
  const codes: [number, number, string][] = [
    [3, 0, 'net-unreachable'],
    [3, 13, 'admin-prohibited'],
    [3, 10, 'host-prohibited'],
    [3, 14, 'unreachable-code-14'],
    [11, 0, 'time-exceeded'],
  ];
  for (const [type, code, reason] of codes) {
    const error = ipv4([10, 0, 0, 1], [198, 18, 0, 1], 64, Buffer.concat([Buffer.from([type, code, 0, 0, 0, 0, 0, 0]), quoted]));
    t.match(parseIcmp(4, error, '198.18.0.254'), { kind: 'error', reason, target: '198.18.0.200' }, `type ${type} code ${code}`);
  }
  const aboutTcp = ipv4([198, 18, 0, 1], [198, 18, 0, 200], 64, hex('0000 0000 0000 0000'), 6);
  t.equal(parseIcmp(4, ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64, Buffer.concat([hex('0303 0000 0000 0000'), aboutTcp])), '1.1.1.1'), null, 'quoting a TCP segment');
  const aboutReply = ipv4([198, 18, 0, 1], [198, 18, 0, 200], 64, hex('0000 0000 1234 002a'));
  t.equal(parseIcmp(4, ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64, Buffer.concat([hex('0301 0000 0000 0000'), aboutReply])), '1.1.1.1'), null, 'quoting a reply');
  t.equal(parseIcmp(4, ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64, Buffer.concat([hex('0301 0000 0000 0000'), quoted.subarray(0, 24)])), '1.1.1.1'), null, 'quote cut short');
});

t.test('matches ICMPv6 errors to the request they quote', async (t) => {
  const request = echoRequest(6, 0x4242, 9);
  const header = Buffer.alloc(40);
  header[0] = 0x60;
  header.writeUInt16BE(request.length, 4);
  header[6] = 58;
  header[7] = 64;
  hex('fd00 0198 0018 0000 0000 0000 0000 0001').copy(header, 8);
  hex('fd00 0198 0018 0000 0000 0000 0000 00c8').copy(header, 24);
  const error = Buffer.concat([hex('0103 0000 0000 0000'), header, request]);
  t.same(parseIcmp(6, error, 'fd00:198:18::1'), {
    kind: 'error',
    identifier: 0x4242,
    sequence: 9,
    target: 'fd00:198:18::c8',
    source: 'fd00:198:18::1',
    reason: 'host-unreachable',
  });
  error[1] = 1;
  t.match(parseIcmp(6, error, 'fd00:198:18::1'), { reason: 'admin-prohibited' });
  error[0] = 3;
  error[1] = 0;
  t.match(parseIcmp(6, error, 'fd00:198:18::1'), { reason: 'time-exceeded' });
  header[6] = 6;
  t.equal(parseIcmp(6, Buffer.concat([hex('0104 0000 0000 0000'), header, request]), 'fd00::1'), null, 'quoting TCP');
});

t.test('kernel filters pass replies and errors only', async (t) => {
  // raw(7): a set bit drops the type. Pass 0 (reply), 3 (unreachable), 11 (time exceeded).
  t.equal(icmpFilter(4), 0xfffff7f6);
  const v6 = icmpFilter(6) as Buffer;
  const words = new Uint32Array(v6.buffer, v6.byteOffset, 8);
  t.equal(words[0], 0xfffffff5, 'types 1 and 3 pass');
  t.equal(words[4], 0xfffffffd, 'type 129 passes, 128 (our own requests) is dropped');
  t.equal(words[7], 0xffffffff);
});
