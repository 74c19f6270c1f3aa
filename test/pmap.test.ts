import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, buildLab, collect, labUnavailable, loopbackNamespace, waitForText } from './lab.js';

const dir = mkdtempSync(join(tmpdir(), 'pmap-test-'));

/** Listen on ephemeral loopback ports; returns the ports and a closer. */
async function listeners(count: number): Promise<{ ports: number[]; close(): void }> {
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer((socket) => socket.on('error', () => undefined));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as { port: number }).port).sort((a, b) => a - b);
  return { ports, close: () => servers.forEach((s) => s.close()) };
}

/** A loopback port nobody listens on (bound then released). */
async function closedPort(): Promise<number> {
  const { ports, close } = await listeners(1);
  close();
  return ports[0] as number;
}

t.test('usage errors: one line naming the flag, a hint, exit 2, no scan', async (t) => {
  const cases: [string[], string][] = [
    [['-ip', '127.0.0.1'], 'missing -f ping|tcp'],
    [['-f', 'udp', '-ip', '127.0.0.1'], '-f must be ping or tcp, not "udp"'],
    [['-f', 'tcp'], 'missing -ip SPEC (an address, range, CIDR, list or host name)'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-n', '0'], '-n must be a whole number >= 1, not "0"'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-n', 'abc'], '-n must be a whole number >= 1, not "abc"'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-n', '-3'], '-n must be a whole number >= 1, not "-3"'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-n'], '-n must be a whole number >= 1, not ""'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-m', 'fork'], '-m must be async, thread or proc, not "fork"'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-p', '80-20'], 'bad port "80-20": the range ends before it starts'],
    [['-f', 'ping', '-ip', '127.0.0.300'], 'bad target "127.0.0.300": not an IP address, range or CIDR'],
    [['-f', 'ping', '-ip', '127.0.0.1', '--frobnicate'], 'unknown option --frobnicate'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-w', '/nonexistent-dir/result.json'], 'cannot write -w /nonexistent-dir/result.json: no such file or directory (ENOENT)'],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-w', dir], `cannot write -w ${dir}: it is a directory`],
    [['-f', 'tcp', '-ip', '127.0.0.1', '-w', `${dir}/new/`], `cannot write -w ${dir}/new/: it is a directory`],
    [['-f', 'ping', '-ip', '127.0.0.1', '-n', '70000'], '-n must be at most 65535 for ping (16-bit ICMP sequence numbers)'],
  ];
  for (const [args, message] of cases) {
    const result = await runIn('pmap', args);
    t.equal(result.stderr, `pmap: ${message}\npmap: Try 'pmap --help' for more information.\n`, args.join(' '));
    t.equal(result.stdout, '', 'nothing on stdout');
    t.equal(result.code, 2);
  }
});

t.test('tcp on loopback: the table, the summary and the JSON file', async (t) => {
  const open = await listeners(3);
  t.teardown(open.close);
  const closed = await closedPort();
  const ports = [...open.ports, closed].join(',');
  const file = join(dir, 'loopback.json');
  const result = await runIn('pmap', ['-n', '10', '-f', 'tcp', '-ip', '127.0.0.1', '-p', ports, '-w', file]);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  const lines = result.stdout.trimEnd().split('\n');
  t.match(lines[0], /^HOST\s+PORT\s+STATE\s+SERVICE\s+RTT$/);
  t.equal(lines.at(-2), '127.0.0.1        Not shown: 1 closed port', "nmap's line for the hidden ports");
  const rows = lines.slice(1, -2);
  t.equal(rows.length, 3, 'one line per open port, no closed ones');
  for (const [i, port] of open.ports.entries()) t.match(rows[i], new RegExp(`^127\\.0\\.0\\.1\\s+${port}/tcp\\s+open\\s+\\S+\\s+\\d+\\.\\d\\d ms$`));
  t.match(lines.at(-1), /^pmap done: 1 IP address \(1 host up\), 4 ports: 3 open, 1 closed, 0 filtered, scanned in \d+\.\d\d seconds$/);
  const document = JSON.parse(readFileSync(file, 'utf8'));
  t.same(Object.keys(document), ['scan', 'hosts']);
  t.same(document.hosts['127.0.0.1'].ports.map((p: { port: number; state: string }) => [p.port, p.state]), open.ports.map((p) => [p, 'open']));
  t.match(document.scan, {
    command: `pmap -n 10 -f tcp -ip 127.0.0.1 -p ${ports} -w ${file}`,
    kind: 'tcp',
    mode: 'async',
    interrupted: false,
    totals: { hosts: 1, up: 1, ports: 4, open: 3, closed: 1, filtered: 0 },
  });
  t.same(readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file left');
});

t.test('--json prints the records; --all adds the closed ports', async (t) => {
  const open = await listeners(1);
  t.teardown(open.close);
  const closed = await closedPort();
  const result = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', `${open.ports[0]},${closed}`, '--json', '--all']);
  const records = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { port: number; state: string });
  t.same(records.map((r) => [r.port, r.state]).sort(), [[open.ports[0], 'open'], [closed, 'closed']].sort());
  t.equal(result.code, 0);
});

// In a loopback-only namespace of its own: any other listener on this machine's 127.0.0.1 (test
// files run in parallel) would change the exact answer. The mode tests here are about the answers,
// so pmap runs in-process (the namespace's runner): -m thread starts its workers there, -m proc
// spawns its tcpprobe children from there. Spawned pmaps are kept for signals and closed pipes.
t.test('every -m mode gives the same answer on loopback', { skip: labUnavailable() ?? false }, async (t) => {
  const ns = loopbackNamespace();
  t.teardown(ns.close);
  const open = [30010, 30020, 30030, 30040];
  await ns.listen(open.map((port) => `127.0.0.1:${port}`));
  const spec = `29960-30090,${open.join(',')}`;
  const answers: Record<string, string> = {};
  for (const mode of ['async', 'thread', 'proc']) {
    const result = await ns.runIn('pmap', ['-n', '40', '-f', 'tcp', '-ip', '127.0.0.1-2', '-p', spec, '-m', mode, '--json']);
    t.equal(result.code, 0, mode);
    answers[mode] = result.stdout.trim().split('\n').map((line) => {
      const r = JSON.parse(line) as { ip: string; port: number; state: string };
      return `${r.ip} ${r.port} ${r.state}`;
    }).sort().join('\n');
  }
  // The listeners are bound to 127.0.0.1 only: on 127.0.0.2 every port is closed.
  const expected = open.map((p) => `127.0.0.1 ${p} open`).sort().join('\n');
  t.equal(answers.async, expected);
  t.equal(answers.thread, expected);
  t.equal(answers.proc, expected);
});

t.test('ping on loopback lists the live hosts', async (t) => {
  const result = await runIn('pmap', ['-n', '4', '-f', 'ping', '-ip', '127.0.0.1-127.0.0.3']);
  t.equal(result.code, 0);
  const lines = result.stdout.trimEnd().split('\n');
  t.match(lines[0], /^HOST\s+STATE\s+RTT\s+TTL\s+METHOD$/);
  t.same(lines.slice(1, -1).map((line) => line.split(/\s+/).slice(0, 2).join(' ')).sort(), ['127.0.0.1 up', '127.0.0.2 up', '127.0.0.3 up']);
  t.match(lines.at(-1), /^pmap done: 3 IP addresses \(3 hosts up\), scanned in/);
});

// Where the lab cannot be built (not root, no iptables) these tests skip and say why.
const noLab = labUnavailable({ filtered: { 0: [81] }, dropIcmp: [3] }) ?? false;

t.test('the seed command lines in the lab', { skip: noLab }, async (t) => {
  const lab = await buildLab({ hosts: 4, listen: { 0: [22, 80, 443] }, filtered: { 0: [81] }, dropIcmp: [3] });
  t.teardown(lab.close);
  const [a, , , d] = lab.hosts;

  // The seed's ping command line (pmap -n 4 -f ping -ip FIRST-LAST), with the lab's addresses; short
  // tries, as this is not about timeouts (17 silent addresses at -n 4 spent 20 s on the defaults).
  const ping = await lab.runIn('pmap', ['-n', '4', '-f', 'ping', '-ip', `${a}-198.18.0.30`, '-t', '300', '-r', '1']);
  t.equal(ping.code, 0);
  const up = ping.stdout.split('\n').filter((line) => /\sup(\s|$)/.test(line)).map((line) => line.split(/\s+/)[0]);
  // The ICMP-dropping host still answers ARP: up by the neighbour table (pingprobe's discovery).
  t.same(up.sort(), lab.hosts.slice(0, 4).sort(), 'live hosts listed, the ICMP-dropping one too; the dead ones not');
  t.match(ping.stdout, new RegExp(`${(d as string).replace(/\./g, '\\.')}\\s+up`));
  t.match(ping.stdout, /pmap done: 21 IP addresses \(4 hosts up\)/);

  // The seed's scan command line (pmap -n 10 -f tcp -ip HOST -w result.json), in each mode.
  const answers: string[] = [];
  for (const mode of ['async', 'thread', 'proc']) {
    const file = join(dir, `lab-${mode}.json`);
    const tcp = await lab.runIn('pmap', ['-n', '10', '-f', 'tcp', '-ip', a as string, '-w', file, '-m', mode, '-t', '300']);
    t.equal(tcp.code, 0, mode);
    t.match(tcp.stdout, /22\/tcp\s+open\s+ssh/);
    t.match(tcp.stdout, /80\/tcp\s+open\s+http/);
    t.match(tcp.stdout, /443\/tcp\s+open\s+https/);
    t.match(tcp.stdout, /1024 ports: 3 open, 1020 closed, 1 filtered/);
    const document = JSON.parse(readFileSync(file, 'utf8'));
    // Round-trip times differ from run to run; everything else must not.
    answers.push(JSON.stringify(document.hosts, (key, value: unknown) => (key === 'rtt' ? undefined : value)));
    t.same(document.hosts[a as string].ports.map((p: { port: number }) => p.port), [22, 80, 443]);
  }
  t.equal(new Set(answers).size, 1, 'the same document in every mode');
});

t.test('Ctrl-C leaves a valid JSON file with what was found, and exits 130, in every mode', { skip: noLab }, async (t) => {
  // Every port but 22 dropped.
  const lab = await buildLab({ hosts: 1, listen: { 0: [22] }, filtered: { 0: ['1:21', '23:65535'] } });
  t.teardown(lab.close);
  for (const mode of ['async', 'thread', 'proc']) {
    const file = join(dir, `interrupted-${mode}.json`);
    // Port 22 answers at once; the 199 filtered ports keep the scan busy for seconds (2 tries of at
    // least 100 ms each, 20 in flight). Ranked ports are tried in rank order, 22 fifth: it is found
    // in the first window, where a shuffled -p list found it anywhere in the scan (up to 20 s a mode).
    const child = lab.spawn(binPath('pmap'), ['-n', '20', '-f', 'tcp', '-ip', lab.hosts[0] as string, '--top-ports', '200', '-w', file, '-m', mode, '-v']);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    // The table prints a host once all its ports are in (sorted, as nmap): port 22 shows after the
    // interrupt; -v says when it was found.
    await waitForText(child.stderr!, 'Discovered open port 22/tcp');
    child.kill('SIGINT');
    const result = await collect(child);
    t.equal(result.code, 130, mode);
    // Filtered ports decided before the interrupt, if any, are counted on the host's Not shown line.
    t.match(result.stdout, /\n\S+ +22\/tcp +open[^\n]*\n(\S+ +Not shown: \d+ filtered ports?\n)?pmap interrupted: 1 IP address \(1 host up\)/);
    const document = JSON.parse(readFileSync(file, 'utf8'));
    t.equal(document.scan.status, 'interrupted');
    t.same(document.hosts[lab.hosts[0] as string].ports.map((p: { port: number }) => p.port), [22], `${mode}: the open port found so far`);
  }
});

t.test('ping gives the same hosts in every mode, live, dead and ICMP-silent', { skip: noLab }, async (t) => {
  const lab = await buildLab({ hosts: 4, dropIcmp: [1] });
  t.teardown(lab.close);
  const answers: string[] = [];
  for (const mode of ['async', 'thread', 'proc']) {
    const result = await lab.runIn('pmap', ['-f', 'ping', '-ip', '198.18.0.8-16', '-t', '300', '-r', '1', '--all', '--json', '-m', mode]);
    t.equal(result.code, 0, mode);
    if (mode === 'thread') t.notMatch(result.stderr, /the sweep runs on the main thread/, 'in worker threads, each with its own addon engine');
    answers.push(result.stdout.trim().split('\n').map((line) => {
      const r = JSON.parse(line) as { ip: string; alive: boolean };
      return `${r.ip} ${r.alive}`;
    }).sort().join(', '));
  }
  // The ICMP-silent host answers ARP: up by the neighbour table, in every mode.
  const live = new Set([lab.hosts[0], lab.hosts[1], lab.hosts[2], lab.hosts[3]]);
  const expected = Array.from({ length: 9 }, (_, i) => `198.18.0.${8 + i}`).map((ip) => `${ip} ${live.has(ip)}`).sort().join(', ');
  t.same(answers, [expected, expected, expected]);
});

t.test('a closed stdout still leaves the -w file', async (t) => {
  const file = join(dir, 'epipe.json');
  const child = spawn(binPath('pmap'), ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1-3000', '--json', '--all', '-w', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  await once(child.stdout, 'data');
  child.stdout.destroy();
  const result = await collect(child);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  const document = JSON.parse(readFileSync(file, 'utf8'));
  t.equal(document.scan.status, 'interrupted');
});

t.test('a closed stdout ends pmap quietly', async (t) => {
  const child = spawn(binPath('pmap'), ['-f', 'ping', '-ip', '127.0.0.0/24', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await once(child.stdout, 'data');
  child.stdout.destroy();
  const result = await collect(child);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
});
