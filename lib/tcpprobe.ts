import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ParsedArgs } from 'minimist';
import { Observable } from './rx.js';
import { lastValue, UsageError } from './frame.js';
import { DEFAULT_PORTS, shuffled } from './ports.js';
import { portsFromArgs } from './targets/top-ports.js';
import { readRecords, withInput, type LineError, type Rec, type Target } from './records.js';
import { type ProbeOutcome, type SocketLayer } from './tcp-engine.js';
import { connectProber, ENGINE_NAMES, type EngineName } from './native/choose.js';
import { synProber } from './native/syn.js';
import { timingSummary } from './timing/core.js';
import { concurrencyFromArgs, TIMING_FLAGS, timingFromArgs, type TimingFields } from './timing/flags.js';
import { HostEvidence, settleUnreachable } from './discovery/host-evidence.js';
import { kernelNeighbours } from './discovery/neighbours.js';

export const TCP_DEFAULTS = { concurrency: 500 } as const;

/** minimist flags of a TCP scan (`-n -p --all --ordered` and the timing flags), defaults included. */
export const TCP_FLAGS = {
  string: ['n', 'p', 'top-ports', 'engine', ...TIMING_FLAGS.string],
  boolean: ['all', 'ordered', 'syn'],
  default: { p: DEFAULT_PORTS },
};

type TcpFlagOptions = Pick<TcpScanOptions, 'ports' | 'rankedPorts' | 'concurrency' | 'all' | 'ordered' | 'engine' | 'syn'> & TimingFields;

/** Scan options from parsed TCP_FLAGS; a bad value throws UsageError or PortSpecError naming it. */
export function tcpOptionsFromArgs(args: ParsedArgs): TcpFlagOptions {
  const timing = timingFromArgs(args);
  const ports = portsFromArgs(args);
  return {
    // Repeated -p adds up; --top-ports N ranks them, tried most popular first (#12).
    ports: ports.ports,
    rankedPorts: ports.ranked,
    concurrency: concurrencyFromArgs(args, TCP_DEFAULTS.concurrency, timing),
    ...timing.timing,
    all: Boolean(args.all),
    ordered: Boolean(args.ordered),
    engine: engineFromArgs(args),
    syn: Boolean(args.syn),
  };
}

/** `--engine native|net` (lib/native/choose.ts), or undefined: the addon where it loads, else node:net. */
function engineFromArgs(args: ParsedArgs): EngineName | undefined {
  const name = lastValue(args, 'engine');
  if (name === undefined) return undefined;
  if (!(ENGINE_NAMES as readonly string[]).includes(name)) throw new UsageError(`--engine must be ${ENGINE_NAMES.join(' or ')}, not "${name}"`);
  return name as EngineName;
}

/**
 * Unreachable addresses remembered, so that records naming one (ip, port) each, as when earlier
 * output is fed back, meet the host's unreachability once too. Bounded: a dead /16 must not grow it.
 */
const REMEMBERED_UNREACHABLE = 4096;

/** Descriptors kept back from the socket budget: stdio, the event loop's own, pipes of a front end. */
const RESERVED_FDS = 64;

export interface TcpScanOptions extends TimingFields {
  /** Ports for targets without a `port` field (parsePorts output). */
  ports: readonly number[];
  /** `ports` are ranked (--top-ports): try them in that order, not shuffled. */
  rankedPorts?: boolean;
  /** Connects in flight across all hosts (clamped to what the open-file limit allows). */
  concurrency: number;
  /** Also emit closed and filtered ports, and one record per unreachable host. */
  all: boolean;
  /** Ports in ascending order, results in input order (default: ports shuffled, results as found). */
  ordered: boolean;
  /** The process's open-file soft limit; undefined asks `ulimit -n`, null means no limit. */
  fdLimit?: number | null;
  /** Injected socket layer (tests: implies the node:net engine). */
  layer?: SocketLayer;
  /** The I/O backend, both under the timing core; undefined: the addon where it loads, else node:net (said under -v). */
  engine?: EngineName | undefined;
  /** --syn: a SYN scan on the addon's raw sockets (lib/native/syn.ts); a connect scan where it cannot run. */
  syn?: boolean;
  /** Told once why a --syn scan runs as a connect scan (no addon, no CAP_NET_RAW): said without -v too. */
  onFallback?: (message: string) => void;
  /** Told which engine runs the scan (`engine: native (...)`), for -v. */
  onEngine?: (line: string) => void;
  /** Local errors on one port before it is given up (tests; default the engine's). */
  maxLocalErrors?: number;
  /** Tells a host that is not there from a port that is rejected (default: the kernel's neighbour table). */
  evidence?: HostEvidence;
  /** Said once: in-flight clamped to the fd limit, or lowered after EMFILE. */
  onNotice?: (message: string) => void;
  /** Said once per host that answered EHOSTUNREACH/ENETUNREACH, with how many of its ports were never tried. */
  onUnreachable?: (ip: string, reason: string, skippedPorts: number) => void;
  /** Redrawn a few times a second while the scan runs (pass it only when stderr is a terminal). */
  onProgress?: (line: string) => void;
  random?: () => number;
}

export interface TcpScanStats {
  hosts: number;
  /** (ip, port) pairs with an answer or a verdict, skipped ports of unreachable hosts not included. */
  portsTried: number;
  open: number;
  closed: number;
  filtered: number;
  unreachableHosts: number;
  /** connect() calls, retries included. */
  connects: number;
  /** The in-flight limit actually used. */
  inFlightLimit: number;
  /** The timing core's final estimate, tries and loss, for -v. */
  timing(): string;
  elapsedMs(): number;
  summary(): string;
}

interface HostWork {
  record: Target;
  ip: string;
  ports: readonly number[];
  /** Ports started so far: the next one is `ports[started]`. */
  started: number;
  /** The record's fields but its rtt, made when the first port record is. */
  fields?: Rec;
}

/**
 * The soft limit on open files, null if unlimited or unknown. getrlimit(2) is not in node: Linux's
 * /proc/self/limits says it (0.05 ms), else `ulimit -n` in a shell (a fork, 4-5 ms here).
 */
export function openFileLimit(limits = '/proc/self/limits'): number | null {
  let text: string;
  try {
    text = /^Max open files\s+(\S+)/m.exec(readFileSync(limits, 'utf8'))?.[1] ?? '';
  } catch {
    try {
      text = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  }
  return /^\d+$/.test(text) ? Number(text) : null;
}

/** How many sockets fit under an open-file limit, keeping some descriptors for everything else. */
export function socketBudget(concurrency: number, fdLimit: number | null): number {
  if (fdLimit === null) return concurrency;
  const usable = fdLimit > RESERVED_FDS * 2 ? fdLimit - RESERVED_FDS : Math.floor(fdLimit / 2);
  return Math.max(1, Math.min(concurrency, usable));
}

/** A port a record asks for, or undefined; throws the reason when the field is there but no port. */
export function recordPort(record: Rec): number | undefined {
  const port = record.port;
  if (port === undefined || port === null) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`"port" must be a whole number 1-65535, not ${JSON.stringify(port)}`);
  }
  return port;
}

/**
 * Target records from a stream (NDJSON or bare IPs), as readRecords, but a record's `port`, when
 * present, is checked here so that a bad one is reported with its line number.
 */
export function tcpTargets(input: Readable, onError: (err: LineError) => void): AsyncGenerator<Target> {
  return readRecords(input, onError, true, recordPort) as AsyncGenerator<Target>;
}

/**
 * Connect-scan targets: every port of `options.ports` per target, or only its own `port` when the
 * record has one (so earlier output can be re-checked, and work split by (ip, port)). Records with
 * `alive: false` (`pingprobe --all`) are skipped. Emits `{...record, ip, port, state, rtt}` per open
 * port; with `all`, closed and filtered ports too, and `{...record, ip, state: "unreachable", reason}`
 * once for a host that answered EHOSTUNREACH/ENETUNREACH (its remaining ports are not tried).
 * `ready` is the output's backpressure: no new connect starts while it is pending.
 */
export function tcpScan(
  targets: Iterable<Target> | AsyncIterable<Target>,
  options: TcpScanOptions,
  ready?: () => Promise<void> | undefined,
): { records: Observable<Rec>; stats: TcpScanStats } {
  const fdLimit = options.fdLimit === undefined ? openFileLimit() : options.fdLimit;
  const inFlightLimit = socketBudget(options.concurrency, fdLimit);
  const notices = new Set<string>();
  const notice = (message: string): void => {
    if (notices.has(message)) return;
    notices.add(message);
    options.onNotice?.(message);
  };
  if (inFlightLimit < options.concurrency) {
    notice(`-n ${options.concurrency} is more than the open-file limit (ulimit -n ${fdLimit}) allows: at most ${inFlightLimit} connects in flight`);
  }
  const { ports: _ports, concurrency: _concurrency, all: _all, ordered: _ordered, layer, engine, onEngine: _onEngine, syn, onFallback, ...timing } = options;
  const engineOptions = { ...timing, maxSockets: inFlightLimit, onThrottle: notice };
  const { prober, said, fallback } = syn ? synProber(engine, engineOptions, layer) : { fallback: undefined, ...connectProber(engine, engineOptions, layer) };
  if (fallback) onFallback?.(fallback);
  if (said) options.onEngine?.(said);
  let started = 0;
  let ended = 0;
  const stats: TcpScanStats = {
    hosts: 0,
    portsTried: 0,
    open: 0,
    closed: 0,
    filtered: 0,
    unreachableHosts: 0,
    get connects() {
      return prober.counters.connects;
    },
    inFlightLimit,
    timing: () => timingSummary(prober.timing.core as never),
    elapsedMs: () => (started === 0 ? 0 : (ended || performance.now()) - started),
    summary() {
      const seconds = stats.elapsedMs() / 1000;
      const rate = seconds > 0 ? Math.round(stats.portsTried / seconds) : 0;
      return (
        `${stats.hosts} hosts, ${stats.portsTried} ports tried, ${stats.open} open, ${stats.closed} closed, ` +
        `${stats.filtered} filtered, ${stats.unreachableHosts} hosts unreachable, ${rate} ports/s`
      );
    },
  };

  const portsFor = (record: Target): readonly number[] => {
    const own = recordPort(record);
    if (own !== undefined) return [own];
    return options.ordered || options.rankedPorts ? options.ports : shuffled(options.ports, options.random);
  };
  const unreachable = new Map<string, string>();
  let previousIp = '';
  /** The host a record names, or null when it is skipped (`alive: false`, or known unreachable). */
  const hostOf = (record: Target): HostWork | null => {
    if (record.alive === false || unreachable.has(record.ip)) return null;
    // Consecutive records of one address (one port each) are one host.
    if (record.ip !== previousIp) stats.hosts++;
    previousIp = record.ip;
    const ports = portsFor(record);
    return { record, ip: record.ip, ports, started: 0 };
  };

  const toRecord = (host: HostWork, port: number, outcome: ProbeOutcome): Rec | null => {
    const { ip } = host;
    if (outcome.state === 'error') {
      // Never a port state: said on stderr, the port left out (#10 item 20).
      notice(`ports not scanned: ${outcome.reason} went on for every try (first ${ip} port ${port}); lower -n or raise ulimit -n`);
      return null;
    }
    if (outcome.state === 'unreachable') {
      if (unreachable.has(ip)) return null;
      if (unreachable.size >= REMEMBERED_UNREACHABLE) unreachable.delete(unreachable.keys().next().value ?? '');
      unreachable.set(ip, outcome.reason);
      prober.hostGone(ip, outcome.reason);
      stats.unreachableHosts++;
      options.onUnreachable?.(ip, outcome.reason, host.ports.length - host.started);
      if (!options.all) return null;
      const { port: _port, rtt: _rtt, ...fields } = host.record;
      return withInput({ ...fields, ip, state: 'unreachable', reason: outcome.reason }, host.record);
    }
    // A host found unreachable meanwhile: the ports that were in flight say nothing more.
    if (outcome.state !== 'open' && unreachable.has(ip)) return null;
    stats.portsTried++;
    stats[outcome.state]++;
    // A closed or filtered port that is not printed ends here: no record object is made for it.
    if (outcome.state !== 'open' && !options.all) return null;
    // An rtt passed through from pingprobe is not this port's: a filtered port has none. Taken out
    // once per host, as with --all every port of it is printed.
    if (host.fields === undefined) {
      const { rtt: _inputRtt, ...fields } = host.record;
      host.fields = fields;
    }
    const record: Rec = withInput({ ...host.fields, ip, port, state: outcome.state }, host.record);
    if (outcome.rtt !== undefined) record.rtt = outcome.rtt;
    if (outcome.reason !== undefined) record.reason = outcome.reason;
    return record;
  };

  const evidence = options.evidence ?? new HostEvidence(kernelNeighbours());
  // Room for as many ports again as are in flight on the timing core's bench, and as many queued:
  // a port out of tries waits there without a send slot, and the slot should not go idle.
  const limit = 3 * inFlightLimit;

  // The records out are an Observable (the command's stream), but the ports inside are not: this is
  // pullMerge (lib/pool.ts) written out for one port = one callback. With an Observable, a Subscriber
  // and a generator item per port (and pullMerge's async pump) `tcpprobe --syn -p 1-65535 127.0.0.1`
  // took 1.23-1.42 s of user CPU, a quarter of the profile GC; without them 0.89-0.98 s, start-up
  // included (3 alternating runs each, shared machine; --engine native 1.27-1.65 vs 0.81-1.00 s).
  // Here a port is a slot index into arrays made once: per port only the prober's own state is
  // allocated, and a record only when it is printed. The rules are pullMerge's: at most `limit` ports at once, `ready()` awaited
  // before each start, input pulled only when a slot is free, results in start order when ordered.
  const records = new Observable<Rec>((subscriber) => {
    started = performance.now();
    const progress = options.onProgress;
    const ticker = progress ? setInterval(() => progress(stats.summary()), 250) : undefined;
    ticker?.unref();
    const iterator: AsyncIterator<Target> | Iterator<Target> =
      Symbol.asyncIterator in targets ? targets[Symbol.asyncIterator]() : targets[Symbol.iterator]();
    const slotHost: (HostWork | null)[] = new Array<HostWork | null>(limit).fill(null);
    const slotPort = new Uint16Array(limit);
    const slotFresh = new Uint8Array(limit);
    /** Starts on the slot: a cancel returned after the probe already settled is not kept. */
    const slotUse = new Uint32Array(limit);
    const slotCancel: ((() => void) | null)[] = new Array<(() => void) | null>(limit).fill(null);
    const free: number[] = [];
    for (let slot = limit - 1; slot >= 0; slot--) free.push(slot);
    // Ordered: the n-th port started waits at n % limit until the ones before it are out.
    const slotSeq = new Float64Array(limit);
    const waiting: (Rec | null | undefined)[] = options.ordered ? new Array<Rec | null | undefined>(limit).fill(undefined) : [];
    let nextSeq = 0;
    let nextToEmit = 0;
    let active = 0;
    let host: HostWork | null = null;
    let exhausted = false;
    let readyPassed = false;
    let pumping = false;
    let stopped = false;

    const fail = (err: unknown): void => {
      if (stopped) return;
      stopped = true;
      subscriber.error(err);
    };
    const finishIfDone = (): void => {
      if (exhausted && host === null && active === 0 && !stopped) {
        stopped = true;
        ended = performance.now();
        prober.close?.();
        subscriber.complete();
      }
    };
    const finish = (slot: number, record: Rec | null): void => {
      slotHost[slot] = null;
      slotCancel[slot] = null;
      free.push(slot);
      if (!options.ordered) {
        active--;
        if (record !== null) subscriber.next(record);
      } else {
        waiting[slotSeq[slot]! % limit] = record;
        for (let out = waiting[nextToEmit % limit]; out !== undefined; out = waiting[nextToEmit % limit]) {
          waiting[nextToEmit++ % limit] = undefined;
          active--;
          if (out !== null) subscriber.next(out);
        }
      }
      pump();
    };
    // One set of callbacks per slot, made here, not per port.
    const settledOf = (slot: number) => (settled: ProbeOutcome): void => {
      if (stopped || slotHost[slot] === null) return;
      finish(slot, toRecord(slotHost[slot]!, slotPort[slot]!, settled));
    };
    // Tries that never left (the address was still being resolved) are made again, once.
    const againOf = (slot: number) => (): void => {
      if (stopped || slotHost[slot] === null) return;
      slotFresh[slot] = 0;
      attempt(slot);
    };
    const settled = Array.from({ length: limit }, (_, slot) => settledOf(slot));
    const again = Array.from({ length: limit }, (_, slot) => againOf(slot));
    const done = Array.from({ length: limit }, (_, slot) => (outcome: ProbeOutcome): void => {
      const target = slotHost[slot];
      if (stopped || !target) return;
      // An unreachable answer settles the host only on evidence that it is not there (#10 item 4).
      settleUnreachable(evidence, target.ip, outcome, settled[slot]!, slotFresh[slot] ? again[slot] : undefined);
    });
    const attempt = (slot: number): void => {
      const use = ++slotUse[slot]!;
      const cancel = prober.start(slotHost[slot]!.ip, slotPort[slot]!, done[slot]!);
      if (slotUse[slot] === use && slotHost[slot] !== null) slotCancel[slot] = cancel;
    };
    const take = (step: IteratorResult<Target>): void => {
      if (step.done) exhausted = true;
      else host = hostOf(step.value);
    };

    /** Starts ports while there is room; suspends (pumping stays set) on a pending `ready()` or input. */
    const pump = (): void => {
      if (pumping || stopped) return;
      pumping = true;
      try {
        while (!stopped && active < limit && !(exhausted && host === null)) {
          if (!readyPassed) {
            const wait = ready?.();
            if (wait) {
              wait.then(() => resume(true), fail);
              return;
            }
            readyPassed = true;
          }
          if (host !== null && (host.started >= host.ports.length || unreachable.has(host.ip))) host = null;
          if (host === null) {
            if (exhausted) break;
            const step = iterator.next();
            if (step instanceof Promise) {
              step.then((result) => {
                try {
                  if (!stopped) take(result);
                } catch (err) {
                  return fail(err);
                }
                resume(readyPassed);
              }, fail);
              return;
            }
            take(step);
            continue;
          }
          readyPassed = false;
          const slot = free.pop()!;
          active++;
          slotHost[slot] = host;
          slotPort[slot] = host.ports[host.started++]!;
          slotFresh[slot] = 1;
          slotSeq[slot] = nextSeq++;
          attempt(slot);
        }
      } catch (err) {
        fail(err);
      }
      pumping = false;
      finishIfDone();
    };
    const resume = (passed: boolean): void => {
      readyPassed = passed;
      pumping = false;
      pump();
    };

    pump();
    return () => {
      if (ticker) clearInterval(ticker);
      stopped = true;
      for (let slot = 0; slot < limit; slot++) {
        const cancel = slotCancel[slot];
        slotCancel[slot] = null;
        slotHost[slot] = null;
        cancel?.();
      }
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      prober.close?.();
    };
  });
  return { records, stats };
}
