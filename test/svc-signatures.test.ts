// The signature table: its parser, the shipped file, and what known answers identify as.
import t from 'tap';
import { escapeBanner, probeOrder } from '../lib/svc/engine.js';
import { identify, parseSignatures, shippedSignatures, SignatureError } from '../lib/svc/signatures.js';

const table = shippedSignatures();

t.test('the shipped table parses and has port hints', async (t) => {
  t.ok(table.signatures.length > 40, `${table.signatures.length} signatures`);
  t.same(table.portProbes.get(443), ['tls']);
  t.same(table.portProbes.get(6379), ['redis']);
});

t.test('known answers identify as nmap names them', async (t) => {
  const cases: [string, string, Record<string, string>][] = [
    ['banner', 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n', { name: 'ssh', product: 'OpenSSH', version: '9.2p1', info: 'Debian-2+deb12u3' }],
    ['banner', 'SSH-2.0-dropbear_2022.83\r\n', { name: 'ssh', product: 'Dropbear sshd', version: '2022.83' }],
    ['banner', 'SSH-1.99-Cisco-1.25\r\n', { name: 'ssh', info: 'Cisco-1.25' }],
    ['banner', '220 (vsFTPd 3.0.3)\r\n', { name: 'ftp', product: 'vsftpd', version: '3.0.3' }],
    ['banner', '220 ProFTPD 1.3.8 Server (Debian) [::ffff:198.18.0.10]\r\n', { name: 'ftp', product: 'ProFTPD', version: '1.3.8' }],
    ['banner', '220 mail.test ESMTP Exim 4.96 Wed, 25 Nov 2026 15:04:16 +0000\r\n', { name: 'smtp', product: 'Exim smtpd', version: '4.96' }],
    ['banner', '220 mx.test ESMTP Postfix (Debian/GNU)\r\n', { name: 'smtp', product: 'Postfix smtpd' }],
    ['banner', '+OK Dovecot (Debian) ready.\r\n', { name: 'pop3', product: 'Dovecot pop3d' }],
    ['banner', '* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot (Debian) ready.\r\n', { name: 'imap', product: 'Dovecot imapd' }],
    ['banner', '\x4a\x00\x00\x00\x0a8.0.36-0ubuntu0.22.04.1\x00\x08\x00\x00\x00', { name: 'mysql', product: 'MySQL', version: '8.0.36' }],
    ['banner', '\x59\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00', { name: 'mysql', product: 'MariaDB', version: '10.11.6' }],
    ['http', 'HTTP/1.1 200 OK\r\nDate: x\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n', { name: 'http', product: 'Apache httpd', version: '2.4.62', info: 'Debian' }],
    ['http', 'HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n\r\n', { name: 'http', product: 'SimpleHTTPServer', version: '0.6', info: 'Python 3.11.2' }],
    ['http', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', { name: 'http' }],
    ['tls', 'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n', { name: 'http', product: 'nginx', version: '1.22.1' }],
    ['redis', '$592\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n', { name: 'redis', product: 'Redis key-value store', version: '7.0.15' }],
    ['redis', '-NOAUTH Authentication required.\r\n', { name: 'redis', product: 'Redis key-value store', info: 'authentication required' }],
    ['memcached', 'VERSION 1.6.18\r\n', { name: 'memcached', product: 'Memcached', version: '1.6.18' }],
    ['postgres', 'N', { name: 'postgresql', product: 'PostgreSQL DB' }],
    ['dns', '\x00\x1eSV\x84\x00\x00\x01', { name: 'domain' }],
    ['rdp', '\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00', { name: 'ms-wbt-server', product: 'Microsoft Terminal Services' }],
    // A greeting that arrived ahead of the answer to a probe still names the service.
    ['http', 'SSH-2.0-OpenSSH_8.4p1\r\nProtocol mismatch.\n', { name: 'ssh', product: 'OpenSSH', version: '8.4p1' }],
  ];
  for (const [probe, bytes, expected] of cases) {
    t.same(identify(table, probe, Buffer.from(bytes, 'latin1')), expected, `${probe}: ${JSON.stringify(bytes.slice(0, 40))}`);
  }
  t.equal(identify(table, 'banner', Buffer.from('\x00\xff\x13\x37', 'latin1')), null, 'garbage is nothing');
  t.equal(identify(table, 'postgres', Buffer.from('NO')), null, 'two bytes are not an SSLRequest answer');
});

t.test('a table of your own: fields, captures, escapes, first match wins', async (t) => {
  const own = parseSignatures(
    [
      '# comment',
      'ports foo 7000-7002,9000',
      'match foo foo /^FOO ([\\d.]+)(?: \\/(\\w+))?/i product="Foo \\"server\\"" version="$1" info="$2"',
      'match foo bar /^FOO/',
    ].join('\n'),
  );
  t.same(own.portProbes.get(7001), ['foo']);
  t.same(own.portProbes.get(9000), ['foo']);
  t.same(identify(own, 'foo', Buffer.from('foo 1.2 /x')), { name: 'foo', product: 'Foo "server"', version: '1.2', info: 'x' });
  t.same(identify(own, 'foo', Buffer.from('foo 1.2')), { name: 'foo', product: 'Foo "server"', version: '1.2' }, 'an empty capture leaves the field out');
});

t.test('a mistake in the table names its line', async (t) => {
  t.throws(() => parseSignatures('\nmatch x y /(/'), new SignatureError('signatures:2: Invalid regular expression: /(/: Unterminated group'));
  t.throws(() => parseSignatures('match x y /a/ colour="red"'), { message: /signatures:1: unknown field "colour"/ });
  t.throws(() => parseSignatures('match x y /a/ product=red'), { message: /signatures:1: expected key="value"/ });
  t.throws(() => parseSignatures('ports x 0-3'), { message: /signatures:1: bad port "0-3"/ });
  t.throws(() => parseSignatures('nonsense'), { message: /signatures:1: expected "ports PROBE PORTS"/ });
});

t.test('probe order: the port\'s likely probes first, then HTTP and TLS; --all and --probes', async (t) => {
  t.same(probeOrder(6379, { table, all: false }), ['redis', 'http', 'tls']);
  t.same(probeOrder(443, { table, all: false }), ['tls', 'http']);
  t.same(probeOrder(40000, { table, all: false }), ['http', 'tls']);
  t.same(probeOrder(40000, { table, all: true }), ['http', 'tls', 'redis', 'memcached', 'postgres', 'dns', 'rdp']);
  t.same(probeOrder(6379, { table, all: false, probes: ['tls', 'redis'] }), ['redis', 'tls']);
});

t.test('banners are escaped and cut', async (t) => {
  t.equal(escapeBanner(Buffer.from('ok\r\n\t\\\x00\xff', 'latin1')), 'ok\\r\\n\\t\\\\\\x00\\xff');
  t.equal(escapeBanner(Buffer.alloc(1000, 'a')).length, 160);
  t.equal(escapeBanner(Buffer.from('abc\x01'), 5), 'abc', 'an escape is never cut in half');
});
