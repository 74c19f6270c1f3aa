// pmap takes targets as people type them (#12), with the filters' parity, and arguments are never
// silently dropped (#10 item 18).
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runIn, type CommandName } from './harness.js';
import { } from './lab.js';

const dir = mkdtempSync(join(tmpdir(), 'pmap-targets-'));
const server: Server = createServer((socket) => socket.on('error', () => undefined));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
t.teardown(() => server.close());
const open = (server.address() as { port: number }).port;
// Closed on 127.0.0.2-4: nothing listens there (the listener is bound to 127.0.0.1 only).

/** (ip port state) of NDJSON records, sorted: the set of what was scanned. */
const scanned = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { ip: string; port: number; state: string })
    .map((r) => `${r.ip} ${r.port} ${r.state}`)
    .sort();

t.test('positional targets, repeated -ip and repeated -p add up', async (t) => {
  const result = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', String(open), '127.0.0.2', '-ip', '127.0.0.3', '-p', '1', '--json', '--all', '-t', '300']);
  t.same(scanned(result.stdout), [
    `127.0.0.1 ${open} open`, '127.0.0.1 1 closed', `127.0.0.2 ${open} closed`, '127.0.0.2 1 closed', `127.0.0.3 ${open} closed`, '127.0.0.3 1 closed',
  ].sort());
  t.equal(result.code, 0);
});

t.test('-iL, -x and --excludefile: the same targets as iprange | tcpprobe', async (t) => {
  writeFileSync(join(dir, 'list'), '# targets\n127.0.0.1-4\n\n127.0.0.9 127.0.0.10\n');
  writeFileSync(join(dir, 'exclude'), '127.0.0.3\n127.0.0.10 # and this\n');
  const pmap = await runIn('pmap', ['-f', 'tcp', '-iL', join(dir, 'list'), '-x', '127.0.0.2', '--excludefile', join(dir, 'exclude'), '-p', String(open), '--json', '--all', '-t', '300']);
  const specs = await runIn('iprange', ['-x', '127.0.0.2', '--excludefile', join(dir, 'exclude'), '127.0.0.1-4', '127.0.0.9,127.0.0.10']);
  const filters = await runIn('tcpprobe', ['-p', String(open), '--all', '-t', '300'], specs.stdout);
  const probes = await runIn('tcpprobe', ['-p', String(open), '--all', '-t', '300', '-x', '127.0.0.2', '--excludefile', join(dir, 'exclude')], '127.0.0.1-4\n{"ip":"127.0.0.9"}\n127.0.0.10\n');
  const expected = [`127.0.0.1 ${open} open`, `127.0.0.4 ${open} closed`, `127.0.0.9 ${open} closed`];
  t.same(scanned(pmap.stdout), expected, 'pmap');
  t.same(scanned(filters.stdout), expected, 'iprange | tcpprobe');
  t.same(scanned(probes.stdout), expected, 'tcpprobe -x --excludefile');
  t.same([pmap.code, filters.code, probes.code], [0, 0, 0]);
  const fromStdin = await runIn('pmap', ['-f', 'tcp', '-iL', '-', '-p', String(open), '--json'], '127.0.0.1\n');
  t.same(scanned(fromStdin.stdout), [`127.0.0.1 ${open} open`], '-iL -');
});

t.test('arguments are used or refused, never dropped (#10 item 18)', async (t) => {
  writeFileSync(join(dir, 'empty'), '');
  const cases: [CommandName, string[], string][] = [
    ['pmap', ['-f', 'tcp', '-f', 'ping', '-ip', '127.0.0.1'], 'pmap: -f given twice ("tcp" and "ping"): pick one'],
    ['pmap', ['-f', 'tcp', '-m', '', '-ip', '127.0.0.1'], 'pmap: -m must be async, thread or proc, not ""'],
    ['pmap', ['-f', 'tcp', '-iL', join(dir, 'empty')], `pmap: -iL ${join(dir, 'empty')}: the file is empty`],
    ['pmap', ['-f', 'tcp', '-iL', join(dir, 'missing')], `pmap: cannot read -iL ${join(dir, 'missing')}: ENOENT`],
    ['tcpprobe', ['-5', '127.0.0.1'], 'tcpprobe: unknown option -5'],
    ['iprange', ['-198.18.0.1'], 'iprange: unknown option -198.18.0.1'],
    ['iprange', ['127.0.0.0/024'], 'iprange: bad target "127.0.0.0/024": prefix length must be 0-32'],
    ['tojson', ['FILE'], 'tojson: unexpected argument "FILE": tojson reads stdin (tojson < FILE)'],
    ['pingprobe', ['-4', '-6', '127.0.0.1'], 'pingprobe: -4 and -6 exclude each other'],
  ];
  for (const [bin, args, message] of cases) {
    const result = await runIn(bin, args, '');
    t.equal(result.stderr.split('\n')[0], message, `${bin} ${args.join(' ')}`);
    t.equal(result.stdout, '');
    t.equal(result.code, 2);
  }
});

t.test('iprange reads record lines on stdin like every command (#10 item 21)', async (t) => {
  const result = await runIn('iprange', ['-x', '127.0.0.3'], '{"ip":"127.0.0.1","tag":"a"}\n127.0.0.2-3\n{"ip":"127.0.0.3"}\n{"port":1}\n');
  t.equal(result.stdout, '{"ip":"127.0.0.1","tag":"a"}\n{"ip":"127.0.0.2"}\n');
  t.equal(result.stderr, 'iprange: stdin:4: record has no "ip" or "host" field: "{\\"port\\":1}"\n');
  t.equal(result.code, 2);
});
