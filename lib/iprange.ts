import type { Writable } from 'node:stream';
import { drained } from './output.js';
import { formatAddress, formatV4, rangeSize, type AddressRange } from './targets.js';
import type { TargetItem } from './targets/input.js';

const CHUNK = 1 << 16;

/**
 * Write `{"ip":"..."}` for every address of `ranges`, in order. Lines are gathered into ~64 KiB
 * chunks (one write per chunk, not per address), and a full stream is waited on before the next
 * chunk is made: `iprange 0.0.0.0/0 | head` costs a few chunks, not 4 billion lines.
 * Returns how many addresses were written.
 */
export async function writeRanges(ranges: readonly AddressRange[], out: Writable, signal: AbortSignal): Promise<number> {
  let chunk = '';
  let written = 0;
  const flush = async (): Promise<void> => {
    const full = !out.write(chunk);
    chunk = '';
    if (full) await drained(out);
  };
  for (const range of ranges) {
    if (range.family === 4) {
      const last = Number(range.last);
      // The first three octets change once every 256 addresses: format them only then.
      let prefix = '';
      for (let v = Number(range.first); v <= last; v++) {
        const low = v & 255;
        if (low === 0 || prefix === '') prefix = `{"ip":"${formatV4(v).slice(0, -String(low).length)}`;
        chunk += `${prefix}${low}"}\n`;
        if (chunk.length >= CHUNK) {
          await flush();
          if (signal.aborted || out.destroyed) return written;
        }
      }
    } else {
      for (let v = range.first; v <= range.last; v++) {
        chunk += `{"ip":"${formatAddress(6, v)}"}\n`;
        if (chunk.length >= CHUNK) {
          await flush();
          if (signal.aborted || out.destroyed) return written;
        }
      }
    }
    written += Number(rangeSize(range));
  }
  if (chunk !== '') await flush();
  return written;
}

/**
 * Write every target of the items: ranges through writeRanges, records (resolved names, record
 * lines from stdin) as they are. Returns how many were written.
 */
export async function writeItems(items: AsyncIterable<TargetItem[]>, out: Writable, signal: AbortSignal): Promise<number> {
  let count = 0;
  for await (const batch of items) {
    for (const item of batch) {
      if (item.kind === 'ranges') count += await writeRanges(item.ranges, out, signal);
      else if (item.kind === 'record') {
        count++;
        if (!out.write(`${JSON.stringify(item.record)}\n`)) await drained(out);
      }
      if (signal.aborted || out.destroyed) return count;
    }
  }
  return count;
}
