// Targets as people type them, the same in every command: specs and host names as arguments,
// `-iL` files, stdin lines (specs, names, or records with an `ip`, or a `host` and no `ip`), less
// `-x`/`--exclude`/`--excludefile`. Names resolve concurrently (bounded, in input order), and each
// address record of a name carries `"host": NAME`.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ParsedArgs } from 'minimist';
import { allValues, lastValue, positiveInt, UsageError } from '../frame.js';
import { LineError, numberedLines, parseLine, targetsOf, type Rec, type Target } from '../records.js';
import { addressesOf, canonicalAddress, excludeRanges, parseAddress, parseSpec, SpecError, type AddressRange } from '../targets.js';
import { mapAhead } from './ahead.js';
import { asName, DEFAULT_RESOLVE_TIMEOUT_MS, NameResolver, ResolveError } from './names.js';

/** Names resolving at once: enough to hide a slow resolver, few enough for libuv's 4 threads to matter little. */
const RESOLVE_WINDOW = 16;

/** What one spec, line or record stands for, before names are resolved. */
export type TargetItem =
  | { kind: 'ranges'; ranges: AddressRange[] }
  | { kind: 'record'; record: Target }
  | { kind: 'name'; host: string; fields: Rec };

/** minimist flags for target selection, shared by the probes and pmap. */
export const TARGET_FLAGS = {
  string: ['exclude', 'excludefile', 'resolve-timeout'],
  boolean: ['4', '6', 'R'],
  alias: { exclude: 'x' },
};

export interface TargetOptions {
  excluded: AddressRange[];
  resolver: NameResolver;
  /** Add `"ptr": NAME` (reverse lookup) to every target record (-R). */
  reverse: boolean;
}

/** A range, or a name to resolve, for each comma-separated part of `spec`; a SpecError when a part is neither. */
export function parseTargetSpec(spec: string): (AddressRange | string)[] {
  const trimmed = spec.trim();
  if (trimmed === '') throw new SpecError(spec, 'empty target');
  return trimmed.split(',').map((raw) => {
    const part = raw.trim();
    try {
      const [range] = parseSpec(part);
      return range as AddressRange;
    } catch (err) {
      if (!(err instanceof SpecError)) throw err;
      return asName(part, err);
    }
  });
}

/** The items of one spec: runs of ranges (exclusions applied) and names, in order. */
export function specItems(spec: string, excluded: readonly AddressRange[], fields: Rec = {}): TargetItem[] {
  const items: TargetItem[] = [];
  for (const part of parseTargetSpec(spec)) {
    if (typeof part === 'string') {
      items.push({ kind: 'name', host: part, fields });
      continue;
    }
    const last = items[items.length - 1];
    const kept = excludeRanges([part], [...excluded]);
    if (last?.kind === 'ranges') last.ranges.push(...kept);
    else items.push({ kind: 'ranges', ranges: kept });
  }
  return items;
}

/** Whether `ip` falls in one of the excluded ranges. */
export function isExcluded(ip: string, excluded: readonly AddressRange[]): boolean {
  if (excluded.length === 0) return false;
  const address = parseAddress(ip);
  if (!address) return false;
  return excluded.some((range) => range.family === address.family && range.first <= address.value && address.value <= range.last);
}

/**
 * One input line as items: a JSON record with an `ip` (canonicalised) or with a `host` and no `ip`,
 * or a spec or name; in a `list` file (-iL), specs and names separated by blanks, `#` starting a
 * comment, as in nmap's. `check` may refuse a record (tcpprobe's `port`). Throws LineError.
 */
export function lineItems(text: string, line: number, excluded: readonly AddressRange[], check?: (record: Rec) => unknown, list = false): TargetItem[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const record = parseLine(trimmed, line, false) as Rec;
    try {
      check?.(record);
    } catch (err) {
      throw new LineError(line, (err as Error).message);
    }
    if (record.ip === undefined && typeof record.host === 'string') {
      try {
        return [{ kind: 'name', host: asName(record.host, new SpecError(record.host, 'not a host name')), fields: record }];
      } catch (err) {
        throw new LineError(line, (err as Error).message);
      }
    }
    if (typeof record.ip !== 'string') throw new LineError(line, `record has no "ip" or "host" field: ${JSON.stringify(trimmed.slice(0, 60))}`);
    const ip = canonicalAddress(record.ip);
    if (ip === null) throw new LineError(line, `bad IP address ${JSON.stringify(record.ip.slice(0, 60))}`);
    const target = Object.assign(record, { ip });
    return isExcluded(target.ip, excluded) ? [] : [{ kind: 'record', record: target }];
  }
  // stdin: one spec a line, so `not an ip` is one bad line, never three names to look up. -iL
  // files: nmap's format, blank-separated specs and `#` comments.
  const specs = list ? trimmed.replace(/#.*/, '').split(/\s+/).filter(Boolean) : trimmed === '' ? [] : [trimmed];
  try {
    return specs.flatMap((spec) => specItems(spec, excluded));
  } catch (err) {
    if (err instanceof SpecError) throw new LineError(line, err.message);
    throw err;
  }
}

/** Items of each line of `input`; a bad line goes to `onError` (named `source:LINE`) and is skipped. */
export async function* itemsFromLines(
  input: Readable,
  excluded: readonly AddressRange[],
  onError: (err: LineError) => void,
  options: { source?: string; check?: (record: Rec) => unknown } = {},
): AsyncGenerator<TargetItem> {
  for await (const { line, text } of numberedLines(input)) {
    let items: TargetItem[];
    try {
      items = lineItems(text, line, excluded, options.check, options.source !== undefined && options.source !== 'stdin');
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      if (options.source !== undefined) err.message = err.message.replace(/^stdin:/, `${options.source}:`);
      onError(err);
      continue;
    }
    yield* items;
  }
}

/**
 * The items with names resolved (up to RESOLVE_WINDOW at once, results in input order): a name
 * becomes `{...fields, ip, host}` per address, exclusions applied. A name that does not resolve
 * goes to `onError`, and the rest go on.
 */
export function resolveItems(
  items: AsyncIterable<TargetItem> | Iterable<TargetItem>,
  options: Pick<TargetOptions, 'excluded' | 'resolver'>,
  onError: (err: ResolveError) => void,
): AsyncGenerator<TargetItem[]> {
  const { resolver, excluded } = options;
  return mapAhead<TargetItem, TargetItem[]>(
    items,
    (item) => {
      if (item.kind !== 'name') return [item];
      return resolver.resolve(item.host).then(
        ({ host, addresses }) =>
          addresses
            .filter((ip) => !isExcluded(ip, excluded))
            .map((ip): TargetItem => ({ kind: 'record', record: { ...item.fields, ip, host } })),
        (err: unknown) => {
          if (!(err instanceof ResolveError)) throw err;
          onError(err);
          return [];
        },
      );
    },
    RESOLVE_WINDOW,
  );
}

/** Target records of the items: ranges expanded lazily, names resolved; with `reverse`, each gets its `ptr`. */
export async function* resolveTargets(
  items: AsyncIterable<TargetItem> | Iterable<TargetItem>,
  options: TargetOptions,
  onError: (err: ResolveError) => void,
): AsyncGenerator<Target> {
  async function* flat(): AsyncGenerator<Target> {
    for await (const resolved of resolveItems(items, options, onError)) {
      for (const item of resolved) {
        if (item.kind === 'record') yield item.record;
        else if (item.kind === 'ranges') for (const ip of addressesOf(item.ranges)) yield { ip };
      }
    }
  }
  if (!options.reverse) {
    yield* flat();
    return;
  }
  const { resolver } = options;
  yield* mapAhead(
    flat(),
    async (target): Promise<Target> => {
      const ptr = await resolver.reverse(target.ip);
      return ptr === undefined ? target : { ...target, ptr };
    },
    RESOLVE_WINDOW,
  );
}

/** Every line of a file listing specs (-iL, --excludefile): a missing or empty file is a usage error. */
export function checkListFile(flag: string, file: string): void {
  if (file === '-') return;
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size === 0) throw new UsageError(`${flag} ${file}: the file is empty`);
}

/**
 * The excluded ranges of `-x SPEC`... and `--excludefile FILE`, names resolved (all of their
 * addresses are left out). Every problem is a usage error naming the value.
 */
export async function exclusionsFromArgs(args: ParsedArgs, resolver: NameResolver): Promise<AddressRange[]> {
  const specs = allValues(args, 'exclude');
  for (const file of allValues(args, 'excludefile')) {
    checkListFile('--excludefile', file);
    const lines = readFileSync(file, 'utf8').split('\n');
    for (const line of lines) specs.push(...line.replace(/#.*/, '').split(/[\s,]+/).filter(Boolean));
  }
  const ranges: AddressRange[] = [];
  for (const spec of specs) {
    for (const part of parseTargetSpec(spec)) {
      if (typeof part !== 'string') {
        ranges.push(part);
        continue;
      }
      try {
        const { addresses } = await resolver.resolve(part);
        for (const ip of addresses) ranges.push(...parseSpec(ip));
      } catch (err) {
        if (err instanceof ResolveError) throw new UsageError(`--exclude: ${err.message}`);
        throw err;
      }
    }
  }
  return ranges;
}

/** The resolver the flags ask for: -4/-6 (not both), --resolve-timeout MS. */
export function resolverFromArgs(args: ParsedArgs): NameResolver {
  if (args['4'] && args['6']) throw new UsageError('-4 and -6 exclude each other');
  const timeoutMs = lastValue(args, 'resolve-timeout') === undefined ? DEFAULT_RESOLVE_TIMEOUT_MS : positiveInt(args, 'resolve-timeout');
  return new NameResolver({ timeoutMs, ...(args['4'] ? { family: 4 as const } : args['6'] ? { family: 6 as const } : {}) });
}

/** -iL files as item streams, checked before the scan starts. */
export function listFileItems(
  files: readonly string[],
  excluded: readonly AddressRange[],
  onError: (err: LineError) => void,
  stdin: Readable,
): AsyncIterable<TargetItem>[] {
  for (const file of files) checkListFile('-iL', file);
  return files.map((file) => ({
    [Symbol.asyncIterator]: () =>
      itemsFromLines(file === '-' ? stdin : createReadStream(file), excluded, onError, { source: file === '-' ? 'stdin' : file }),
  }));
}

/** The items of several sources, one after the other. */
export async function* chainItems(sources: (Iterable<TargetItem> | AsyncIterable<TargetItem>)[]): AsyncGenerator<TargetItem> {
  for (const source of sources) yield* source;
}

/**
 * The targets of a probe command: its arguments (all checked before the first goes out), or stdin
 * lines without any; exclusions, names and -R as the flags say.
 */
export async function commandTargets(
  args: ParsedArgs,
  stdin: Readable,
  onError: (err: LineError) => void,
  check?: (record: Rec) => unknown,
): Promise<AsyncGenerator<Target>> {
  const resolver = resolverFromArgs(args);
  const excluded = await exclusionsFromArgs(args, resolver);
  const specs = args._.map(String);
  const items = specs.length > 0 ? specs.flatMap((spec) => specItems(spec, excluded)) : itemsFromLines(stdin, excluded, onError, check ? { check } : {});
  return resolveTargets(items, { excluded, resolver, reverse: Boolean(args.R) }, onError);
}

/**
 * commandTargets, as a plain iterable when nothing in it waits (address specs as arguments, no -R):
 * a sweep then takes each target without a promise. Through the async generators, the 65536
 * addresses of a /16 cost about 80-100 ms here before any probe ran.
 */
export async function commandTargetSource(
  args: ParsedArgs,
  stdin: Readable,
  onError: (err: LineError) => void,
): Promise<Iterable<Target> | AsyncIterable<Target>> {
  const specs = args._.map(String);
  if (specs.length === 0 || args.R) return commandTargets(args, stdin, onError);
  const resolver = resolverFromArgs(args);
  const excluded = await exclusionsFromArgs(args, resolver);
  const items = specs.flatMap((spec) => specItems(spec, excluded));
  if (items.some((item) => item.kind !== 'ranges')) return resolveTargets(items, { excluded, resolver, reverse: false }, onError);
  return targetsOf(items.flatMap((item) => (item.kind === 'ranges' ? item.ranges : [])));
}

/** A command's flags with the target flags added. */
export function withTargetFlags<F extends { string?: string[]; boolean?: string[]; alias?: Record<string, string | string[]> }>(flags: F): F {
  return {
    ...flags,
    string: [...(flags.string ?? []), ...TARGET_FLAGS.string],
    boolean: [...(flags.boolean ?? []), ...TARGET_FLAGS.boolean],
    alias: { ...(flags.alias ?? {}), ...TARGET_FLAGS.alias },
  };
}

/** The target flags in --help, shared by the commands that take them. */
/** The target flags' lines for every command's "Options:" (lib/help), at most 80 columns. */
export const TARGET_OPTIONS = `  -x, --exclude SPEC    leave these addresses out (repeatable; names too)
  --excludefile FILE    specs to leave out, one a line
  -4, -6                keep one family of a name's addresses
  -R                    add "ptr" (the reverse name) to records
  --resolve-timeout MS  give up on a name after MS (default ${DEFAULT_RESOLVE_TIMEOUT_MS})`;
