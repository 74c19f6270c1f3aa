// make bench: ours against the peers (prips, nmap, fping) on the same work, in the same run,
// alternating runs; a table on stdout and bench/results.json. Only loopback and the test lab's
// namespaces are scanned. Nothing here asserts a time: it reports, and checks answers.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildLab, has, labUnavailable } from '../test/lab.js';
import { benchNdjson } from './ndjson.js';
import { compare, timeCommand, type BenchRow } from './measure.js';

const BIN = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url));
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

const lineCount = (text: string): number => text.split('\n').filter(Boolean).length;

/** 1. iprange of a /8 into a pipe vs prips: 16.7M addresses printed, nothing sent anywhere. The issue names
 * a private /8; 127.0.0.0/8 is the same work and keeps every address this project names on loopback. */
async function benchIprange(): Promise<BenchRow[]> {
  const ours = { name: 'iprange', argv: ['sh', '-c', `"${BIN('iprange')}" 127.0.0.0/8 | wc -l`] };
  const peer = has('prips') ? { name: 'prips', argv: ['sh', '-c', 'prips 127.0.0.0/8 | wc -l'] } : null;
  const row = await compare('iprange 127.0.0.0/8 | wc -l (16.7M lines)', ours, peer, REPEAT, (mine, theirs) =>
    Number(mine.trim()) === 16777216 && (theirs === null || Number(theirs.trim()) === 16777216),
  );
  if (!peer) row.note = 'prips not installed: apt-get install prips';
  return [row];
}

/** 2. Many targets piped into a probe: peak RSS at growing input sizes must stay flat. */
async function benchFlatMemory(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const sizes = process.env.BENCH_FULL ? [16, 20, 24] : [16, 20];
  for (const bits of sizes) {
    const spec = `127.0.0.0/${32 - bits}`;
    const sample = await timeCommand(['sh', '-c', `"${BIN('iprange')}" ${spec} | "${BIN('pingprobe')}" -n 1000 -t 500 -r 1 --all | wc -l`], { keepStdout: true });
    const stats = { runs: 1, wallMs: { median: sample.wallMs, min: sample.wallMs, max: sample.wallMs }, cpuMs: sample.cpuMs, rssKb: sample.rssKb };
    rows.push({
      work: `iprange ${spec} | pingprobe --all (${2 ** bits} targets): flat RSS`,
      ours: { name: 'pingprobe', stats },
      answerOk: Number(sample.stdout.trim()) === 2 ** bits,
      note: `${Math.round(2 ** bits / (sample.wallMs / 1000))} hosts/s; peak RSS of the pipeline ${Math.round(sample.rssKb / 1024)} MB`,
    });
  }
  return rows;
}

/** 5. A /24 in the lab, 8 live hosts and the rest dead: equal timeout and retries for both. */
async function benchDeadSweep(): Promise<BenchRow[]> {
  const why = labUnavailable();
  // .1 is the scanner itself: the sweep covers the other 253 addresses.
  const work = 'ping sweep of a lab /24: 8 live, 245 dead (-t 500 -r 1)';
  if (why || !has('fping')) {
    process.stderr.write(`bench: skipping the lab sweep: ${why ?? 'fping not installed'}\n`);
    return [];
  }
  const lab = await buildLab({ hosts: 8 });
  try {
    const expected = [...lab.hosts].sort().join('\n');
    const live = (out: string): string =>
      out.split('\n').filter(Boolean).map((line) => (line.startsWith('{') ? (JSON.parse(line) as { ip: string }).ip : line.trim())).sort().join('\n');
    // The sweep itself: our filter reading the range, fping generating it, both in the lab.
    const oursArgv = ['sh', '-c', `"${BIN('iprange')}" 198.18.0.2-254 | "${BIN('pingprobe')}" -n 256 -t 500 -r 1`];
    const fpingArgv = ['fping', '-a', '-q', '-t', '500', '-r', '1', '-B', '1.5', '-g', '198.18.0.2', '198.18.0.254'];
    const ours = { name: 'pingprobe', argv: oursArgv, options: { netns: lab.scannerNs } };
    const peer = { name: 'fping -a', argv: fpingArgv, options: { netns: lab.scannerNs } };
    return [await compare(work, ours, peer, REPEAT, (mine, theirs) => live(mine) === expected && live(theirs ?? '') === expected)];
  } finally {
    lab.close();
  }
}

type Item = { name: string; run: () => Promise<BenchRow[]> };

async function items(): Promise<Item[]> {
  const list: Item[] = [
    { name: 'iprange', run: benchIprange },
    { name: 'memory', run: benchFlatMemory },
    { name: 'dead', run: benchDeadSweep },
  ];
  const { benchTcp } = await import('./tcp.js');
  const { benchPing } = await import('./ping.js');
  const { benchSvc } = await import('./svc.js');
  list.push({ name: 'svc', run: benchSvc });
  list.splice(1, 0, { name: 'tcp', run: benchTcp }, { name: 'ping', run: benchPing });
  const { benchNative } = await import('./native.js');
  list.push({ name: 'native', run: benchNative });
  const { benchSyn } = await import('./syn.js');
  list.push({ name: 'syn', run: benchSyn });
  const { benchShuffle } = await import('./shuffle.js');
  list.push({ name: 'shuffle', run: () => benchShuffle(REPEAT) });
  // Issue 9's rows (adaptive timing), in the lab: `node dist/bench/run.js timing-ping timing-tcp`.
  const { benchPingTiming } = await import('./ping.js');
  const { benchTcpTiming } = await import('./tcp.js');
  list.push({ name: 'timing-ping', run: benchPingTiming }, { name: 'timing-tcp', run: benchTcpTiming });
  return list;
}

const ms = (value: number): string => (value >= 10000 ? `${(value / 1000).toFixed(1)}s` : `${Math.round(value)}ms`);

function table(rows: BenchRow[]): string {
  const lines = [
    ['work', 'ours', 'wall (min-max)', 'cpu', 'rss', 'peer', 'wall (min-max)', 'cpu', 'rss', 'ours/peer', 'answer'],
  ];
  for (const row of rows) {
    const o = row.ours.stats;
    const p = row.peer?.stats;
    lines.push([
      row.work,
      row.ours.name,
      `${ms(o.wallMs.median)} (${ms(o.wallMs.min)}-${ms(o.wallMs.max)})`,
      ms(o.cpuMs),
      `${Math.round(o.rssKb / 1024)}MB`,
      row.peer?.name ?? '-',
      p ? `${ms(p.wallMs.median)} (${ms(p.wallMs.min)}-${ms(p.wallMs.max)})` : '-',
      p ? ms(p.cpuMs) : '-',
      p ? `${Math.round(p.rssKb / 1024)}MB` : '-',
      row.ratio === undefined ? '-' : row.ratio.toFixed(2),
      row.answerOk ? 'ok' : 'WRONG',
    ]);
  }
  const widths = lines[0]!.map((_, c) => Math.max(...lines.map((line) => line[c]!.length)));
  const out = lines.map((line) => line.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  const notes = rows.filter((row) => row.note).map((row) => `- ${row.work}: ${row.note}`);
  return [...out, '', ...notes].join('\n');
}

const only = process.argv.slice(2);
const rows: BenchRow[] = [];
for (const item of await items()) {
  if (only.length > 0 && !only.includes(item.name)) continue;
  process.stderr.write(`bench: ${item.name}...\n`);
  rows.push(...(await item.run()));
}
const parsers = only.length === 0 || only.includes('ndjson') ? await benchNdjson() : [];
console.log(table(rows));
if (parsers.length > 0) {
  console.log('\nNDJSON input (why readline, not the ndjson package):');
  for (const p of parsers) console.log(`  ${p.case.padEnd(32)} ${p.parser.padEnd(22)} ${String(p.rows).padStart(7)} rows ${ms(p.ms).padStart(7)}  ${p.note}`);
}
writeFileSync(new URL('../../bench/results.json', import.meta.url), `${JSON.stringify({ date: new Date().toISOString(), rows, parsers }, null, 2)}\n`);
console.log('\nwritten: bench/results.json');
if (rows.some((row) => !row.answerOk)) process.exitCode = 1;
