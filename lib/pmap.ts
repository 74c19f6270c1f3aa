// pmap, the front end: the classic "ping a range / scan a host" jobs in one command, built from
// the same probes as the filters. -m picks how they run: one event loop, worker threads, or
// child filter processes; the records, and so the output, are the same in each.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type minimist from 'minimist';
import { filter, tap, type Observable } from 'rxjs';
import { HostGroups } from './document.js';
import { lastValue, positiveInt, UsageError, type Io } from './frame.js';
import { writeAll } from './output.js';
import { inProcesses, inThreads } from './parallel.js';
import { DEFAULT_PORTS, parsePorts } from './ports.js';
import { PROBES_MODULE, pingRecords, tcpRecords, type PingWork, type TcpWork } from './probes.js';
import { MAX_PINGS_IN_FLIGHT } from './pingprobe.js';
import { targetsOf, type Rec, type Target } from './records.js';
import { summaryLine, Tally, TerminalReport, type ScanStatus } from './report.js';
import { ScanFile } from './scan-file.js';
import { ServiceNames } from './services.js';
import { openFileLimit } from './tcpprobe.js';
import { parseSpec, rangeSize, type AddressRange } from './targets.js';

export type Kind = 'ping' | 'tcp';
export type Mode = 'async' | 'thread' | 'proc';

export interface PmapOptions {
  kind: Kind;
  spec: string;
  ranges: AddressRange[];
  concurrency: number;
  mode: Mode;
  portsSpec: string;
  ports: number[];
  timeoutMs: number;
  retries: number;
  count: number;
  all: boolean;
  json: boolean;
  file?: string;
  /** Workers or child processes for -m thread|proc. */
  shards: number;
}

/**
 * The seed spells the target flag `-ip`, which getopt-style parsers read as `-i -p`: make it the
 * long option before minimist sees it (`-ip X`, `-ip=X`).
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  return argv.map((arg) => (arg === '-ip' || arg.startsWith('-ip=') ? `-${arg}` : arg));
}

const orList = (values: readonly string[]): string => `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;

function oneOf<T extends string>(args: minimist.ParsedArgs, flag: string, values: readonly T[], fallback?: T): T {
  const value = lastValue(args, flag) ?? '';
  if (value === '' && fallback) return fallback;
  if (value === '') throw new UsageError(`missing -${flag} ${values.join('|')}`);
  if (!(values as readonly string[]).includes(value)) throw new UsageError(`-${flag} must be ${orList(values)}, not "${value}"`);
  return value as T;
}

/** Flags to options, every mistake a UsageError naming the flag (exit 2). */
export function pmapOptions(args: minimist.ParsedArgs, shards = availableParallelism()): PmapOptions {
  const kind = oneOf<Kind>(args, 'f', ['ping', 'tcp']);
  const spec = lastValue(args, 'ip') ?? '';
  if (spec === '') throw new UsageError('missing -ip SPEC (an address, range, CIDR or list)');
  const portsSpec = lastValue(args, 'p') ?? DEFAULT_PORTS;
  const options: PmapOptions = {
    kind,
    spec,
    ranges: parseSpec(spec),
    concurrency: positiveInt(args, 'n'),
    mode: oneOf<Mode>(args, 'm', ['async', 'thread', 'proc'], 'async'),
    portsSpec,
    ports: parsePorts(portsSpec),
    timeoutMs: positiveInt(args, 't'),
    retries: positiveInt(args, 'r', 0),
    count: positiveInt(args, 'c'),
    all: Boolean(args.all),
    json: Boolean(args.json),
    shards: Math.max(1, shards),
  };
  if (kind === 'ping' && options.concurrency > MAX_PINGS_IN_FLIGHT) {
    throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} for ping (16-bit ICMP sequence numbers)`);
  }
  if (args.w !== undefined) {
    const file = lastValue(args, 'w') ?? '';
    if (file === '') throw new UsageError('missing FILE after -w');
    options.file = file;
  }
  return options;
}

const BIN = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url));

/** The probe stage as the chosen mode runs it; every record (closed, filtered, down too) comes out. */
function probeRecords(options: PmapOptions, ready: () => Promise<void> | undefined, log: (line: string) => void): Observable<Rec> {
  const targets = targetsOf(options.ranges);
  // Asked once here (a shell runs `ulimit -n`), and only for tcp: ping holds one socket.
  const fdLimit = options.kind === 'tcp' ? openFileLimit() : null;
  const perShard = Math.max(1, Math.ceil(options.concurrency / options.shards));
  const tcp: TcpWork = { ports: options.ports, concurrency: options.concurrency, timeoutMs: options.timeoutMs, retries: options.retries, fdLimit };
  const ping: PingWork = { concurrency: options.concurrency, timeoutMs: options.timeoutMs, retries: options.retries, count: options.count };
  if (options.mode === 'thread' && options.kind === 'ping') {
    // Measured: the raw-socket addon is not context-aware. A second thread loading it fails with
    // "Module did not self-register", and in a lone worker its socket never delivers a reply.
    log('-m thread: the raw ICMP socket cannot run in worker threads; the sweep runs on the main thread');
  }
  if (options.mode === 'async' || options.kind === 'ping' && options.mode === 'thread') {
    return options.kind === 'tcp' ? tcpRecords(targets, tcp, ready, log) : pingRecords(targets, ping, ready, log);
  }

  // Each host goes whole to one shard, which tries all its ports: a host dealt out port by port got
  // one view per shard (one host counted as "2 hosts unreachable", issue 10 item 17).
  const work = targets;
  // Every shard says the same things (the fallback notice, the fd clamp): pass each on once.
  const said = new Set<string>();
  const onLog = (line: string): void => {
    if (!said.has(line)) said.add(line), log(line);
  };
  const shardOptions = { shards: options.shards, ready, onLog };
  if (options.mode === 'thread') {
    // Only tcp gets here (see above). Threads share the process's descriptor table: each gets its
    // share of the limit.
    const share = fdLimit === null ? null : Math.floor(fdLimit / options.shards);
    return inThreads(work, { module: PROBES_MODULE, entry: 'tcpRecords', options: { ...tcp, concurrency: perShard, fdLimit: share } }, shardOptions);
  }
  const common = ['-n', String(perShard), '-t', String(options.timeoutMs), '-r', String(options.retries), '--all'];
  return options.kind === 'tcp'
    ? inProcesses(work, BIN('tcpprobe'), [...common, '-p', options.portsSpec], shardOptions)
    : inProcesses(work, BIN('pingprobe'), [...common, '-c', String(options.count)], shardOptions);
}

function shown(record: Rec, all: boolean): boolean {
  return all || record.alive === true || record.state === 'open';
}

/** Run a scan: results on the terminal (or NDJSON with --json) as they come, the file at the end. */
export async function runPmap(options: PmapOptions, io: Io, context: { argv: string[]; colour: boolean }): Promise<number> {
  const file = options.file === undefined ? null : new ScanFile(options.file);
  file?.check();
  const started = new Date();
  const tally = new Tally(options.kind === 'ping');
  // Grouped by host only for the file: without -w nothing is kept per result.
  const hosts = file ? new HostGroups() : null;
  // Rows and the progress line may share a terminal: a row first wipes the progress line.
  const report = new TerminalReport(io.stdout, { colour: context.colour, services: new ServiceNames(), beforeLine: () => io.clearProgress() });
  const addresses = options.ranges.reduce((sum, range) => sum + rangeSize(range), 0n);
  const expected = Number(options.kind === 'tcp' ? addresses * BigInt(options.ports.length) : addresses);
  const counts = (): string =>
    options.kind === 'tcp'
      ? `${tally.totals.ports}/${expected} ports, ${tally.totals.open} open`
      : `${tally.totals.hosts}/${expected} hosts, ${tally.totals.up} up`;
  io.summary = () => `${options.kind} -m ${options.mode} -n ${options.concurrency}: ${counts()}`;

  if (!options.json) report.print(report.header(options.kind));
  const progress = io.progress;
  const ticker = progress ? setInterval(() => progress(counts()), 250) : undefined;
  const results = probeRecords(options, () => io.records.ready(), io.log).pipe(
    tap((record) => tally.add(record)),
    filter((record) => shown(record, options.all)),
    tap((record) => hosts?.add(record as Target)),
  );
  let status: ScanStatus = 'done';
  try {
    await writeAll(results, options.json ? io.records : report, io.signal);
    if (io.signal.aborted) status = 'interrupted';
  } catch (err) {
    status = 'failed';
    throw err;
  } finally {
    clearInterval(ticker);
    io.clearProgress();
    const ended = new Date();
    const seconds = (ended.getTime() - started.getTime()) / 1000;
    if (!options.json) report.print(summaryLine(options.kind, tally.totals, seconds, status));
    file?.save({
      scan: {
        command: ['pmap', ...context.argv].join(' '),
        kind: options.kind,
        mode: options.mode,
        targets: options.spec,
        ...(options.kind === 'tcp' ? { ports: options.portsSpec } : {}),
        concurrency: options.concurrency,
        timeout_ms: options.timeoutMs,
        retries: options.retries,
        start: started.toISOString(),
        end: ended.toISOString(),
        elapsed_s: seconds,
        status,
        interrupted: status === 'interrupted',
        totals: tally.totals,
      },
      hosts,
    });
  }
  return 0;
}
