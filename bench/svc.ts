// svcprobe against nmap -sV on the same lab ports in the same run: real daemons from Debian's
// packages (test/svc-daemons.ts), inside the test lab. Reports a
// per-port table of service names (ours beside nmap's) and both wall times; asserts nothing.
import { fileURLToPath } from 'node:url';
import { buildLab, has, labUnavailable } from '../test/lab.js';
import { startDaemons } from '../test/svc-daemons.js';
import { compare, type BenchRow } from './measure.js';

const BIN = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url));
/** nmap -sV takes tens of seconds a run here: one run each unless BENCH_SVC_REPEAT says more. */
const REPEAT = Number(process.env.BENCH_SVC_REPEAT ?? 1);

type Service = { name?: string; tls?: unknown };

/** "port name" per open port from svcprobe's records; a TLS tunnel written ssl/NAME as nmap does. */
function ourNames(stdout: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const record = JSON.parse(line) as { port: number; service?: Service };
    const service = record.service;
    names.set(record.port, `${service?.tls && service.name !== 'ssl' ? 'ssl/' : ''}${service?.name ?? '-'}`);
  }
  return names;
}

/** The same from nmap's XML (`-oX -`): <port portid="22">...<service name="ssh" tunnel="ssl"/>. */
function nmapNames(xml: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const port of xml.matchAll(/<port protocol="tcp" portid="(\d+)">([\s\S]*?)<\/port>/g)) {
    const service = /<service name="([^"]*)"([^>]*)/.exec(port[2] ?? '');
    const tunnel = / tunnel="ssl"/.test(service?.[2] ?? '') ? 'ssl/' : '';
    names.set(Number(port[1]), service ? `${tunnel}${service[1]}` : '-');
  }
  return names;
}

export async function benchSvc(): Promise<BenchRow[]> {
  const why = labUnavailable() ?? (has('nmap') ? null : 'nmap not installed');
  if (why) {
    process.stderr.write(`bench: skipping svcprobe vs nmap -sV: ${why}\n`);
    return [];
  }
  const lab = await buildLab({ hosts: 1 });
  const ip = lab.hosts[0] as string;
  const waitOpen = async (ports: number[]): Promise<number[]> => {
    for (let i = 0; i < 100; i++) {
      const result = await lab.run(BIN('tcpprobe'), ['-t', '200', '-r', '0', '-p', ports.join(','), ip]);
      const open = result.stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { port: number }).port);
      if (open.length === ports.length || i === 99) return open;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return [];
  };
  const daemons = await startDaemons(lab.targetNs, ip, waitOpen);
  try {
    for (const reason of daemons.skipped) process.stderr.write(`bench: svc: skipped ${reason}\n`);
    const daemonPorts = daemons.running.map((daemon) => daemon.port);
    // Only the daemons: on the silent and the flooding port nmap -sV ran past 120 s and 60 s here
    // (every probe waits out its timeout); svcprobe's answers there are checked by the tests.
    const ports = daemonPorts;
    const records = ports.map((port) => JSON.stringify({ ip, port, state: 'open' })).join('\n');
    const ours = { name: 'svcprobe', argv: ['sh', '-c', `printf '%s\\n' '${records.replaceAll('\n', "' '")}' | "${BIN('svcprobe')}"`], options: { netns: lab.scannerNs } };
    const peer = { name: 'nmap -sV', argv: ['nmap', '-sV', '-Pn', '-n', '-p', ports.join(','), '-oX', '-', ip], options: { netns: lab.scannerNs } };
    let table: { port: number; ours: string; nmap: string }[] = [];
    const row = await compare(`service detection, ${ports.length} lab ports (Debian daemons)`, ours, peer, REPEAT, (mine, theirs) => {
      const a = ourNames(mine);
      const b = nmapNames(theirs ?? '');
      table = ports.map((port) => ({ port, ours: a.get(port) ?? '(none)', nmap: b.get(port) ?? '(none)' }));
      const same = table.filter((entry) => entry.ours === entry.nmap).length;
      return same / ports.length >= 0.9;
    });
    const same = table.filter((entry) => entry.ours === entry.nmap).length;
    const daemonSame = table.filter((entry) => daemonPorts.includes(entry.port) && entry.ours === entry.nmap).length;
    process.stderr.write(`bench: svc: port  svcprobe  nmap -sV\n${table.map((e) => `bench: svc: ${String(e.port).padEnd(5)} ${e.ours.padEnd(14)} ${e.nmap}${e.ours === e.nmap ? '' : '   (differs)'}`).join('\n')}\n`);
    row.note =
      `same service name as nmap on ${same}/${ports.length} ports (${Math.round((100 * same) / ports.length)}%), ` +
      `${daemonSame}/${daemonPorts.length} of the daemons; per port (ours/nmap): ` +
      table.map((e) => `${e.port} ${e.ours}${e.ours === e.nmap ? '' : `/${e.nmap}`}`).join(', ') +
      (daemons.skipped.length ? `; skipped: ${daemons.skipped.join('; ')}` : '');
    return [row];
  } finally {
    daemons.stop();
    lab.close();
  }
}
