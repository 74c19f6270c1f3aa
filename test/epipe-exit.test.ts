// `… | head -1` while probes still wait (#10 item 21): once a write meets the closed pipe, the
// command ends with status 0 in every mode, without waiting for the 60 s timeouts still running.
import t from 'tap';
import { binPath, labUnavailable, loopbackNamespace } from './lab.js';

const skip = labUnavailable({ filtered: { 0: [300] } });

t.test('pmap -m async|proc and tcpprobe end on EPIPE with connects still pending', { skip: skip ?? false }, async (t) => {
  const ns = loopbackNamespace();
  t.teardown(ns.close);
  // Ports 300-600 answer nothing: their connects wait out --min-rtt 60000.
  const rule = await ns.run('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '300:600', '-j', 'DROP']);
  t.equal(rule.code, 0, rule.stderr);
  const slow = '-p 1-600 -t 60000 --min-rtt 60000 -r 0 --all';
  // Each command gets 50 s, less than the connects it still waits on: one that waits them out is
  // killed (status 137) instead of ending on the EPIPE. Not a timing assertion: it ends in well
  // under a second after the EPIPE (strace), and 1-3 s from start on this loaded machine.
  const script = [
    `for mode in async proc; do timeout -s KILL 50 "$PMAP" -f tcp -m $mode ${slow} --json -ip 127.0.0.1 | head -1 > /dev/null; echo "pmap -m $mode \${PIPESTATUS[0]}"; done`,
    `timeout -s KILL 50 "$TCPPROBE" ${slow} 127.0.0.1 | head -1 > /dev/null; echo "tcpprobe \${PIPESTATUS[0]}"`,
  ].join('\n');
  const run = await ns.run('env', [`PMAP=${binPath('pmap')}`, `TCPPROBE=${binPath('tcpprobe')}`, 'bash', '-c', script]);
  const stdout = run.stdout;
  t.equal(stdout, 'pmap -m async 0\npmap -m proc 0\ntcpprobe 0\n', run.stderr);
});
