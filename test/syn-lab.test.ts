// tcpprobe --syn inside the test lab (network namespaces with no route out): listeners, SYNs dropped,
// rejected with an RST or with ICMP, a dead address, deterministic packet loss, and Ctrl-C.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { loadAddon } from '../lib/native/addon.js';
import { binPath, collect, testLab, waitForText, type Lab, type LabOptions } from './lab.js';

type PortRecord = { ip: string; port?: number; state: string; rtt?: number; reason?: string };

const records = (stdout: string): PortRecord[] =>
  stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as PortRecord);
const states = (found: PortRecord[]): string[] =>
  found.map(({ ip, port, state, reason }) => `${ip} ${port ?? '-'} ${state}${reason ? ` ${reason}` : ''}`).sort();

const addon = loadAddon();

// The lab's own iptables rules need iptables; the SYN engine needs the addon.
const lab = (t: Test, options: LabOptions): Promise<Lab | null> => testLab(t, options, { firewall: true, unusable: 'error' in addon ? addon.error : null });

const iptables = (net: Lab, ...rule: string[]): void => void execFileSync('ip', ['netns', 'exec', net.targetNs, 'iptables', '-A', 'INPUT', ...rule]);

t.test('open, closed (RST, tcp-reset), filtered (DROP, ICMP rejects) and a dead address, exactly', async (t) => {
  const net = await lab(t, { hosts: 2, listen: { 0: [22, 80], 1: [443] }, filtered: { 0: [81] }, rejected: { 1: [80] } });
  if (!net) return;
  const [a = '', b = ''] = net.hosts;
  const [a6 = '', b6 = ''] = net.hosts6;
  iptables(net, '-d', a, '-p', 'tcp', '--dport', '82', '-j', 'REJECT', '--reject-with', 'tcp-reset');
  iptables(net, '-d', b, '-p', 'tcp', '--dport', '23', '-j', 'REJECT', '--reject-with', 'icmp-host-prohibited');
  const ports = [22, 23, 80, 81, 82, 443];
  const dead = net.dead[0]!;
  const result = await net.runIn('tcpprobe', ['--syn', '-v', '--all', '-t', '300', '-r', '1', '-p', ports.join(','), a, b, a6, b6, dead]);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, /engine: native syn/);
  const v4: Record<string, Record<number, string>> = {
    [a]: { 22: 'open', 80: 'open', 81: 'filtered', 82: 'closed' },
    // nmap -sS: an ICMP port-unreachable is filtered (a connect scan sees ECONNREFUSED: closed).
    // Host-prohibited is EHOSTUNREACH as for a connect: the host answered ARP, so the port only.
    [b]: { 443: 'open', 80: 'filtered port-unreachable', 23: 'filtered EHOSTUNREACH' },
    [a6]: { 22: 'open', 80: 'open' },
    [b6]: { 443: 'open' },
  };
  const expected = Object.entries(v4).flatMap(([ip, states]) => ports.map((port) => `${ip} ${port} ${states[port] ?? 'closed'}`));
  const found = records(result.stdout);
  const alive = found.filter((record) => record.ip !== dead);
  t.same(states(alive), expected.sort());
  for (const record of alive) {
    if (record.state === 'filtered') t.equal(record.rtt, undefined, `${record.ip} ${record.port}: no rtt`);
    else t.type(record.rtt, 'number', `${record.ip} ${record.port}: rtt`);
  }
  // The dead address: no ARP answer, so the kernel's own host-unreachable or silence; never open or
  // closed, and settled as a host at most once (as the connect scan).
  const gone = found.filter((record) => record.ip === dead);
  t.same(gone.filter((record) => record.state === 'open' || record.state === 'closed'), []);
  const unreachable = gone.filter((record) => record.state === 'unreachable');
  if (unreachable.length === 0) t.equal(gone.length, ports.length, 'every port filtered');
  else t.same(unreachable, [{ ip: dead, state: 'unreachable', reason: unreachable[0]!.reason }]);
});

t.test("a local firewall's DROP in OUTPUT fails those SYNs' sends (EPERM): filtered, every other port answered", async (t) => {
  const net = await lab(t, { hosts: 1, listen: { 0: [22, 1500] } });
  if (!net) return;
  const [a = ''] = net.hosts;
  // 1000 of 3000 SYNs refused by our own kernel, in whole sendmmsg batches and in batches with others:
  // both senders (the engine thread and its second sender) report the error of each SYN it hit.
  execFileSync('ip', ['netns', 'exec', net.scannerNs, 'iptables', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '1000:1999', '-j', 'DROP']);
  const result = await net.runIn('tcpprobe', ['--syn', '-v', '--all', '-t', '300', '-r', '1', '-p', '1-3000', a]);
  t.equal(result.code, 0, result.stderr);
  const found = records(result.stdout);
  t.equal(found.length, 3000, 'one record per port');
  const byState = (state: string): number[] => found.filter((r) => r.state === state).map((r) => r.port!).sort((x, y) => x - y);
  t.same(byState('open'), [22]);
  t.same(byState('filtered'), Array.from({ length: 1000 }, (_, i) => 1000 + i), 'the refused sends: filtered (1500 listens, unasked)');
  t.equal(byState('closed').length, 1999);
  t.match(result.stderr, /1 hosts, 3000 ports tried, 1 open, 1999 closed, 1000 filtered/);
});

t.test('with every 20th packet dropped the retries still find every open port', async (t) => {
  const listen = { 0: [22, 80, 443], 1: [25, 8080], 2: [53, 110, 143, 993] };
  const net = await lab(t, { hosts: 3, listen, loss: 0.05 });
  if (!net) return;
  const expected = Object.entries(listen)
    .flatMap(([i, ports]) => ports.flatMap((port) => [`${net.hosts[Number(i)]} ${port} open`, `${net.hosts6[Number(i)]} ${port} open`]))
    .sort();
  // One run: the drops are every 20th packet, not random, so a second run would see the same.
  const result = await net.runIn('tcpprobe', ['--syn', '-v', '-p', '1-1024,8080', ...net.hosts, ...net.hosts6]);
  t.equal(result.code, 0, result.stderr);
  t.same(states(records(result.stdout)), expected);
  t.match(result.stderr, /6 hosts, 6150 ports tried, 18 open, 6132 closed, 0 filtered/, 'every port answered');
  t.match(result.stderr, /[1-9]\d* of 6150 answers came to a retransmission/, 'answers came to retransmissions: the drops were met');
});

t.test('Ctrl-C stops a SYN scan of silent ports: exit 130, the summary said', async (t) => {
  const net = await lab(t, { hosts: 1 });
  if (!net) return;
  iptables(net, '-p', 'tcp', '-j', 'DROP');
  // Every SYN dropped, long waits and many tries: the scan would take minutes.
  const child = net.spawn(binPath('tcpprobe'), ['--syn', '-v', '--all', '-t', '5000', '-r', '5', '-p', '-', net.hosts[0]!], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = collect(child);
  await waitForText(child.stderr!, 'engine: native syn');
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  const result = await done;
  clearTimeout(timer);
  t.equal(result.signal, null, 'not killed');
  t.equal(result.code, 130, result.stderr);
  t.equal(result.stdout, '', 'no port had its tries yet');
  t.match(result.stderr, /1 hosts, 0 ports tried, 0 open, 0 closed, 0 filtered/);
});
