// pmap, the front end: the classic "ping a range / scan a host" jobs in one command, built from
// the same probes as the filters. -m picks how they run: one event loop, worker threads, or
// child filter processes; the records, and so the output, are the same in each.
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type minimist from 'minimist';
import { filter, identity, tap, type Observable } from './rx.js';
import { discoverThenScan } from './discovery/stage.js';
import { HostGroups } from './document.js';
import { allValues, lastValue, positiveInt, UsageError, type Io } from './frame.js';
import { writeAll } from './output.js';
import { orderOptionsFromArgs, type OrderOptions } from './iprange.js';
import { inProcesses, inThreads } from './parallel.js';
import { portsFromArgs } from './targets/top-ports.js';
import { PROBES_MODULE, pingRecords, tcpRecords, type PingWork, type TcpWork } from './probes.js';
import { MAX_PINGS_IN_FLIGHT } from './pingprobe.js';
import { nativeIcmpUsable } from './native/icmp.js';
import { synScanPossible } from './native/syn.js';
import type { Rec, Target } from './records.js';
import { summaryLine, Tally, TerminalReport, type ScanStatus } from './report.js';
import { ScanFile } from './scan-file.js';
import { ServiceNames } from './services.js';
import { defaultStylesheet } from './out/xml.js';
import { openScanXml } from './out/xml-file.js';
import { scanProgress } from './progress.js';
import { openFileLimit } from './tcpprobe.js';
import { SVC_DEFAULTS, withServices } from './svc/svcprobe.js';
import { checkListFile, parseTargetSpec } from './targets/input.js';
import { pmapTargets } from './targets/pmap-targets.js';
import { concurrencyFromArgs, timingArgs, timingFromArgs, type TimingFields } from './timing/flags.js';

export type Kind = 'ping' | 'tcp';
export type Mode = 'async' | 'thread' | 'proc';

export interface PmapOptions {
  kind: Kind;
  /** The targets as given (positional and -ip), for the -w file. */
  spec: string;
  specs: string[];
  /** -iL files ('-' for stdin). */
  listFiles: string[];
  /** The target flags (-x, --excludefile, -4/-6, -R, --resolve-timeout), read when the scan starts. */
  targetArgs: minimist.ParsedArgs;
  concurrency: number;
  mode: Mode;
  portsSpec: string;
  ports: number[];
  /** --top-ports/-F: ports in popularity order, not shuffled. */
  rankedPorts: boolean;
  timeoutMs: number;
  retries: number;
  /** -t -r --min-rtt --max-rtt --rate -T, as the probes take them. */
  timing: TimingFields;
  count: number;
  all: boolean;
  json: boolean;
  file?: string;
  /** --fail: exit 1 on a negative result (a host down, no port open), fping's convention. */
  fail?: boolean;
  /** -oX FILE: the nmap-style XML document (lib/out/xml.ts). */
  xmlFile?: string;
  /** Workers or child processes for -m thread|proc. */
  shards: number;
  /** -sV: what listens on each open port (svcprobe's engine), shown in a VERSION column. */
  versions?: boolean;
  /** -Pn: no host discovery before a tcp scan of several addresses. */
  skipDiscovery?: boolean;
  /** -sS: a SYN scan (raw sockets; a connect scan, said once, without CAP_NET_RAW). */
  syn?: boolean;
  /** -v: the tcp stage names its engine. */
  verbose?: boolean;
  /** --shuffle, --seed, --shard, --resume-at: the hosts in a permuted order, one shard of it, from a position (#12). */
  order?: OrderOptions;
}

/**
 * The seed spells the target flag `-ip`, which getopt-style parsers read as `-i -p`: make it the
 * long option before minimist sees it (`-ip X`, `-ip=X`); the same for nmap's `-oX FILE`.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  // nmap's -oX FILE, -sV, -Pn likewise: one flag each, not -o -X, -s -V, -P -n; and -iL FILE.
  return argv.map((arg) => (/^-(ip|iL|oX)(=|$)/.test(arg) || arg === '-sV' || arg === '-sS' || arg === '-Pn' ? `-${arg}` : arg));
}

const orList = (values: readonly string[]): string => `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;

function oneOf<T extends string>(args: minimist.ParsedArgs, flag: string, values: readonly T[], fallback?: T): T {
  const given = [...new Set(allValues(args, flag))];
  // #10 item 18: `-f tcp -f ping` is two jobs, not the last one; `-m ''` is no mode, not the default.
  if (given.length > 1) throw new UsageError(`-${flag} given twice ("${given[0]}" and "${given[1]}"): pick one`);
  if (given.length === 0 && fallback) return fallback;
  if (given.length === 0) throw new UsageError(`missing -${flag} ${values.join('|')}`);
  const value = given[0] ?? '';
  if (!(values as readonly string[]).includes(value)) throw new UsageError(`-${flag} must be ${orList(values)}, not "${value}"`);
  return value as T;
}

/** Flags to options, every mistake a UsageError naming the flag (exit 2). */
export function pmapOptions(args: minimist.ParsedArgs, shards = availableParallelism()): PmapOptions {
  const kind = oneOf<Kind>(args, 'f', ['ping', 'tcp']);
  const mode = oneOf<Mode>(args, 'm', ['async', 'thread', 'proc'], 'async');
  // Positional targets and every -ip add up, as nmap's do; -iL files too.
  const specs = [...allValues(args, 'ip'), ...args._.map(String)];
  const listFiles = allValues(args, 'iL');
  if (specs.length === 0 && listFiles.length === 0) throw new UsageError('missing -ip SPEC (an address, range, CIDR, list or host name)');
  for (const spec of specs) parseTargetSpec(spec);
  for (const file of listFiles) checkListFile('-iL', file);
  // Repeated -p adds up; --top-ports N and -F (top 100) rank the ports, tried most popular first.
  const { ports, spec: portsSpec, ranked: rankedPorts } = portsFromArgs(args);
  const timing = timingFromArgs(args);
  const options: PmapOptions = {
    kind,
    spec: [...specs, ...listFiles.map((file) => `-iL ${file}`)].join(' '),
    specs,
    listFiles,
    targetArgs: args,
    concurrency: concurrencyFromArgs(args, 100, timing),
    mode,
    portsSpec,
    ports,
    rankedPorts,
    timeoutMs: timing.timing.timeoutMs,
    retries: timing.timing.retries,
    timing: timing.timing,
    count: positiveInt(args, 'c'),
    all: Boolean(args.all),
    json: Boolean(args.json),
    fail: Boolean(args.fail),
    shards: Math.max(1, shards),
    skipDiscovery: Boolean(args.Pn),
  };
  // The order flags as iprange takes them (without --ports: pmap orders hosts, each scanned whole).
  const order = orderOptionsFromArgs(args, () => randomInt(2 ** 48 - 1));
  if (order) options.order = order;
  if (args.sV) {
    if (kind !== 'tcp') throw new UsageError('-sV needs -f tcp (it probes open ports)');
    options.versions = true;
  }
  if (args.sS) {
    if (kind !== 'tcp') throw new UsageError('-sS needs -f tcp (it is a port scan)');
    options.syn = true;
    options.verbose = Boolean(args.v);
  }
  if (kind === 'ping' && options.concurrency > MAX_PINGS_IN_FLIGHT) {
    throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} for ping (16-bit ICMP sequence numbers)`);
  }
  if (args.w !== undefined) {
    const file = lastValue(args, 'w') ?? '';
    if (file === '') throw new UsageError('missing FILE after -w');
    options.file = file;
  }
  if (args.oX !== undefined) {
    const xmlFile = lastValue(args, 'oX') ?? '';
    if (xmlFile === '') throw new UsageError('missing FILE after -oX');
    options.xmlFile = xmlFile;
  }
  return options;
}

const BIN = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url));

/** The probe stage as the chosen mode runs it; every record (closed, filtered, down too) comes out. */
function probeRecords(
  options: PmapOptions,
  targets: Iterable<Target> | AsyncIterable<Target>,
  ready: () => Promise<void> | undefined,
  log: (line: string) => void,
  timing?: (summary: () => string) => void,
): Observable<Rec> {
  // Asked once here, and only for tcp: ping holds one socket.
  const fdLimit = options.kind === 'tcp' ? openFileLimit() : null;
  const perShard = Math.max(1, Math.ceil(options.concurrency / options.shards));
  const tcp: TcpWork = { ...options.timing, ports: options.ports, rankedPorts: options.rankedPorts, concurrency: options.concurrency, fdLimit };
  if (options.syn) Object.assign(tcp, { syn: true, sayEngine: Boolean(options.verbose) });
  const ping: PingWork = { ...options.timing, concurrency: options.concurrency, count: options.count };
  // Our addon is context-aware (N-API): each worker thread loads it and pings on its own engine.
  const pingOnMain = options.mode === 'thread' && options.kind === 'ping' && !nativeIcmpUsable();
  if (pingOnMain) {
    // Measured: the raw-socket addon is not context-aware. A second thread loading it fails with
    // "Module did not self-register", and in a lone worker its socket never delivers a reply.
    log('-m thread: the raw ICMP socket cannot run in worker threads; the sweep runs on the main thread');
  }
  if (options.mode === 'async' || pingOnMain) {
    return options.kind === 'tcp' ? tcpRecords(targets, tcp, ready, log, timing) : pingRecords(targets, ping, ready, log, timing);
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
    if (options.kind === 'ping') return inThreads(work, { module: PROBES_MODULE, entry: 'pingRecords', options: { ...ping, concurrency: perShard } }, shardOptions);
    // Threads share the process's descriptor table: each gets its share of the limit.
    const share = fdLimit === null ? null : Math.floor(fdLimit / options.shards);
    return inThreads(work, { module: PROBES_MODULE, entry: 'tcpRecords', options: { ...tcp, concurrency: perShard, fdLimit: share } }, shardOptions);
  }
  // -v: each shard names its engine (said once: the lines are deduplicated) and ends with its summary.
  const common = ['-n', String(perShard), ...timingArgs(options.timing), '--all', ...(options.verbose ? ['-v'] : [])];
  return options.kind === 'tcp'
    ? inProcesses(work, BIN('tcpprobe'), [...common, ...(options.rankedPorts ? ['--top-ports', String(options.ports.length)] : ['-p', options.portsSpec]), ...(options.syn ? ['--syn'] : [])], shardOptions)
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
  const xml = options.xmlFile === undefined ? null : openScanXml(options.xmlFile, {
    command: ['pmap', ...context.argv].join(' '),
    all: options.all,
    start: started,
    options: { stylesheet: defaultStylesheet(), services: new ServiceNames() },
    // -sS is a SYN scan where it can run (as the probes will find), else the connect scan they fall back to.
    ...(options.kind === 'tcp' ? { ports: { spec: options.portsSpec, count: options.ports.length, type: options.syn && synScanPossible() ? 'syn' : 'connect' } } : {}),
  });
  const targets = await pmapTargets(options, io);
  const resume = targets.ordered?.resume;
  const tally = new Tally(options.kind === 'ping' ? true : options.ports.length, resume && ((ip) => resume.finish(ip)));
  // Grouped by host only for the file: without -w nothing is kept per result.
  const hosts = file ? new HostGroups() : null;
  // Rows and the progress line may share a terminal: a row first wipes the progress line.
  const report = new TerminalReport(io.stdout, {
    colour: context.colour,
    services: new ServiceNames(),
    beforeLine: () => io.clearProgress(),
    ...(options.kind === 'tcp' && !options.json ? { portsPerHost: options.ports.length } : {}),
    ...(io.verbose ? { discovered: io.log } : {}),
    versions: Boolean(options.versions),
  });
  const addresses = targets.addresses;
  // What a rerun needs to continue where this one stops: the same order, from the first target not finished.
  const order = options.order;
  const orderFlags = (): string =>
    order ? `${order.shard ? `--shard ${order.shard.k}/${order.shard.n} ` : ''}${order.seed === undefined ? '' : `--seed ${order.seed} `}` : '';
  const resumeText = (): string =>
    resume && targets.ordered && resume.position < targets.ordered.size ? `resume with ${orderFlags()}--resume-at ${resume.position}` : 'all done';
  if (io.verbose && targets.ordered && order?.seed !== undefined) io.log(`${targets.ordered.size} targets, ${orderFlags().trim()}`);
  // Unknown (a name, an -iL file) until they are read: then the count has no total.
  const total = addresses === null ? undefined : Number(options.kind === 'tcp' ? addresses * BigInt(options.ports.length) : addresses);
  const expected = total === undefined ? '' : `/${total}`;
  const counts = (): string =>
    options.kind === 'tcp'
      ? `${tally.totals.ports}${expected} ports, ${tally.totals.open} open`
      : `${tally.totals.hosts}${expected} hosts, ${tally.totals.up} up`;
  let timing: (() => string) | undefined;
  io.summary = () =>
    `${options.kind} -m ${options.mode} -n ${options.concurrency}: ${counts()}${timing ? `; ${timing()}` : ''}${targets.ordered ? `; ${resumeText()}` : ''}`;

  if (!options.json) report.print(report.header(options.kind));
  // An ordered scan's progress line ends with the position a rerun would resume at.
  const progress = io.progress && resume ? (line: string): void => io.progress?.(`${line}, resume at ${resume.position}`) : io.progress;
  const stopProgress = scanProgress(progress, options.kind, total, () =>
    options.kind === 'tcp' ? { done: tally.totals.ports, found: tally.totals.open } : { done: tally.totals.hosts, found: tally.totals.up },
  );
  const ready = (): Promise<void> | undefined => io.records.ready();
  const onTiming = (summary: () => string): void => {
    timing = summary;
  };
  // Host discovery first (as nmap does) for a tcp scan of several addresses, or of names and
  // lists whose count is not known yet; -Pn scans every address.
  const discover = options.kind === 'tcp' && !options.skipDiscovery && (addresses === null || addresses > 1n);
  const probed = discover
    ? discoverThenScan(targets.records, { ...options, log: io.log, onDone: io.log }, (up) => probeRecords(options, up, ready, io.log, onTiming))
    : probeRecords(options, targets.records, ready, io.log, onTiming);
  const results = probed.pipe(
    options.versions ? withServices({ ...SVC_DEFAULTS, concurrency: Math.min(options.concurrency, SVC_DEFAULTS.concurrency), timeoutMs: options.timeoutMs, all: false, ordered: false }) : identity,
    tap((record) => tally.add(record)),
    tap((record) => xml?.add(record)),
    // The table counts what it hides, for its per-host "Not shown" line.
    filter((record) => shown(record, options.all) || (!options.json && report.hide(record))),
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
    stopProgress();
    io.clearProgress();
    const ended = new Date();
    const seconds = (ended.getTime() - started.getTime()) / 1000;
    if (!options.json) report.flush();
    if (!options.json) report.print(summaryLine(options.kind, tally.totals, seconds, status));
    if (targets.ordered && status !== 'done') io.log(`${status}: ${resumeText()}`);
    xml?.close({ summary: summaryLine(options.kind, tally.totals, seconds, status), ...(status === 'done' ? {} : { error: status }) });
    file?.save({
      scan: {
        command: ['pmap', ...context.argv].join(' '),
        kind: options.kind,
        mode: options.mode,
        targets: options.spec,
        ...(options.kind === 'tcp' ? { ports: options.portsSpec } : {}),
        ...(options.versions ? { service_detection: true } : {}),
        ...(order ? { order: { ...(order.seed === undefined ? {} : { seed: order.seed }), ...(order.shard ? { shard: `${order.shard.k}/${order.shard.n}` } : {}), resume_at: resume?.position ?? 0 } } : {}),
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
  if (!options.fail) return 0;
  const totals = tally.totals;
  return (options.kind === 'ping' ? totals.up < totals.hosts : totals.open === 0) ? 1 : 0;
}
