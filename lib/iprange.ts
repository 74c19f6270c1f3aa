import type { Writable } from 'node:stream';
import { drained, nextTurn } from './output.js';
import { randomInt } from 'node:crypto';
import type { ParsedArgs } from 'minimist';
import { allValues, lastValue, UsageError, type Io } from './frame.js';
import { parsePorts } from './ports.js';
import type { Rec, Target } from './records.js';
import { formatAddress, formatV4, parseSpec, rangeSize, type AddressRange } from './targets.js';
import { exclusionsFromArgs, itemsFromLines, resolveItems, resolverFromArgs, specItems, type TargetItem } from './targets/input.js';
import { firstPosition, MAX_PERMUTATION_SIZE, parseShard, Permutation, type Shard } from './targets/permutation.js';

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

/** One run of addresses in the index space, and the fields its records carry (a resolved name's `host`). */
export interface Segment {
  range: AddressRange;
  fields?: Rec;
}

export interface OrderOptions {
  /** Shuffle with this seed; undefined keeps address order. */
  seed?: number;
  shard?: Shard;
  /** The position (in the whole order, every shard's included) to start at. */
  resumeAt: number;
  /** Emit {ip, port} for each of these ports per address, permuted together. */
  ports?: readonly number[];
}

/** The targets of `segments` as an index space: its size, and the record text at an index. */
export class IndexSpace {
  readonly addresses: number;
  readonly size: number;
  private readonly starts: number[] = [];
  private readonly segments: readonly Segment[];
  private readonly v4First: number;

  constructor(segments: readonly Segment[], private readonly ports?: readonly number[]) {
    this.segments = segments;
    let total = 0n;
    for (const { range } of segments) {
      this.starts.push(Number(total));
      total += rangeSize(range);
    }
    const size = total * BigInt(ports?.length ?? 1);
    if (size > BigInt(MAX_PERMUTATION_SIZE)) {
      throw new UsageError(`${size} targets: --shuffle, --shard and --resume-at take at most 2^52 (an IPv6 /76, or fewer with --ports)`);
    }
    this.addresses = Number(total);
    this.size = Number(size);
    this.v4First = segments[0]?.range.family === 4 ? Number(segments[0].range.first) : 0;
  }

  /** The first address when the space is one IPv4 range without ports or fields, else null. */
  singleV4(): number | null {
    const only = this.segments[0];
    return this.segments.length === 1 && !this.ports && only?.range.family === 4 && !only.fields ? this.v4First : null;
  }

  /** The NDJSON line of the target at `index`. */
  line(index: number): string {
    const ports = this.ports;
    const { ip, fields } = this.address(ports ? Math.floor(index / ports.length) : index);
    const port = ports ? ports[index % ports.length] : undefined;
    if (fields) return `${JSON.stringify({ ...fields, ip, ...(port === undefined ? {} : { port }) })}\n`;
    return port === undefined ? `{"ip":"${ip}"}\n` : `{"ip":"${ip}","port":${port}}\n`;
  }

  /** The target record at `index` of a space without ports (pmap orders hosts; each is scanned whole). */
  target(index: number): Target {
    const { ip, fields } = this.address(index);
    return fields ? { ...fields, ip } : { ip };
  }

  /** The address at position `address` of the segments, and the fields its segment carries. */
  private address(address: number): { ip: string; fields: Rec | undefined } {
    // Binary search for the segment holding `address`: the last start at or before it.
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.starts[middle] as number) <= address) low = middle;
      else high = middle - 1;
    }
    const segment = this.segments[low] as Segment;
    const offset = address - (this.starts[low] as number);
    const { range } = segment;
    const ip = range.family === 4 ? formatV4(Number(range.first) + offset) : formatAddress(6, range.first + BigInt(offset));
    return { ip, fields: segment.fields };
  }
}

/** Where an ordered run stands: how many written, and the position to resume at. */
export interface OrderProgress {
  written: number;
  next: number;
}

/**
 * Write the targets of `space` in the order the options ask (shuffled, one shard, from a resume
 * position), in ~64 KiB chunks with backpressure. Nothing is collected: a position maps to its
 * target by arithmetic. `progress.next` is the position to resume at, kept current per chunk.
 */
export async function writeOrdered(space: IndexSpace, options: OrderOptions, out: Writable, signal: AbortSignal, progress: OrderProgress): Promise<void> {
  const permutation = options.seed === undefined ? null : new Permutation(space.size, options.seed);
  const shard = options.shard ?? { k: 1, n: 1 };
  let position = firstPosition(shard, options.resumeAt);
  progress.next = Math.min(position, space.size);
  const v4First = space.singleV4();
  if (v4First !== null) {
    await writeV4Bytes(v4First, space.size, permutation, shard.n, position, out, signal, progress);
    return;
  }
  let chunk = '';
  let pending = 0;
  for (; position < space.size; position += shard.n) {
    chunk += space.line(permutation ? permutation.at(position) : position);
    pending++;
    if (chunk.length >= CHUNK) {
      const full = !out.write(chunk);
      chunk = '';
      progress.written += pending;
      pending = 0;
      progress.next = position + shard.n;
      // Yield to the event loop every chunk even when the stream never fills (/dev/null, a file):
      // else Ctrl-C is never seen (#10 item 1). One turn per 64 KiB costs nothing measurable.
      await (full ? drained(out) : new Promise<void>((resolve) => setImmediate(resolve)));
      if (signal.aborted || out.destroyed) return;
    }
  }
  if (chunk !== '') out.write(chunk);
  progress.written += pending;
  progress.next = space.size;
}

const OCTET_BYTES = Array.from({ length: 256 }, (_, i) => Buffer.from(String(i)));
const HEAD = Buffer.from('{"ip":"');
const TAIL = Buffer.from('"}\n');

/**
 * writeOrdered for the common case, one IPv4 range without ports or fields: the lines are built
 * as bytes in a buffer, not as strings (measured on 2^24 addresses: about twice as fast).
 */
async function writeV4Bytes(
  first: number,
  size: number,
  permutation: Permutation | null,
  step: number,
  start: number,
  out: Writable,
  signal: AbortSignal,
  progress: OrderProgress,
): Promise<void> {
  const LINE_MAX = HEAD.length + 15 + TAIL.length;
  let buffer = Buffer.allocUnsafe(CHUNK + LINE_MAX);
  let length = 0;
  let pending = 0;
  for (let position = start; position < size; position += step) {
    const v = first + (permutation ? permutation.at(position) : position);
    length += HEAD.copy(buffer, length);
    length += (OCTET_BYTES[v >>> 24] as Buffer).copy(buffer, length);
    buffer[length++] = 46;
    length += (OCTET_BYTES[(v >>> 16) & 255] as Buffer).copy(buffer, length);
    buffer[length++] = 46;
    length += (OCTET_BYTES[(v >>> 8) & 255] as Buffer).copy(buffer, length);
    buffer[length++] = 46;
    length += (OCTET_BYTES[v & 255] as Buffer).copy(buffer, length);
    length += TAIL.copy(buffer, length);
    pending++;
    if (length >= CHUNK) {
      const full = !out.write(buffer.subarray(0, length));
      length = 0;
      progress.written += pending;
      pending = 0;
      progress.next = position + step;
      await (full ? drained(out) : new Promise<void>((resolve) => setImmediate(resolve)));
      if (signal.aborted || out.destroyed) return;
      // Once the stream holds nothing, every chunk has been handed to the kernel: fill the same
      // buffer again. A new 64 KiB buffer per chunk is garbage that V8 collects only past its
      // external-memory threshold: peak RSS rose from 57 MB (a /16) to 89 MB (a /8).
      if (out.writableLength > 0) buffer = Buffer.allocUnsafe(CHUNK + LINE_MAX);
    }
  }
  if (length > 0) out.write(buffer.subarray(0, length));
  progress.written += pending;
  progress.next = size;
}

/** The segments of resolved items, gathered whole (an index space needs every spec before the first target). */
export async function segmentsOf(items: AsyncIterable<TargetItem[]>): Promise<Segment[]> {
  const segments: Segment[] = [];
  for await (const batch of items) {
    for (const item of batch) {
      if (item.kind === 'ranges') for (const range of item.ranges) segments.push({ range });
      else if (item.kind === 'record') {
        const { ip, ...fields } = item.record;
        segments.push({ range: parseSpec(ip)[0] as AddressRange, fields });
      }
    }
  }
  return segments;
}

const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** iprange's flags after the target flags: the order and split options (#12). */
export const ORDER_FLAGS = { string: ['seed', 'shard', 'resume-at', 'ports'], boolean: ['shuffle'] };

function wholeNumber(args: ParsedArgs, flag: string, max: number): number | undefined {
  const text = lastValue(args, flag);
  if (text === undefined) return undefined;
  if (!/^\d{1,16}$/.test(text) || Number(text) > max) throw new UsageError(`--${flag} must be a whole number 0-${max}, not "${text}"`);
  return Number(text);
}

/** The order options the flags ask for; `undefined` when none is given (plain streaming order). */
export function orderOptionsFromArgs(args: ParsedArgs, randomSeed: () => number): OrderOptions | undefined {
  const given = ['shuffle', ...ORDER_FLAGS.string].some((flag) => args[flag] !== undefined && args[flag] !== false);
  if (!given) return undefined;
  const shardText = lastValue(args, 'shard');
  let shard: Shard | undefined;
  if (shardText !== undefined) {
    try {
      shard = parseShard(shardText);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  let seed = wholeNumber(args, 'seed', MAX_SEED);
  // zmap's rule: shards agree on the order only through a seed they were all given.
  if (shard && seed === undefined) throw new UsageError(`--shard ${shardText} needs --seed N: each shard would pick its own order, and together they would not cover the targets`);
  if (args.shuffle && seed === undefined) seed = randomSeed();
  const portsText = allValues(args, 'ports').join(',');
  return {
    ...(seed === undefined ? {} : { seed }),
    ...(shard ? { shard } : {}),
    resumeAt: wholeNumber(args, 'resume-at', MAX_SEED) ?? 0,
    ...(portsText === '' ? {} : { ports: parsePorts(portsText) }),
  };
}

/** The iprange command: plain streaming order, or an index space in the order the flags ask. */
export async function iprange(args: ParsedArgs, io: Io): Promise<void> {
  const resolver = resolverFromArgs(args);
  const order = orderOptionsFromArgs(args, () => randomInt(2 ** 48 - 1));
  const excluded = await exclusionsFromArgs(args, resolver);
  const progress: OrderProgress = { written: 0, next: 0 };
  io.summary = () => `${progress.written} ${order?.ports ? 'targets' : 'addresses'}`;
  // Every argument is checked before the first address goes out: a bad one writes nothing.
  const items = args._.length > 0 ? args._.flatMap((spec) => specItems(String(spec), excluded)) : itemsFromLines(io.stdin, excluded, io.lineError);
  const resolved = resolveItems(items, { excluded, resolver }, io.lineError);
  if (!order) {
    progress.written = await writeItems(resolved, io.stdout, io.signal);
    return;
  }
  const space = new IndexSpace(await segmentsOf(resolved), order.ports);
  if (order.resumeAt > space.size) throw new UsageError(`--resume-at ${order.resumeAt} is beyond the end (${space.size} targets)`);
  const shard = order.shard ? `--shard ${order.shard.k}/${order.shard.n} ` : '';
  if (io.verbose && order.seed !== undefined) io.log(`${space.size} targets, ${shard}--seed ${order.seed}`);
  io.summary = () =>
    `${progress.written} ${order.ports ? 'targets' : 'addresses'}, ` +
    (progress.next >= space.size ? 'all done' : `resume with ${shard}${order.seed === undefined ? '' : `--seed ${order.seed} `}--resume-at ${progress.next}`);
  const ticker = io.progress ? setInterval(() => io.progress?.(`position ${progress.next} of ${space.size}`), 250) : undefined;
  try {
    await writeOrdered(space, order, io.stdout, io.signal, progress);
  } finally {
    clearInterval(ticker);
  }
}
