// Ping sweep benchmark: pingprobe against nmap -sn and fping -a on the same target list, same run.
// Loopback: 127.0.0.1-127.0.3.254 (the 1022 host addresses of 127.0.0.0/22, all answer on Linux).
// Lab (as root): the live hosts of a test lab namespace, where nmap has to send real probes.
// Runnable alone: `node dist/bench/ping.js`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildLab, has, labUnavailable } from '../test/lab.js';
import { compare, type BenchRow, type RunOptions } from './measure.js';

const PINGPROBE = fileURLToPath(new URL('../../bin/pingprobe', import.meta.url));
const REPEAT = 5;

function loopbackList(): string[] {
  const list: string[] = [];
  for (let i = 1; i < 1023; i++) list.push(`127.0.${i >> 8}.${i & 255}`);
  return list;
}

const sorted = (ips: Iterable<string>): string => [...ips].sort().join(',');
const oursAlive = (stdout: string): string =>
  sorted(stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { ip: string }).ip));
const nmapAlive = (stdout: string): string => sorted([...stdout.matchAll(/^Host: (\S+) .*Status: Up/gm)].map((m) => m[1]!));
const fpingAlive = (stdout: string): string => sorted(stdout.split('\n').filter(Boolean));

/** ours vs nmap and vs fping on one list; every answer must be the whole list. */
async function sweepRows(work: string, list: string[], options: RunOptions, note: string): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pmap-bench-ping-'));
  const file = join(dir, 'targets');
  writeFileSync(file, `${list.join('\n')}\n`);
  const truth = sorted(list);
  const ours = { name: 'pingprobe', argv: [PINGPROBE], options: { ...options, input: `${list.join('\n')}\n` } };
  const check = (parse: (out: string) => string) => (mine: string, theirs: string | null) =>
    oursAlive(mine) === truth && (theirs === null || parse(theirs) === truth);
  const peers = [
    { command: 'nmap', name: 'nmap -sn -n', argv: ['nmap', '-sn', '-n', '-iL', file, '-oG', '-'], parse: nmapAlive, note },
    { command: 'fping', name: 'fping -a', argv: ['fping', '-a', '-f', file], parse: fpingAlive, note: 'fping waits 10 ms between targets by default (-i)' },
  ];
  try {
    const rows: BenchRow[] = [];
    for (const peer of peers) {
      if (!has(peer.command)) {
        process.stderr.write(`bench: ${peer.command} is not installed (apt-get install ${peer.command}): no ${peer.name} row\n`);
        continue;
      }
      const row = await compare(work, ours, { name: peer.name, argv: peer.argv, options }, REPEAT, check(peer.parse));
      row.note = peer.note;
      rows.push(row);
    }
    if (rows.length === 0) rows.push(await compare(work, ours, null, REPEAT, check(() => truth)));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchPing(): Promise<BenchRow[]> {
  const rows = await sweepRows(
    'ping sweep 127.0.0.0/22 (1022 hosts, loopback)',
    loopbackList(),
    {},
    'nmap sends no packet to local addresses ("localhost-response")',
  );
  const why = labUnavailable();
  if (why) {
    process.stderr.write(`bench: no lab sweep: ${why}\n`);
    return rows;
  }
  const lab = await buildLab({ hosts: 150 });
  try {
    rows.push(...(await sweepRows('ping sweep of 150 live hosts (lab namespace, veth)', lab.hosts, { netns: lab.scannerNs }, 'nmap ARP-pings on a local segment')));
  } finally {
    lab.close();
  }
  return rows;
}

function table(rows: BenchRow[]): string {
  const lines = ['work | ours wall ms (median) | cpu ms | rss MB | peer | peer wall ms | cpu ms | rss MB | ours/peer | answers | note'];
  for (const row of rows) {
    const ours = row.ours.stats;
    const peer = row.peer?.stats;
    lines.push(
      [
        row.work,
        ours.wallMs.median.toFixed(0),
        ours.cpuMs.toFixed(0),
        (ours.rssKb / 1024).toFixed(1),
        row.peer?.name ?? '-',
        peer ? peer.wallMs.median.toFixed(0) : '-',
        peer ? peer.cpuMs.toFixed(0) : '-',
        peer ? (peer.rssKb / 1024).toFixed(1) : '-',
        row.ratio === undefined ? '-' : row.ratio.toFixed(2),
        row.answerOk ? 'same' : 'DIFFERENT',
        row.note ?? '',
      ].join(' | '),
    );
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchPing().then(
    (rows) => console.log(table(rows)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

/**
 * Issue 9's ping rows, in the lab: 100 addresses, 45 of them live, ours against nmap at the same
 * parallelism. `--send-ip` makes nmap send ICMP echo too (on a local segment it would ARP-ping).
 */
export async function benchPingTiming(): Promise<BenchRow[]> {
  const why = labUnavailable();
  if (why || !has('nmap')) {
    process.stderr.write(`bench: no timing ping rows: ${why ?? 'nmap not installed'}\n`);
    return [];
  }
  const lab = await buildLab({ hosts: 45 });
  const PMAP = fileURLToPath(new URL('../../bin/pmap', import.meta.url));
  const IPRANGE = fileURLToPath(new URL('../../bin/iprange', import.meta.url));
  const range = '198.18.0.10-109';
  const truth = sorted(lab.hosts);
  const options = { netns: lab.scannerNs };
  const check = (mine: string, theirs: string | null): boolean => oursAlive(mine) === truth && (theirs === null || nmapAlive(theirs) === truth);
  try {
    return [
      await compare(
        `pmap -n 4 -f ping, ${range} (100 addresses, 45 live, lab)`,
        { name: 'pmap -n 4 -f ping', argv: [PMAP, '-n', '4', '-f', 'ping', '-ip', range, '--json'], options },
        { name: 'nmap -sn -n -PE --send-ip --max-parallelism 4', argv: ['nmap', '-sn', '-n', '-PE', '--send-ip', '--max-parallelism', '4', '-oG', '-', range], options },
        REPEAT,
        check,
      ),
      await compare(
        `iprange ${range} | pingprobe (100 addresses, 45 live, lab)`,
        { name: 'iprange | pingprobe', argv: ['sh', '-c', `"${IPRANGE}" ${range} | "${PINGPROBE}"`], options },
        { name: 'nmap -sn -n -PE --send-ip', argv: ['nmap', '-sn', '-n', '-PE', '--send-ip', '-oG', '-', range], options },
        REPEAT,
        check,
      ),
    ];
  } finally {
    lab.close();
  }
}
