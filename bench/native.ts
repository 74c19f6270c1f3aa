// The engines of issue 11 against their peers, same run, alternating, 5 runs each: the addon's
// connect scan and the node:net fallback against `nmap -sT -p- -T5` on a full-port scan of
// 127.0.0.1 in a namespace of our own (only our listeners there); and a ping sweep of the 65536
// addresses of 127.0.0.0/16 (that namespace's lo) by the addon and by the raw-socket fallback
// against a one-socket C floor built here with gcc. Rows report median and min.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { has } from '../test/lab.js';
import { loadAddon } from '../lib/native/addon.js';
import { compare, type BenchRow } from './measure.js';
import { loopbackNamespace, nmapOpenPorts, openPorts } from './tcp.js';

const TCPPROBE = fileURLToPath(new URL('../bin/tcpprobe.js', import.meta.url));
const PINGPROBE = fileURLToPath(new URL('../bin/pingprobe.js', import.meta.url));
const FLOOR_SOURCE = fileURLToPath(new URL('../../bench/ping-floor.c', import.meta.url));
const LISTENER = fileURLToPath(new URL('../test/fixtures/listen.js', import.meta.url));
const LISTEN_PORTS = [22, 80, 443, 8080, 45000];
const REPEAT = 5;
/** BENCH_NATIVE_ROWS=ping: only the ping rows (no listener, no connect scans). */
const ONLY_PING = process.env.BENCH_NATIVE_ROWS === 'ping';
const NMAP_ST = ['nmap', '-sT', '-p-', '-T5', '-n', '-Pn', '-oG', '-', '127.0.0.1'];

export async function benchNative(): Promise<BenchRow[]> {
  const loaded = loadAddon();
  const netns = loopbackNamespace();
  const nmap = has('nmap');
  const listen = [process.execPath, LISTENER, ...LISTEN_PORTS.map((port) => `127.0.0.1:${port}`)];
  const [command = '', ...args] = netns ? ['ip', 'netns', 'exec', netns, ...listen] : listen;
  const listener = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rows: BenchRow[] = [];
  try {
    await once(listener.stdout!, 'data');
    const options = netns ? { netns } : {};
    const truth = LISTEN_PORTS.join(',');
    const where = netns ? ' (own netns)' : '';
    const peer = nmap ? { name: 'nmap -sT -p- -T5', argv: NMAP_ST, options } : null;
    const check = (ours: string, theirs: string | null): boolean => openPorts(ours) === truth && (theirs === null || nmapOpenPorts(theirs) === truth);
    for (const engine of ONLY_PING ? [] : (['native', 'net'] as const)) {
      if (engine === 'native' && 'error' in loaded) {
        process.stderr.write(`bench: native rows skipped: ${loaded.error}\n`);
        continue;
      }
      const row = await compare(
        `connect scan 127.0.0.1:1-65535${where}, --engine ${engine}`,
        { name: `tcpprobe --engine ${engine} -n 100 -p -`, argv: [process.execPath, TCPPROBE, '--engine', engine, '-n', '100', '-p', '-', '127.0.0.1'], options },
        peer,
        REPEAT,
        check,
      );
      row.note = minRatio(row);
      rows.push(row);
    }
    rows.push(...(await pingRows(options, where)));
    return rows;
  } finally {
    listener.kill('SIGKILL');
    if (netns) execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
  }
}

async function pingRows(options: { netns?: string }, where: string): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0 || !has('gcc')) {
    process.stderr.write('bench: ping rows skipped: they need root (raw sockets) and gcc (the floor)\n');
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'pmap-floor-'));
  try {
    const floor = join(dir, 'ping-floor');
    execFileSync('gcc', ['-O2', '-o', floor, FLOOR_SOURCE]);
    const alive = (stdout: string): number => stdout.split('\n').filter((line) => line.includes('"alive":true')).length;
    const peer = { name: 'C floor, one raw socket, window 1000', argv: [floor, '127.0.0.0', '65536', '1000'], options };
    const rows: BenchRow[] = [];
    for (const engine of ['native', 'raw']) {
      const row = await compare(
        `ping 127.0.0.0/16 (65536 hosts)${where}, --engine ${engine}`,
        { name: `pingprobe --engine ${engine} -n 1000`, argv: [process.execPath, PINGPROBE, '--engine', engine, '-n', '1000', '127.0.0.0/16'], options },
        peer,
        REPEAT,
        (ours, theirs) => alive(ours) === 65536 && Number(theirs) === 65536,
      );
      row.note = minRatio(row);
      rows.push(row);
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** nmap's wall time is bimodal (TOOLCHAIN.md), so the targets compare fastest runs too. */
function minRatio(row: BenchRow): string {
  if (!row.peer) return 'peer not installed';
  const o = row.ours.stats.wallMs;
  const p = row.peer.stats.wallMs;
  return `min ${Math.round(o.min)} vs ${Math.round(p.min)} ms (ratio of mins ${(o.min / p.min).toFixed(2)}), median ${Math.round(o.median)} vs ${Math.round(p.median)} ms (ratio ${(o.median / p.median).toFixed(2)})`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const row of await benchNative()) console.log(`${row.work}: ${row.ours.name} vs ${row.peer?.name ?? '-'}: ${row.note}; answer ${row.answerOk ? 'ok' : 'WRONG'}`);
}
