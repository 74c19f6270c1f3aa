// tcpprobe against nmap -sT on a full 1-65535 scan of 127.0.0.1 with a few listeners, same run,
// plus a CPU profile of ours. The scans run in a namespace of their own (only its loopback, only our
// listeners) when we may create one; otherwise on this machine's loopback.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLab, has, labUnavailable } from '../test/lab.js';
import { compare, timeCommand, type BenchRow } from './measure.js';

const TCPPROBE = fileURLToPath(new URL('../bin/tcpprobe.js', import.meta.url));
const PMAP = fileURLToPath(new URL('../bin/pmap.js', import.meta.url));
const LISTENER = fileURLToPath(new URL('../test/fixtures/listen.js', import.meta.url));
/** A few well-known ports and one inside the ephemeral range, where self-connects happen. */
const LISTEN_PORTS = [22, 80, 443, 8080, 45000];
const REPEAT = 3;

export function loopbackNamespace(): string | null {
  if (process.getuid?.() !== 0) return null;
  const name = `pmb${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' });
    return name;
  } catch {
    return null;
  }
}

export const openPorts = (stdout: string): string =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { port: number }).port)
    .sort((a, b) => a - b)
    .join(',');

/** Open ports from nmap's greppable output (`-oG -`): `Ports: 22/open/tcp//ssh///, ...`. */
export const nmapOpenPorts = (stdout: string): string =>
  [...stdout.matchAll(/(\d+)\/open\/tcp/g)]
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b)
    .join(',');

/** Self time per function from a .cpuprofile, as "share name (file:line)" for the top entries. */
function profileSummary(dir: string, top = 6): string {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) return 'no profile';
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    const where = frame.url ? ` (${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1})` : '';
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    const delta = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + delta);
    total += delta;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, time]) => `${((time / total) * 100).toFixed(0)}% ${key}`)
    .join('; ');
}

export async function benchTcp(): Promise<BenchRow[]> {
  const netns = loopbackNamespace();
  const nmap = has('nmap');
  const listen = [process.execPath, LISTENER, ...LISTEN_PORTS.map((port) => `127.0.0.1:${port}`)];
  const [command = '', ...args] = netns ? ['ip', 'netns', 'exec', netns, ...listen] : listen;
  const listener = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const profileDir = mkdtempSync(join(tmpdir(), 'pmap-tcp-prof-'));
  try {
    await once(listener.stdout!, 'data');
    const options = netns ? { netns } : {};
    const truth = LISTEN_PORTS.join(',');
    const row = await compare(
      `tcp connect scan, 127.0.0.1 ports 1-65535, ${LISTEN_PORTS.length} listening${netns ? ' (own netns)' : ''}`,
      { name: 'tcpprobe -p -', argv: [process.execPath, TCPPROBE, '-p', '-', '127.0.0.1'], options },
      nmap ? { name: 'nmap -sT -p- -T5 -n -Pn', argv: ['nmap', '-sT', '-p-', '-T5', '-n', '-Pn', '-oG', '-', '127.0.0.1'], options } : null,
      REPEAT,
      (ours, peer) => openPorts(ours) === truth && (peer === null || nmapOpenPorts(peer) === truth),
    );
    const profiled = await timeCommand(
      [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, TCPPROBE, '-p', '-', '127.0.0.1'],
      { ...options, keepStdout: true },
    );
    const cpu = row.peer ? `cpu ${Math.round(row.ours.stats.cpuMs)} ms vs ${Math.round(row.peer.stats.cpuMs)} ms` : 'nmap not installed';
    // internalConnect and close are where connect(2) and close(2) run: on loopback the kernel does the
    // whole SYN/RST exchange inside connect(2), so those frames are mostly system time.
    row.note = `${cpu}; profile (self time, ${Math.round(profiled.wallMs)} ms run): ${profileSummary(profileDir)}`;
    if (!row.answerOk) row.note = `WRONG ANSWER: ours ${openPorts(profiled.stdout)}, expected ${truth}; ${row.note}`;
    // The same scan through pmap in each execution model: one loop, worker threads, child filters.
    const modes: BenchRow[] = [];
    for (const mode of ['async', 'thread', 'proc']) {
      modes.push(
        await compare(
          `tcp connect scan, 127.0.0.1 ports 1-65535, pmap -m ${mode}`,
          { name: `pmap -n 500 -m ${mode}`, argv: [process.execPath, PMAP, '-n', '500', '-f', 'tcp', '-ip', '127.0.0.1', '-p', '-', '-m', mode, '--json'], options },
          nmap ? { name: 'nmap -sT -p- -T5 -n -Pn', argv: ['nmap', '-sT', '-p-', '-T5', '-n', '-Pn', '-oG', '-', '127.0.0.1'], options } : null,
          REPEAT,
          (ours, peer) => openPorts(ours) === truth && (peer === null || nmapOpenPorts(peer) === truth),
        ),
      );
    }
    return [row, ...modes, ...(await benchDiscovery())];
  } finally {
    listener.kill('SIGKILL');
    rmSync(profileDir, { recursive: true, force: true });
    if (netns) execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
  }
}

/**
 * pmap -f tcp over 20 lab addresses of which 15 hold no host: host discovery first, so only the 5
 * up are port-scanned (issue #9), against nmap -sT -T4 (which does its ARP ping first) in the same run.
 */
export async function benchDiscovery(): Promise<BenchRow[]> {
  const why = labUnavailable();
  if (why) return [];
  const listen = { 0: [22], 1: [80], 2: [443], 3: [25], 4: [8080] };
  const lab = await buildLab({ hosts: 5, listen });
  try {
    const options = { netns: lab.scannerNs };
    // The short range form, which nmap reads too (it does not take A.B.C.D-A.B.C.E).
    const spec = `${lab.hosts[0]}-29`;
    const truth = Object.entries(listen)
      .flatMap(([i, ports]) => ports.filter((port) => port <= 1024).map((port) => `${lab.hosts[Number(i)]}:${port}`))
      .sort()
      .join(',');
    const ours = (stdout: string): string =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { ip: string; port?: number; state?: string })
        .filter((record) => record.state === 'open')
        .map((record) => `${record.ip}:${record.port}`)
        .sort()
        .join(',');
    const theirs = (stdout: string): string =>
      stdout
        .split('\n')
        .flatMap((line) => {
          const host = /^Host: (\S+)/.exec(line)?.[1];
          return host ? [...line.matchAll(/(\d+)\/open\/tcp/g)].map((match) => `${host}:${match[1]}`) : [];
        })
        .sort()
        .join(',');
    const nmapArgv = ['nmap', '-sT', '-T4', '-n', '-p1-1024', '-oG', '-', spec];
    const row = await compare(
      'pmap -f tcp, 20 lab addresses (15 empty), ports 1-1024, discovery first',
      { name: 'pmap -f tcp', argv: [process.execPath, PMAP, '-f', 'tcp', '-ip', spec, '-p', '1-1024', '--json'], options },
      has('nmap') ? { name: 'nmap -sT -T4 -p1-1024', argv: nmapArgv, options } : null,
      REPEAT,
      (mine, peer) => ours(mine) === truth && (peer === null || theirs(peer) === truth),
    );
    row.note = `truth ${truth}`;
    return [row];
  } finally {
    lab.close();
  }
}

function formatRow(row: BenchRow): string {
  const stats = (s: BenchRow['ours']['stats']): string =>
    `wall ${Math.round(s.wallMs.median)} ms (min ${Math.round(s.wallMs.min)}, max ${Math.round(s.wallMs.max)}), cpu ${Math.round(s.cpuMs)} ms, rss ${Math.round(s.rssKb / 1024)} MB`;
  return [
    `${row.work} (${row.ours.stats.runs} runs each)`,
    `  ${row.ours.name}: ${stats(row.ours.stats)}`,
    row.peer ? `  ${row.peer.name}: ${stats(row.peer.stats)}` : '',
    `  ratio ${row.ratio?.toFixed(2) ?? '-'}, answer ${row.answerOk ? 'ok' : 'WRONG'}`,
    `  ${row.note ?? ''}`,
  ]
    .filter(Boolean)
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = process.argv.includes('--discovery') ? await benchDiscovery() : await benchTcp();
  for (const row of rows) console.log(formatRow(row));
}

/**
 * Issue 9's firewalled-host rows, in the lab: one host listening on 22, SYNs to the other ports
 * dropped (1023 of 1-1024 for tcpprobe vs nmap -T4; 200 of them for pmap -n 10 vs nmap's default).
 */
export async function benchTcpTiming(): Promise<BenchRow[]> {
  const why = labUnavailable({ filtered: { 0: [1] } });
  if (why || !has('nmap')) {
    process.stderr.write(`bench: no timing tcp rows: ${why ?? 'nmap not installed'}\n`);
    return [];
  }
  const rows: BenchRow[] = [];
  const lab = await buildLab({ hosts: 2, listen: { 0: [22], 1: [22] } });
  try {
    const [all, some] = lab.hosts as [string, string];
    const drop = (ip: string, ports: string): void => {
      execFileSync('ip', ['netns', 'exec', lab.targetNs, 'iptables', '-A', 'INPUT', '-d', ip, '-p', 'tcp', '--dport', ports, '-j', 'DROP']);
    };
    drop(all, '1:21');
    drop(all, '23:1024');
    drop(some, '801:1000');
    const options = { netns: lab.scannerNs };
    const check = (mine: string, theirs: string | null): boolean => openPorts(mine) === '22' && (theirs === null || nmapOpenPorts(theirs) === '22');
    rows.push(
      await compare(
        'tcpprobe, a host dropping SYNs to 1023 of ports 1-1024 (lab)',
        { name: 'tcpprobe -p 1-1024', argv: [process.execPath, TCPPROBE, '-p', '1-1024', all], options },
        { name: 'nmap -sT -Pn -T4 -p1-1024', argv: ['nmap', '-sT', '-Pn', '-n', '-T4', '-p1-1024', '-oG', '-', all], options },
        REPEAT,
        check,
      ),
      await compare(
        'pmap -n 10 -f tcp, one host with 200 of ports 1-1024 dropped (lab)',
        { name: 'pmap -n 10 -f tcp', argv: [process.execPath, PMAP, '-n', '10', '-f', 'tcp', '-ip', some, '--json'], options },
        { name: 'nmap -sT -Pn -p1-1024', argv: ['nmap', '-sT', '-Pn', '-n', '-p1-1024', '-oG', '-', some], options },
        REPEAT,
        check,
      ),
    );
  } finally {
    lab.close();
  }
  return rows;
}
