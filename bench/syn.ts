// Issue 11's SYN row: `tcpprobe --syn` against `nmap -sS -p- -T5` on a full-port scan of 127.0.0.1
// in a namespace of our own (only our listeners there), same run, alternating, 5 runs each; median
// and min reported (nmap's time is bimodal, TOOLCHAIN.md), answers checked against the listeners.
// Needs root (raw sockets, namespaces): without it the row is skipped with the reason.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../lib/native/addon.js';
import { has } from '../test/lab.js';
import { compare, type BenchRow } from './measure.js';
import { loopbackNamespace, nmapOpenPorts, openPorts } from './tcp.js';

const TCPPROBE = fileURLToPath(new URL('../bin/tcpprobe.js', import.meta.url));
const LISTENER = fileURLToPath(new URL('../test/fixtures/listen.js', import.meta.url));
const LISTEN_PORTS = [22, 80, 443, 8080, 45000];
const REPEAT = Number(process.env.BENCH_SYN_REPEAT ?? 5);
const NMAP_SS = ['nmap', '-sS', '-p-', '-T5', '-n', '-Pn', '-oG', '-', '127.0.0.1'];

export async function benchSyn(): Promise<BenchRow[]> {
  const loaded = loadAddon();
  const why = process.getuid?.() !== 0 ? 'needs root (raw sockets)' : 'error' in loaded ? loaded.error : null;
  if (why) {
    process.stderr.write(`bench: SYN row skipped: ${why}\n`);
    return [];
  }
  const netns = loopbackNamespace();
  const listen = [process.execPath, LISTENER, ...LISTEN_PORTS.map((port) => `127.0.0.1:${port}`)];
  const [command = '', ...args] = netns ? ['ip', 'netns', 'exec', netns, ...listen] : listen;
  const listener = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(listener.stdout!, 'data');
    const options = netns ? { netns } : {};
    const truth = LISTEN_PORTS.join(',');
    const row = await compare(
      `SYN scan 127.0.0.1:1-65535${netns ? ' (own netns)' : ''}`,
      { name: 'tcpprobe --syn -p 1-65535', argv: [process.execPath, TCPPROBE, '--syn', '-p', '1-65535', '127.0.0.1'], options },
      has('nmap') ? { name: 'nmap -sS -p- -T5', argv: NMAP_SS, options } : null,
      REPEAT,
      (ours, theirs) => openPorts(ours) === truth && (theirs === null || nmapOpenPorts(theirs) === truth),
    );
    const o = row.ours.stats.wallMs;
    const p = row.peer?.stats.wallMs;
    row.note = p
      ? `min ${Math.round(o.min)} vs ${Math.round(p.min)} ms (ratio of mins ${(o.min / p.min).toFixed(2)}), median ${Math.round(o.median)} vs ${Math.round(p.median)} ms (ratio ${(o.median / p.median).toFixed(2)})`
      : 'nmap not installed';
    return [row];
  } finally {
    listener.kill('SIGKILL');
    if (netns) execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await benchSyn()) console.log(`${row.work}: ${row.ours.name} vs ${row.peer?.name ?? '-'}: ${row.note}; answer ${row.answerOk ? 'ok' : 'WRONG'}`);
}
