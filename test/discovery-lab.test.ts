// Host discovery and the host/port line inside the test lab (namespaces with no route out): per-port
// ICMP rejects (firewalld/RHEL style), dead addresses, IPv4-mapped self-connects, and connects that
// fail at once for want of a route. One lab for the whole file, torn down after.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { binPath, buildLab, collect, labUnavailable, SUBNET6, type Lab } from './lab.js';

type Row = { ip: string; port?: number; state?: string; reason?: string; alive?: boolean; method?: string; [field: string]: unknown };
const rows = (stdout: string): Row[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Row);

const ALLOWED = Array.from({ length: 200 }, (_, i) => 301 + i);
/** No route to this /64 from the scanner: every connect fails inside connect() with ENETUNREACH. */
const UNROUTED = 'fd00:198:19::/64';

const options = { hosts: 3, listen: { 0: ALLOWED, 1: ALLOWED, 2: [22] }, dropIcmp: [2] };
const why = labUnavailable(options);
let net: Lab | null = null;
if (why) t.plan(0, `no lab: ${why}`);
else {
  net = await buildLab(options);
  t.teardown(() => net?.close());
  const inTarget = (command: string, ...args: string[]): void => {
    execFileSync('ip', ['netns', 'exec', net!.targetNs, command, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  // firewalld's default: every port not allowed gets an ICMP reject, which a connecting socket
  // sees as EHOSTUNREACH (IPv4 host- and admin-prohibited). IPv6 is left out: this kernel reports an
  // ICMPv6 reject to a connecting socket only at the SYN's first retransmission (1 s, measured).
  for (const [i, rejectWith] of [[0, 'icmp-host-prohibited'], [1, 'icmp-admin-prohibited']] as const) {
    inTarget('iptables', '-A', 'INPUT', '-d', net.hosts[i]!, '-p', 'tcp', '--dport', '301:500', '-j', 'ACCEPT');
    inTarget('iptables', '-A', 'INPUT', '-d', net.hosts[i]!, '-p', 'tcp', '-j', 'REJECT', '--reject-with', rejectWith);
  }
}

t.test('#10 item 4: with 200 allowed listeners and every other port rejected, all 200 are found', async (t) => {
  if (!net) return;
  const targets = [net.hosts[0]!, net.hosts[1]!];
  const result = await net.run(binPath('tcpprobe'), ['--all', '-n', '200', '-t', '500', '-r', '1', '-p', '1-1024', ...targets]);
  t.equal(result.code, 0, result.stderr);
  const found = rows(result.stdout);
  for (const ip of targets) {
    const mine = found.filter((row) => row.ip === ip);
    t.same(mine.filter((row) => row.state === 'open').map((row) => row.port).sort((a, b) => a! - b!), ALLOWED, `${ip}: every allowed port open`);
    const filtered = mine.filter((row) => row.state === 'filtered');
    t.equal(filtered.length, 1024 - ALLOWED.length, `${ip}: every other port filtered`);
    t.ok(filtered.every((row) => row.reason === 'EHOSTUNREACH'), `${ip}: reason EHOSTUNREACH`);
    t.notOk(mine.some((row) => row.state === 'unreachable'), `${ip}: the host is not settled`);
  }
  t.notMatch(result.stderr, /unreachable/, 'no host said unreachable');
});

t.test('an address whose ARP/NDP fails is settled once, its other ports not tried', async (t) => {
  if (!net) return;
  const dead = [net.dead[0]!, `${SUBNET6}200`];
  const result = await net.run(binPath('tcpprobe'), ['--all', '-v', '-n', '10', '-t', '300', '-r', '1', '-p', '1-100', ...dead]);
  t.equal(result.code, 0, result.stderr);
  // A SYN that timed out while ARP/NDP is still unanswered: settled then, not after the kernel's 3 s.
  t.same(rows(result.stdout).sort((a, b) => a.ip.localeCompare(b.ip)), [
    { ip: dead[0], state: 'unreachable', reason: 'no-arp-reply' },
    { ip: dead[1], state: 'unreachable', reason: 'no-ndp-reply' },
  ]);
  t.match(result.stderr, /no-arp-reply, \d+ ports not tried/);
});

t.test('#10 item 3: no false open on an IPv4-mapped loopback target', async (t) => {
  if (!net) return;
  // Nothing listens in the scanner namespace: every port is closed, and a self-connect (source
  // port = destination port) must not be taken for a service.
  const result = await net.run(binPath('tcpprobe'), ['-n', '500', '-p', '32768-60999', '::ffff:127.0.0.1']);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, '', 'no open port');
});

/** Resident memory of a process, in MB (/proc/PID/status VmRSS). */
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('#10 item 2: every connect failing at once (no route): Ctrl-C works, memory stays flat', async (t) => {
  if (!net) return;
  const child = net.spawn(binPath('tcpprobe'), ['-p', '80', UNROUTED], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = collect(child);
  await sleep(1500);
  const early = rssMb(child.pid!);
  await sleep(2000);
  const late = rssMb(child.pid!);
  t.ok(late - early < 40, `RSS ${early.toFixed(0)} MB -> ${late.toFixed(0)} MB in 2 s`);
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const result = await done;
  clearTimeout(timer);
  t.equal(result.signal, null, 'not killed');
  t.equal(result.code, 130, `Ctrl-C ends it (${result.stderr.trim()})`);
});
