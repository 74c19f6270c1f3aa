import type { Readable } from 'node:stream';
import { addressesOf, canonicalAddress, parseSpec, type AddressRange } from './targets.js';

/** A record flowing through the pipeline: a JSON object, unknown fields kept. */
export type Rec = Record<string, unknown>;

/** A target record: a record whose `ip` is a valid address in canonical form. */
export type Target = Rec & { ip: string };

/**
 * The input record a result record was made from, attached (not enumerable, never written) by a
 * stage so the record output path can apply the one rule of issue 10 item 22: see keepEarlier.
 */
export const INPUT = Symbol('input record');

/** `record`, remembering the input record it was made from. */
export function withInput<T extends Rec>(record: T, input: Rec): T {
  Object.defineProperty(record, INPUT, { value: input, enumerable: false });
  return record;
}

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && JSON.stringify(a) === JSON.stringify(b));

/**
 * The one rule for fields in a pipeline: a stage never overwrites or drops a field an earlier stage
 * wrote. Every input field comes out with its input value; where the stage found a different value
 * for a field of the same name, the stage's value is written as `<stage>_<field>` (tcpprobe after
 * pingprobe: `rtt` stays the ping's, `tcp_rtt` is the port's). The same stage run again replaces
 * its own `<stage>_<field>`. A stage used alone (input fields only `ip`, or none it writes) writes
 * its record shape unchanged.
 */
export function keepEarlier(record: Rec, stage: string): Rec {
  const input = (record as { [INPUT]?: Rec })[INPUT];
  if (!input) return record;
  let out: Rec | null = null;
  for (const key of Object.keys(input)) {
    const has = Object.hasOwn(record, key);
    if (has && sameValue(record[key], input[key])) continue;
    out ??= { ...record };
    if (has) out[`${stage}_${key}`] = record[key];
    out[key] = input[key];
  }
  return out ?? record;
}

export class LineError extends Error {
  override name = 'LineError';

  constructor(readonly line: number, reason: string) {
    super(`stdin:${line}: ${reason}`);
  }
}

const EXCERPT = 60;

/** Text from input quoted for a message: JSON escapes (no terminal escapes get through), cut at 60. */
export function excerpt(text: string): string {
  return JSON.stringify(text.length > EXCERPT ? `${text.slice(0, EXCERPT)}...` : text);
}

/**
 * One input line as a record: a JSON object, or a bare IP address meaning `{"ip": "..."}`.
 * Returns null for a blank line. With `needIp`, the record must carry a valid `ip`, which is
 * rewritten in canonical form so replies can be matched against it.
 */
export function parseLine(text: string, line: number, needIp: boolean): Rec | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  let record: Rec;
  if (trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      throw new LineError(line, `invalid JSON (${(err as Error).message}): ${excerpt(trimmed)}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new LineError(line, `not a JSON object: ${excerpt(trimmed)}`);
    }
    record = value as Rec;
  } else {
    const ip = canonicalAddress(trimmed);
    if (ip === null) throw new LineError(line, `not a JSON record or IP address: ${excerpt(trimmed)}`);
    return { ip };
  }
  if (!needIp) return record;
  if (typeof record.ip !== 'string') throw new LineError(line, `record has no "ip" field: ${excerpt(trimmed)}`);
  const ip = canonicalAddress(record.ip);
  if (ip === null) throw new LineError(line, `bad IP address ${excerpt(record.ip)}`);
  record.ip = ip;
  return record;
}

/**
 * The longest input line read (64 MiB). A longer one is reported as `stdin:N: line longer than ...`
 * and skipped without being held: V8 cannot make a string past ~512 MiB, and readline crashed every
 * reader with a RangeError there (`tojson < /dev/zero`), losing every later line (issue 10 item 12).
 */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Lines of a stream, numbered from 1, split on LF with a CR before it dropped (CRLF is one line end).
 * Not readline: it has no length cap. Not the `ndjson` package: it loses every row after a bad one,
 * ends on a `null` row and re-splits huge lines quadratically (README "Why not ndjson"). A line
 * longer than `maxBytes` goes to `onError` (or throws without one) and is skipped.
 */
export async function* numberedLines(
  input: Readable,
  onError?: (err: LineError) => void,
  maxBytes = MAX_LINE_BYTES,
): AsyncGenerator<{ line: number; text: string }> {
  let parts: Buffer[] = [];
  let size = 0;
  let line = 0;
  let skipping = false;
  const tooLong = (at: number): void => {
    const err = new LineError(at, `line longer than ${maxBytes >= 1 << 20 ? `${maxBytes / (1 << 20)} MiB` : `${maxBytes} bytes`}, skipped`);
    if (!onError) throw err;
    onError(err);
  };
  const text = (tail: Buffer): string => {
    const whole = parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    const end = whole.length > 0 && whole[whole.length - 1] === 13 ? whole.length - 1 : whole.length;
    return whole.toString('utf8', 0, end);
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let end = buffer.indexOf(10, start); end >= 0; end = buffer.indexOf(10, start)) {
      line++;
      if (skipping) skipping = false;
      else if (size + end - start > maxBytes) tooLong(line);
      else yield { line, text: text(buffer.subarray(start, end)) };
      parts = [];
      size = 0;
      start = end + 1;
    }
    if (start < buffer.length && !skipping) {
      if (size + buffer.length - start > maxBytes) {
        tooLong(line + 1);
        skipping = true;
        parts = [];
        size = 0;
      } else {
        parts.push(buffer.subarray(start));
        size += buffer.length - start;
      }
    }
  }
  if (size > 0 && !skipping) yield { line: line + 1, text: text(Buffer.alloc(0)) };
}

/**
 * Records from a stream; a bad line goes to `onError` and is skipped, the lines around it kept.
 * `check` may refuse a record that parsed (throwing an Error that says why), as a bad line.
 */
export async function* readRecords(
  input: Readable,
  onError: (err: LineError) => void,
  needIp = true,
  check?: (record: Rec) => unknown,
): AsyncGenerator<Rec> {
  for await (const { line, text } of numberedLines(input, onError)) {
    let record: Rec | null;
    try {
      record = parseLine(text, line, needIp);
      if (record !== null && check) {
        try {
          check(record);
        } catch (err) {
          throw new LineError(line, (err as Error).message);
        }
      }
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      onError(err);
      continue;
    }
    if (record !== null) yield record;
  }
}

/** A target record for every address of the ranges, in order, made as they are asked for. */
export function* targetsOf(ranges: readonly AddressRange[]): Generator<Target> {
  for (const ip of addressesOf(ranges)) yield { ip };
}

/** Targets named as arguments: every iprange spec, all checked before the first is expanded (lazily). */
export function targetsFromArgs(specs: readonly string[]): Iterable<Target> {
  return targetsOf(specs.flatMap((spec) => parseSpec(spec)));
}

/** The items of `source` until `signal` aborts: a pending read is abandoned, not awaited. */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  // One settle function for the read in flight, so an abort ends it. (Racing every read against one
  // shared abort promise would leave a reaction on that promise per item: a leak on long inputs.)
  let settle: ((step: IteratorResult<T>) => void) | null = null;
  const onAbort = (): void => settle?.({ done: true, value: undefined });
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (!signal.aborted) {
      const step = await new Promise<IteratorResult<T>>((resolve, reject) => {
        settle = resolve;
        iterator.next().then(resolve, reject);
      });
      settle = null;
      if (step.done) return;
      yield step.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

/**
 * untilAborted for either kind of source: a plain iterable stays plain (no promise per item; it
 * never holds a read pending, so checking the signal before each item is enough).
 */
export function stopOnAbort<T>(source: Iterable<T> | AsyncIterable<T>, signal: AbortSignal): Iterable<T> | AsyncIterable<T> {
  return Symbol.asyncIterator in source ? untilAborted(source, signal) : whileNotAborted(source, signal);
}

function* whileNotAborted<T>(source: Iterable<T>, signal: AbortSignal): Generator<T> {
  for (const item of source) {
    if (signal.aborted) return;
    yield item;
  }
}
