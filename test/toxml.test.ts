// toxml: documents checked by the real consumer of nmap's format, xmllint against nmap.dtd, and by
// what they say (exact elements), for each kind of input the filters produce.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, collect } from './lab.js';
import { checkValid } from './xml-check.js';

const lines = (...records: object[]): string => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** The <host> elements of a document, in order. */
const hostsOf = (xml: string): string[] => xml.match(/<host>[\s\S]*?<\/host>/g) ?? [];

const cases: Array<{ name: string; input: string; args?: string[]; expect: RegExp[]; hosts: number }> = [
  {
    name: 'ping-only, IPv4 and IPv6, up and down',
    input: lines(
      { ip: '127.0.0.1', alive: true, rtt: 0.5, ttl: 64 },
      { ip: '::1', alive: true, rtt: 0.25 },
      { ip: '127.0.0.9', alive: false, reason: 'host-unreachable' },
    ),
    expect: [
      /<status state="up" reason="echo-reply" reason_ttl="64"\/>\n<address addr="127.0.0.1" addrtype="ipv4"\/>/,
      /<address addr="::1" addrtype="ipv6"\/>/,
      /<status state="down" reason="host-unreachable" reason_ttl="0"\/>\n<address addr="127.0.0.9"/,
      /<times srtt="500" rttvar="250" to="1500"\/>/,
      /<hosts up="2" down="1" total="3"\/>/,
    ],
    hosts: 3,
  },
  {
    name: 'open ports, sorted per host, names from services(5)',
    input: lines(
      { ip: '127.0.0.1', port: 80, state: 'open', rtt: 0.2 },
      { ip: '::1', port: 22, state: 'open', rtt: 0.1 },
      { ip: '127.0.0.1', port: 22, state: 'open', rtt: 0.2 },
    ),
    args: ['-p', '22,80'],
    expect: [
      /<scaninfo type="connect" protocol="tcp" numservices="2" services="22,80"\/>/,
      /portid="22"><state state="open" reason="syn-ack" reason_ttl="0"\/><service name="ssh" method="table" conf="3"\/><\/port>\n<port protocol="tcp" portid="80">/,
    ],
    hosts: 2,
  },
  {
    name: 'all states: open, closed, filtered, unreachable',
    input: lines(
      { ip: '127.0.0.1', port: 9, state: 'closed', rtt: 0.1 },
      { ip: '127.0.0.1', port: 7, state: 'filtered' },
      { ip: '127.0.0.1', port: 8, state: 'open', rtt: 0.1 },
      { ip: '127.0.0.2', state: 'unreachable', reason: 'EHOSTUNREACH' },
      { ip: '127.0.0.3', port: 1, state: 'filtered' },
    ),
    expect: [
      /portid="7"><state state="filtered" reason="no-response"[^\n]*\n<port protocol="tcp" portid="8"><state state="open" reason="syn-ack"[^\n]*\n<port protocol="tcp" portid="9"><state state="closed" reason="conn-refused"/,
      /<status state="down" reason="host-unreach" reason_ttl="0"\/>\n<address addr="127.0.0.2"/,
      // Only filtered ports: nothing says whether the host is there.
      /<status state="unknown" reason="no-response" reason_ttl="0"\/>\n<address addr="127.0.0.3"/,
      /<hosts up="1" down="1" total="3"\/>/,
    ],
    hosts: 3,
  },
  {
    name: 'service fields: name, product, version, method, tls; the banner stays out',
    input: lines(
      { ip: '::1', port: 443, state: 'open', rtt: 0.1, service: { name: 'http', product: 'nginx', version: '1.22.1', banner: 'HTTP/1.1 200 OK', tls: true, method: 'probed' } },
      { ip: '::1', port: 6379, state: 'open', rtt: 0.1, service: { name: 'redis', method: 'table', tls: false } },
      { ip: '::1', port: 25, state: 'open', rtt: 0.1, service: { name: 'smtp', product: 'Exim <&> "x"\u0001', method: 'probed' } },
    ),
    expect: [
      /portid="443"><state[^>]*\/><service name="http" product="nginx" version="1.22.1" method="probed" conf="10" tunnel="ssl"\/>/,
      /portid="6379"><state[^>]*\/><service name="redis" method="table" conf="3"\/>/,
      /<service name="smtp" product="Exim &lt;&amp;&gt; &quot;x&quot;\ufffd" method="probed" conf="10"\/>/,
    ],
    hosts: 1,
  },
  {
    name: 'host names from a "host" field; more than 25 closed ports become extraports',
    input: lines(
      { ip: '127.0.0.1', host: 'localhost', port: 5, state: 'open', rtt: 0.1 },
      ...Array.from({ length: 30 }, (_, i) => ({ ip: '127.0.0.1', host: 'localhost', port: 100 + i, state: 'closed', rtt: 0.1 })),
    ),
    expect: [
      /<hostnames>\n<hostname name="localhost" type="user"\/>\n<\/hostnames>/,
      /<ports><extraports state="closed" count="30">\n<extrareasons reason="conn-refused" count="30" proto="tcp"\/>\n<\/extraports>\n<port protocol="tcp" portid="5">/,
    ],
    hosts: 1,
  },
];

for (const { name, input, args, expect, hosts } of cases) {
  t.test(name, async (t) => {
    const result = await runIn('toxml', args ?? [], input);
    t.equal(result.code, 0, result.stderr);
    t.equal(result.stderr, '');
    for (const pattern of expect) t.match(result.stdout, pattern);
    t.equal(hostsOf(result.stdout).length, hosts, 'one <host> per host');
    t.notMatch(result.stdout, /banner|HTTP\/1\.1 200/, 'nothing the DTD has no place for');
    await checkValid(t, result.stdout);
  });
}

t.test('the stylesheet instruction: nmap.xsl where installed, --stylesheet, --no-stylesheet', async (t) => {
  const byDefault = await runIn('toxml', [], '');
  if (existsSync('/usr/share/nmap/nmap.xsl')) t.match(byDefault.stdout, /<\?xml-stylesheet href="file:\/\/\/usr\/share\/nmap\/nmap.xsl" type="text\/xsl"\?>/);
  const chosen = await runIn('toxml', ['--stylesheet', 'https://example.invalid/a.xsl?x=1&y=2'], '');
  t.match(chosen.stdout, /<\?xml-stylesheet href="https:\/\/example.invalid\/a.xsl\?x=1&amp;y=2" type="text\/xsl"\?>/);
  const none = await runIn('toxml', ['--no-stylesheet'], '');
  t.notMatch(none.stdout, /xml-stylesheet/);
  t.match(none.stdout, /<hosts up="0" down="0" total="0"\/>/);
  await checkValid(t, none.stdout, 'an empty scan is a valid document');
});

t.test('-p - (every port) is written as nmap writes it', async (t) => {
  const result = await runIn('toxml', ['-p', '-', '--no-stylesheet'], '');
  t.match(result.stdout, /<scaninfo type="connect" protocol="tcp" numservices="65535" services="1-65535"\/>/);
});

t.test('usage errors exit 2 and name the flag', async (t) => {
  for (const [args, message] of [
    [['--window', '0'], '--window must be a whole number >= 1, not "0"'],
    [['-p', '80-20'], 'bad port "80-20"'],
    [['--bogus'], 'unknown option --bogus'],
  ] as const) {
    const result = await runIn('toxml', [...args], '');
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message);
    t.equal(result.stdout, '');
  }
});

t.test('records of a host far apart: one <host> while in the window, two past it', async (t) => {
  const input = lines(
    { ip: '127.0.0.1', port: 1, state: 'open' },
    { ip: '127.0.0.2', port: 1, state: 'open' },
    { ip: '127.0.0.1', port: 2, state: 'open' },
  );
  const grouped = await runIn('toxml', [], input);
  t.equal(hostsOf(grouped.stdout).length, 2);
  t.match(hostsOf(grouped.stdout)[0] ?? '', /addr="127.0.0.1"[\s\S]*portid="1"[\s\S]*portid="2"/);
  const split = await runIn('toxml', ['--window', '1'], input);
  t.same(
    hostsOf(split.stdout).map((host) => /addr="([^"]+)"/.exec(host)?.[1]),
    ['127.0.0.1', '127.0.0.2', '127.0.0.1'],
  );
});

t.test('a bad and a truncated last line: reported, skipped, the document valid and says so', async (t) => {
  const result = await runIn('toxml', [], '{"ip":"127.0.0.1","port":1,"state":"open"}\nnot json\n{"ip":"127.0.0.2","port":1,"sta');
  t.equal(result.code, 2);
  t.match(result.stderr, /toxml: stdin:2: not a JSON record or IP address: "not json"\ntoxml: stdin:3: invalid JSON/);
  t.equal(hostsOf(result.stdout).length, 1);
  t.match(result.stdout, /exit="error" errormsg="2 bad input lines skipped"/);
  await checkValid(t, result.stdout);
});

t.test('Ctrl-C mid-stream: exit 130, a valid document holding every host read', async (t) => {
  const child = spawn(binPath('toxml'), ['--window', '1']);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stdin.write(lines({ ip: '127.0.0.1', port: 22, state: 'open' }, { ip: '::1', port: 80, state: 'open' }));
  // With a window of one host, the first is written once the second is read: then both are in.
  while (!stdout.includes('addr="127.0.0.1"')) await once(child.stdout, 'data');
  child.kill('SIGINT');
  const [code] = (await once(child, 'close')) as [number | null];
  t.equal(code, 130);
  t.same(hostsOf(stdout).map((host) => /addr="([^"]+)"/.exec(host)?.[1]), ['127.0.0.1', '::1']);
  t.match(stdout, /exit="error" errormsg="interrupted"\/><hosts up="2" down="0" total="2"\/>\n<\/runstats>\n<\/nmaprun>\n$/);
  await checkValid(t, stdout);
});

/** A listener on an ephemeral port of `host`. */
async function listen(host: string): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => socket.on('error', () => undefined));
  server.listen(0, host);
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

t.test('real scans through the pipe: tcpprobe and pingprobe on IPv4 and IPv6 loopback', async (t) => {
  const v4 = await listen('127.0.0.1');
  const v6 = await listen('::1');
  t.teardown(() => (v4.server.close(), v6.server.close()));
  const ports = `${v4.port},${v6.port}`;
  const scan = await collect(spawn(binPath('tcpprobe'), ['--all', '-p', ports, '127.0.0.1', '::1']));
  t.equal(scan.code, 0, scan.stderr);
  const xml = await runIn('toxml', ['-p', ports], scan.stdout);
  t.equal(xml.code, 0, xml.stderr);
  const [first, second] = hostsOf(xml.stdout);
  t.match(first ?? '', new RegExp(`addr="127.0.0.1" addrtype="ipv4"[\\s\\S]*portid="${v4.port}"><state state="open"`));
  t.match(second ?? '', new RegExp(`addr="::1" addrtype="ipv6"[\\s\\S]*portid="${v6.port}"><state state="open"`));
  t.match(xml.stdout, /<times srtt="\d+" rttvar="\d+" to="\d+"\/>/);
  t.match(xml.stdout, /<hosts up="2" down="0" total="2"\/>/);
  const ping = await collect(spawn(binPath('pingprobe'), ['-t', '300', '127.0.0.1', '::1']));
  const pingXml = await runIn('toxml', [], ping.stdout);
  if (ping.stdout !== '') t.match(pingXml.stdout, /<status state="up" reason="echo-reply"/);
  await checkValid(t, xml.stdout, 'the port scan is valid');
  await checkValid(t, pingXml.stdout, 'the ping sweep is valid');
});
