// Host names as targets. Every name here resolves through a private /etc/hosts (a mount namespace
// of the test's own, `unshare -m` + bind mounts) whose resolv.conf points at a silent UDP socket
// this test opens on loopback: a name not in the hosts file hangs there, and nothing ever asks a
// real DNS server.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { mapAhead } from '../lib/targets/ahead.js';
import { lineItems, parseTargetSpec } from '../lib/targets/input.js';
import { nameProblem } from '../lib/targets/names.js';
import type { CommandName } from './harness.js';
import { has, RUNNER, startRunner, type RunResult } from './lab.js';

t.test('which texts are names, and why a bad one is not', async (t) => {
  t.equal(nameProblem('localhost'), null);
  t.equal(nameProblem('alpha.pmap.test.'), null);
  t.equal(nameProblem('a_b.example'), null);
  t.equal(nameProblem(`${'a'.repeat(63)}.test`), null);
  t.equal(nameProblem(`${'a.'.repeat(126)}ab`), 'host name longer than 253 characters');
  t.equal(nameProblem(`${'a'.repeat(64)}.test`), 'host name label longer than 63 characters');
  t.equal(nameProblem('a..b'), 'empty label in host name');
  t.equal(nameProblem('-a.test'), 'host name label "-a" starts or ends with -');
  t.equal(nameProblem('a!.test'), 'not an IP address, range, CIDR or host name');
  t.equal(nameProblem('1.2.3.256'), 'not an IP address, range or CIDR');
  t.same(parseTargetSpec('127.0.0.1-2,localhost'), [{ family: 4, first: 2130706433n, last: 2130706434n }, 'localhost']);
  t.throws(() => parseTargetSpec('127.0.0.300'), /bad target "127\.0\.0\.300": not an IP address/);
  t.throws(() => parseTargetSpec(`${'x'.repeat(254)}`), /host name longer than 253 characters/);
  t.throws(() => parseTargetSpec('127.0.0.0/024'), /bad target "127\.0\.0\.0\/024": prefix length must be 0-32/);
});

t.test('input lines: records with ip or host, specs and names, comments', async (t) => {
  t.same(lineItems('{"host":"localhost","x":1}', 1, []), [{ kind: 'name', host: 'localhost', fields: { host: 'localhost', x: 1 } }]);
  t.same(lineItems('{"ip":"::ffff:127.0.0.1"}', 1, []), [{ kind: 'record', record: { ip: '::ffff:127.0.0.1' } }]);
  t.throws(() => lineItems('not an ip', 3, []), /stdin:3: bad target "not an ip": not an IP address, range or CIDR/, 'stdin: one spec a line');
  t.same(lineItems('127.0.0.1 localhost # two', 1, [], undefined, true), [
    { kind: 'ranges', ranges: [{ family: 4, first: 2130706433n, last: 2130706433n }] },
    { kind: 'name', host: 'localhost', fields: {} },
  ]);
  t.same(lineItems('{"ip":"127.0.0.1"}', 1, [{ family: 4, first: 2130706433n, last: 2130706433n }]), [], 'excluded');
  t.throws(() => lineItems('{"x":1}', 7, []), /stdin:7: record has no "ip" or "host" field/);
  t.throws(() => lineItems('{"host":"a..b"}', 8, []), /stdin:8: bad target "a\.\.b": empty label/);
});

t.test('mapAhead: results in input order, slow ones overlapped, a bounded window', async (t) => {
  let inFlight = 0;
  let most = 0;
  const delays = [40, 5, 30, 1, 1, 20, 0, 10];
  const started = performance.now();
  const out: number[] = [];
  for await (const value of mapAhead(delays.keys(), async (i) => {
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, delays[i]));
    inFlight--;
    return i;
  }, 3)) out.push(value);
  t.same(out, [0, 1, 2, 3, 4, 5, 6, 7]);
  t.ok(most <= 3 && most >= 2, `at most 3 at once, and more than 1 (${most})`);
  t.ok(performance.now() - started >= 40);
  // A synchronous result is not held back.
  const doubled: number[] = [];
  for await (const x of mapAhead([1, 2, 3], (x) => x * 2, 4)) doubled.push(x);
  t.same(doubled, [2, 4, 6]);
});

const why = process.getuid?.() !== 0 ? 'needs root for unshare -m' : !has('unshare') ? 'unshare not installed' : null;

t.test('commands resolve names from a private /etc/hosts', { skip: why ?? false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pmap-names-'));
  // The "DNS server" of the namespace: bound on loopback, never answers.
  writeFileSync(
    join(dir, 'hosts'),
    ['127.0.0.1 localhost', '::1 ip6-localhost', '127.0.0.77 alpha.pmap.test', '127.0.0.1 beta.pmap.test', '::1 beta.pmap.test', ''].join('\n'),
  );
  // glibc reads no port from resolv.conf: the silent socket must be on 53. A loopback address of
  // our own, so nothing else on the machine is in the way.
  const dnsIp = `127.${53 + (process.pid % 100)}.0.53`;
  const silent53 = createSocket('udp4');
  silent53.bind(53, dnsIp);
  await once(silent53, 'listening');
  t.teardown(() => silent53.close());
  writeFileSync(join(dir, 'resolv.conf'), `nameserver ${dnsIp}\noptions timeout:3 attempts:1\n`);

  const server: Server = createServer((socket) => socket.on('error', () => undefined));
  server.listen(0, '::');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;

  // One runner (test/fixtures/runner.ts) in the private mount namespace runs every command of this
  // test in-process: the names resolve in the namespace's files, one node start-up in all.
  const runner = startRunner(
    spawn('unshare', ['-m', 'sh', '-c', 'mount --bind "$0/hosts" /etc/hosts && mount --bind "$0/resolv.conf" /etc/resolv.conf && exec "$@"', dir, process.execPath, RUNNER], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  t.teardown(() => runner.end());
  const run = (bin: CommandName, args: string[], input?: string): Promise<RunResult> => runner.run(bin, args, input);
  const records = (out: string): unknown[] => out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as unknown);

  await t.test('tcpprobe: names, -4/-6, a hanging name reported and the rest scanned', async (t) => {
    const result = await run('tcpprobe', ['-p', String(port), '--ordered', '--all', '--resolve-timeout', '400', 'alpha.pmap.test', 'nope.pmap.test', 'beta.pmap.test', '127.0.0.1']);
    // A name's addresses come in the resolver's order (RFC 6724: ::1 first here, or not): compare as sets.
    const got = records(result.stdout).map((r) => {
      const { rtt: _rtt, ...rest } = r as Record<string, unknown>;
      return JSON.stringify(rest);
    });
    t.same(got.sort(), [
      { ip: '127.0.0.77', host: 'alpha.pmap.test', port, state: 'open' },
      { ip: '127.0.0.1', host: 'beta.pmap.test', port, state: 'open' },
      { ip: '::1', host: 'beta.pmap.test', port, state: 'open' },
      { ip: '127.0.0.1', port, state: 'open' },
    ].map((r) => JSON.stringify(r)).sort());
    t.equal((records(result.stdout)[0] as { host?: string }).host, 'alpha.pmap.test', 'input order kept');
    t.equal(result.stderr, 'tcpprobe: cannot resolve "nope.pmap.test": timed out after 400 ms\n');
    t.equal(result.code, 2);
    const v6 = await run('tcpprobe', ['-p', String(port), '-6', 'beta.pmap.test', 'ip6-localhost']);
    t.same(records(v6.stdout).map((r) => (r as { ip: string; host: string }).host + ' ' + (r as { ip: string }).ip).sort(), ['beta.pmap.test ::1', 'ip6-localhost ::1']);
    t.equal(v6.code, 0);
    const v4 = await run('tcpprobe', ['-p', String(port), '-4', 'ip6-localhost']);
    t.equal(v4.stderr, 'tcpprobe: cannot resolve "ip6-localhost": no IPv4 address\n');
    t.equal(v4.code, 2);
  });

  await t.test('stdin records with a host, -R adds the reverse name, -x takes names', async (t) => {
    const input = '{"host":"alpha.pmap.test","tag":1}\nip6-localhost\n{"ip":"127.0.0.1","tag":3}\n';
    const result = await run('tcpprobe', ['-p', String(port), '--ordered', '-R', '-x', 'localhost'], input);
    const got = records(result.stdout).map((r) => {
      const { rtt: _rtt, ...rest } = r as Record<string, unknown>;
      return rest;
    });
    t.same(got, [
      { host: 'alpha.pmap.test', tag: 1, ip: '127.0.0.77', ptr: 'alpha.pmap.test', port, state: 'open' },
      { ip: '::1', host: 'ip6-localhost', ptr: 'ip6-localhost', port, state: 'open' },
    ]);
    t.equal(result.stderr, '');
    t.equal(result.code, 0);
  });

  await t.test('iprange and pmap take names too; pmap shows NAME (IP)', async (t) => {
    const ips = await run('iprange', ['127.0.0.1-2', 'alpha.pmap.test', '-x', '127.0.0.2']);
    t.equal(ips.stdout, '{"ip":"127.0.0.1"}\n{"ip":"127.0.0.77","host":"alpha.pmap.test"}\n');
    const table = await run('pmap', ['-f', 'tcp', '-p', String(port), '-ip', 'alpha.pmap.test']);
    t.match(table.stdout, new RegExp(`^alpha\\.pmap\\.test \\(127\\.0\\.0\\.77\\)  ${port}/tcp  open`, 'm'));
    t.equal(table.code, 0);
  });

  await t.test('bad names exit 2 naming them, before anything is scanned', async (t) => {
    const long = `${'a'.repeat(60)}.`.repeat(5) + 'test';
    for (const [name, reason] of [
      [long, 'host name longer than 253 characters'],
      ['bad..name', 'empty label in host name'],
      ['x-.test', 'host name label "x-" starts or ends with -'],
    ] as const) {
      const result = await run('tcpprobe', ['-p', String(port), '127.0.0.1', name]);
      t.match(result.stderr, `bad target "${name.length > 60 ? name.slice(0, 60) + '...' : name}": ${reason}`);
      t.equal(result.stdout, '');
      t.equal(result.code, 2);
    }
  });
});
