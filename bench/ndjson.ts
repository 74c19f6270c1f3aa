// Why pmap reads NDJSON with readline and not the `ndjson` package: the two on the same inputs.
// Run alone: node dist/bench/ndjson.js
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ndjson from 'ndjson';
import { readRecords } from '../lib/records.js';

export interface ParserRow {
  case: string;
  parser: string;
  rows: number;
  ms: number;
  note: string;
}

/** The lines as a pipe delivers them: 64 KiB chunks, cut anywhere. */
function input(lines: string[]): Readable {
  const text = lines.join('\n') + '\n';
  return Readable.from(
    (function* () {
      for (let at = 0; at < text.length; at += 65536) yield text.slice(at, at + 65536);
    })(),
  );
}

async function withNdjson(lines: string[]): Promise<{ rows: number; ms: number; note: string }> {
  const started = performance.now();
  let rows = 0;
  let note = '';
  try {
    await pipeline(input(lines), ndjson.parse(), new Writable({ objectMode: true, write: (_r, _e, done) => (rows++, done()) }));
  } catch (err) {
    note = `pipeline failed: ${(err as Error).message.slice(0, 40)}`;
  }
  return { rows, ms: performance.now() - started, note };
}

async function withReadline(lines: string[]): Promise<{ rows: number; ms: number; note: string }> {
  const started = performance.now();
  let rows = 0;
  let errors = 0;
  for await (const record of readRecords(input(lines), () => errors++, false)) if (record) rows++;
  return { rows, ms: performance.now() - started, note: errors ? `${errors} bad line(s) reported, skipped` : '' };
}

export async function benchNdjson(): Promise<ParserRow[]> {
  const good = Array.from({ length: 100_000 }, (_, i) => `{"ip":"127.0.${i >> 8 & 255}.${i & 255}"}`);
  const cases: [string, string[]][] = [
    ['100k rows, one bad at 1k', [...good.slice(0, 1000), '{"ip":', ...good.slice(1000)]],
    ['100k rows, a null row at 1k', [...good.slice(0, 1000), 'null', ...good.slice(1000)]],
    ['one 50 MB line in 64 KiB chunks', [`{"ip":"127.0.0.1","pad":"${'x'.repeat(50 * 1024 * 1024)}"}`]],
  ];
  const rows: ParserRow[] = [];
  for (const [name, lines] of cases) {
    for (const [parser, run] of [['ndjson 2.0.0', withNdjson], ['readline + JSON.parse', withReadline]] as const) {
      const result = await run(lines);
      rows.push({ case: name, parser, rows: result.rows, ms: Math.round(result.ms), note: result.note });
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await benchNdjson()) console.log(`${row.case.padEnd(30)} ${row.parser.padEnd(22)} ${String(row.rows).padStart(7)} rows ${String(row.ms).padStart(7)} ms  ${row.note}`);
}
