import type { Writable } from 'node:stream';
import { drained, nextTurn } from './output.js';
import { excerpt, numberedLines, LineError } from './records.js';
import { excludeRanges, formatAddress, formatV4, parseSpec, rangeSize, SpecError, type AddressRange } from './targets.js';

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
    // A full pipe is waited on; a file or device never fills, so yield a turn for signals instead.
    await (full ? drained(out) : nextTurn());
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

/** The ranges a spec names, less the excluded ones. */
export function rangesOf(spec: string, excluded: readonly AddressRange[]): AddressRange[] {
  return excludeRanges(parseSpec(spec), [...excluded]);
}

/** Specs one per line on stdin; a bad one is reported as `stdin:LINE` and skipped. */
export async function* specsFromLines(
  input: Parameters<typeof numberedLines>[0],
  excluded: readonly AddressRange[],
  onError: (err: LineError) => void,
): AsyncGenerator<AddressRange[]> {
  for await (const { line, text } of numberedLines(input, onError)) {
    if (text.trim() === '') continue;
    try {
      yield rangesOf(text, excluded);
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      // The line is quoted escaped and cut, as the other commands do: it may hold terminal escapes
      // or be megabytes long (issue 10 item 19).
      const reason = err.message.slice(`bad target "${err.spec}": `.length);
      onError(new LineError(line, `bad target ${excerpt(err.spec)}: ${reason}`));
    }
  }
}
