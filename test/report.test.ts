import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { summaryLine, Tally, TerminalReport } from '../lib/report.js';
import { ServiceNames } from '../lib/services.js';

const dir = mkdtempSync(join(tmpdir(), 'pmap-report-'));
const servicesFile = join(dir, 'services');
writeFileSync(servicesFile, '# comment\nssh\t\t22/tcp\t\t\t\t# SSH\nhttp\t\t80/tcp\t\twww\nhttp-alt 80/tcp\nsyslog\t\t514/udp\nbad line\n');

t.test('service names come from the services file, tcp only, first name wins', async (t) => {
  const names = new ServiceNames(servicesFile);
  t.equal(names.tcp(22), 'ssh');
  t.equal(names.tcp(80), 'http');
  t.equal(names.tcp(514), undefined);
  t.equal(new ServiceNames(join(dir, 'missing')).tcp(22), undefined, 'no file, no names');
});

t.test('lines for hosts and ports, coloured only when asked', async (t) => {
  const services = new ServiceNames(servicesFile);
  const plain = new TerminalReport(new PassThrough(), { colour: false, services });
  t.equal(plain.header('ping'), 'HOST             STATE  RTT         TTL   METHOD');
  t.equal(plain.line({ ip: '127.0.0.1', alive: true, rtt: 0.0512, ttl: 64 }), '127.0.0.1        up     0.05 ms     64    icmp');
  t.equal(plain.line({ ip: '::1', alive: true, rtt: 1, method: 'tcp' }), '::1              up     1.00 ms     -     tcp');
  t.equal(plain.line({ ip: '127.0.0.2', alive: false }), '127.0.0.2        down   -           -     no reply');
  t.equal(plain.line({ ip: '127.0.0.3', alive: false, reason: 'host-unreachable' }), '127.0.0.3        down   -           -     host-unreachable');
  t.equal(plain.header('tcp'), 'HOST             PORT       STATE        SERVICE         RTT');
  t.equal(plain.line({ ip: '127.0.0.1', port: 22, state: 'open', rtt: 0.2 }), '127.0.0.1        22/tcp     open         ssh             0.20 ms');
  t.equal(plain.line({ ip: '::1', port: 7, state: 'closed', rtt: 1 }), '::1              7/tcp      closed       unknown         1.00 ms');
  const colour = new TerminalReport(new PassThrough(), { colour: true, services });
  t.equal(colour.line({ ip: '127.0.0.1', port: 80, state: 'open' }), '127.0.0.1        80/tcp     \x1b[32mopen       \x1b[0m  http');
  t.equal(plain.line({ ip: '::1', port: 22, state: 'open', rtt: 1, service: { name: 'ssh-alt' } }), '::1              22/tcp     open         ssh-alt         1.00 ms', 'a probed name wins');
});

/** A report with a tcp table, and the text it has printed so far. */
function tcpReport(portsPerHost: number): { report: TerminalReport; text(): string } {
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return { report: new TerminalReport(out, { colour: false, services: new ServiceNames(servicesFile), portsPerHost }), text: () => text };
}

t.test('tcp: a host printed when all its ports are in, sorted, with nmap\'s "Not shown" line', async (t) => {
  const { report, text } = tcpReport(4);
  {
    report.write({ ip: '127.0.0.1', port: 443, state: 'open', rtt: 1 });
    report.hide({ ip: '127.0.0.2', port: 22, state: 'filtered' });
    report.write({ ip: '127.0.0.1', port: 22, state: 'open', rtt: 1 });
    report.hide({ ip: '127.0.0.1', port: 23, state: 'closed', rtt: 1 });
    t.equal(text(), '', 'nothing before the host is complete');
    report.hide({ ip: '127.0.0.1', port: 24, state: 'filtered' });
    t.equal(
      text(),
      '127.0.0.1        22/tcp     open         ssh             1.00 ms\n' +
        '127.0.0.1        443/tcp    open         unknown         1.00 ms\n' +
        '127.0.0.1        Not shown: 1 closed port, 1 filtered port\n',
    );
    // 127.0.0.2 only filtered so far, and then unreachable: nothing answered, nothing to show.
    report.hide({ ip: '127.0.0.2', state: 'unreachable', reason: 'EHOSTUNREACH' });
    report.hide({ ip: '127.0.0.3', port: 1, state: 'closed', rtt: 1 });
    report.flush();
  }
  t.match(text(), /127\.0\.0\.1 {8}Not shown: 1 closed port, 1 filtered port\n127\.0\.0\.3 {8}Not shown: 1 closed port\n$/, 'an interrupted host flushed as it stands; a silent one not at all');
  t.notMatch(text(), /127\.0\.0\.2/);
});

t.test('tcp with --all: every port a row, no "Not shown" line', async (t) => {
  const { report, text } = tcpReport(2);
  report.write({ ip: '::1', port: 80, state: 'closed', rtt: 1 });
  report.write({ ip: '::1', port: 22, state: 'filtered' });
  t.equal(text(), '::1              22/tcp     filtered     ssh\n::1              80/tcp     closed       http            1.00 ms\n');
});

t.test('tally and summary line', async (t) => {
  const tally = new Tally();
  for (const record of [
    { ip: '127.0.0.1', port: 22, state: 'open' },
    { ip: '127.0.0.1', port: 23, state: 'closed' },
    { ip: '127.0.0.2', port: 22, state: 'filtered' },
    // tcpprobe --all: one record without a port for a host that answered EHOSTUNREACH.
    { ip: '127.0.0.3', state: 'unreachable', reason: 'EHOSTUNREACH' },
  ]) tally.add(record);
  t.same(tally.totals, { hosts: 3, up: 1, ports: 3, open: 1, closed: 1, filtered: 1, unreachable: 1 });
  t.equal(
    summaryLine('tcp', tally.totals, 1.234, 'done'),
    'pmap done: 3 IP addresses (1 host up), 3 ports: 1 open, 1 closed, 1 filtered, 1 host unreachable, scanned in 1.23 seconds',
  );
  const ping = new Tally();
  ping.add({ ip: '127.0.0.1', alive: true });
  ping.add({ ip: '127.0.0.9', alive: false });
  t.equal(summaryLine('ping', ping.totals, 0.5, 'interrupted'), 'pmap interrupted: 2 IP addresses (1 host up), scanned in 0.50 seconds');
  const one = new Tally();
  one.add({ ip: '127.0.0.1', alive: false });
  t.equal(summaryLine('ping', one.totals, 0, 'failed'), 'pmap failed: 1 IP address (0 hosts up), scanned in 0.00 seconds');
});
