// Adaptive timing in the test lab (namespaces, no route out): a firewalled host, the homework ping
// line, and both again with one packet in 23 into the targets dropped (deterministically: every
// 23rd, `-m statistic --mode nth`). One lab for the whole file.
import { execFileSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { binPath, buildLab, labUnavailable, type Lab } from './lab.js';

type Rec = { ip: string; port?: number; state?: string; alive?: boolean };
const records = (stdout: string): Rec[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Rec);

const why = labUnavailable({ filtered: { 0: [1] } });
if (why) {
  t.plan(0, `no lab: ${why}`);
} else {
  const lab: Lab = await buildLab({ hosts: 45, listen: { 0: [22] } });
  t.teardown(() => lab.close());
  const firewalled = lab.hosts[0]!;
  const iptables = (...args: string[]): void => {
    execFileSync('ip', ['netns', 'exec', lab.targetNs, 'iptables', ...args], { stdio: 'ignore' });
  };
  // The firewalled host drops SYNs to every port of 1-1024 but 22 (two range rules, not 1023).
  iptables('-A', 'INPUT', '-d', firewalled, '-p', 'tcp', '--dport', '1:21', '-j', 'DROP');
  iptables('-A', 'INPUT', '-d', firewalled, '-p', 'tcp', '--dport', '23:1024', '-j', 'DROP');
  // 100 addresses: the 45 hosts at .10-.54, then 55 that nobody has.
  const range = '198.18.0.10-109';
  const live = [...lab.hosts].sort();

  const firewalledScan = async (t: Test): Promise<void> => {
    const result = await lab.runIn('tcpprobe', ['--all', '-v', '-T4', '-p', '1-1024', firewalled]);
    t.equal(result.code, 0, result.stderr);
    const found = records(result.stdout);
    t.same(found.filter((r) => r.state === 'open').map((r) => r.port), [22], 'port 22 open');
    t.equal(found.filter((r) => r.state === 'filtered').length, 1023, 'the other 1023 filtered');
    t.equal(found.length, 1024, 'one record per port');
    t.comment(result.stderr.trim());
  };

  const homeworkLine = async (t: Test): Promise<void> => {
    const result = await lab.runIn('pmap', ['-n', '4', '-f', 'ping', '-ip', range, '--json', '-v']);
    t.equal(result.code, 0, result.stderr);
    t.same(records(result.stdout).filter((r) => r.alive).map((r) => r.ip).sort(), live, 'exactly the 45 live hosts');
    const swept = await lab.runIn('pingprobe', ['-v', '--all', range]);
    const found = records(swept.stdout);
    t.same(found.filter((r) => r.alive).map((r) => r.ip).sort(), live, 'pingprobe: the same 45');
    t.equal(found.length, 100, 'and a record for each of the 55 silent');
    t.comment(swept.stderr.trim());
  };

  t.test('the firewalled host: exactly port 22 open of 1-1024', firewalledScan);
  t.test('the homework line pmap -n 4 -f ping: exactly the live hosts', homeworkLine);

  // Every 23rd, not 20th: a port's retry goes out a window (500 tries) after its first try, and a
  // period dividing 500 drops both tries of a port whose first was dropped (seen once: port 22
  // filtered). Real loss has no period; a prime one keeps the test about loss, not alignment.
  t.test('with every 23rd packet into the targets dropped, still exact', async (t) => {
    iptables('-I', 'INPUT', '1', '-m', 'statistic', '--mode', 'nth', '--every', '23', '--packet', '0', '-j', 'DROP');
    t.teardown(() => iptables('-D', 'INPUT', '-m', 'statistic', '--mode', 'nth', '--every', '23', '--packet', '0', '-j', 'DROP'));
    await t.test('firewalled host', firewalledScan);
    await t.test('ping sweep', homeworkLine);
    const result = await lab.runIn('tcpprobe', ['-v', '-p', '1-300', ...lab.hosts.slice(1, 11)]);
    t.equal(result.code, 0, result.stderr);
    t.same(records(result.stdout), [], 'ten hosts with every port closed: no port called open');
    t.match(result.stderr, /10 hosts, 3000 ports tried, 0 open, 3000 closed, 0 filtered/, 'every closed port answered, lost SYNs retried');
    t.match(result.stderr, /answers came to a retransmission \([\d.]+% loss seen\)/);
  });
}
