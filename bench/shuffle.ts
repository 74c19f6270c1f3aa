// iprange --shuffle against the plain order and against prips (#12): the permutation's cost per
// address, and peak RSS that stays flat whatever the size (nothing is collected).
import { fileURLToPath } from 'node:url';
import { has } from '../test/lab.js';
import { compare, timeCommand, type BenchRow } from './measure.js';

const BIN = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url));

export async function benchShuffle(repeat: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const lines = 16777216;
  const count = (text: string): number => Number(text.trim());
  // 1. The first 2^24 addresses of the whole IPv4 space: shuffled vs plain order (both ours).
  rows.push(
    await compare(
      `iprange --shuffle 0.0.0.0/0 | head -n ${lines} vs plain order`,
      { name: 'iprange --shuffle', argv: ['sh', '-c', `"${BIN('iprange')}" --shuffle 0.0.0.0/0 | head -n ${lines} | wc -l`] },
      { name: 'iprange (plain)', argv: ['sh', '-c', `"${BIN('iprange')}" 0.0.0.0/0 | head -n ${lines} | wc -l`] },
      repeat,
      (mine, theirs) => count(mine) === lines && count(theirs ?? '') === lines,
    ),
  );
  // 2. A whole /8, shuffled, vs prips printing it in order (loopback's /8: no private range named here).
  const peer = has('prips') ? { name: 'prips', argv: ['sh', '-c', 'prips 127.0.0.0/8 | wc -l'] } : null;
  const row = await compare(
    'iprange --shuffle 127.0.0.0/8 | wc -l vs prips (16.7M lines)',
    { name: 'iprange --shuffle', argv: ['sh', '-c', `"${BIN('iprange')}" --shuffle 127.0.0.0/8 | wc -l`] },
    peer,
    repeat,
    (mine, theirs) => count(mine) === lines && (theirs === null || count(theirs) === lines),
  );
  // Flat memory: the same command through a pipe over a /16, the /8 above, and 0.0.0.0/0 | head (row 1).
  const small = await timeCommand(['sh', '-c', `"${BIN('iprange')}" --shuffle 127.0.0.0/16 | wc -l`]);
  const mb = (kb: number): number => Math.round(kb / 1024);
  row.note =
    `${peer ? '' : 'prips not installed: apt-get install prips; '}peak RSS ${mb(small.rssKb)} MB for a /16, ` +
    `${mb(row.ours.stats.rssKb)} MB for a /8, ${mb(rows[0]?.ours.stats.rssKb ?? 0)} MB for 0.0.0.0/0 | head ` +
    `(flat: the permutation holds 4 round keys, and one chunk buffer is reused)`;
  rows.push(row);
  return rows;
}
