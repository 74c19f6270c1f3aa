// The ping engines for a sweep (run by lib/discovery/sweep.ts): raw ICMP sockets through the addon or
// the raw-socket wrapper when we may open them, else the system ping binary, with the same records.
import { hasNetRaw, readProcStatus } from './capabilities.js';
import type { Subscription } from './rx.js';
import { UsageError } from './frame.js';
import { DEFAULT_BACKOFF, IcmpEngine, type EchoHandle, type EchoOptions, type EchoResult, type OpenIcmpSocket } from './icmp-engine.js';
import { loadRawSocket } from './icmp-socket.js';
import { loadAddon, type NativeAddon } from './native/addon.js';
import { NativeIcmpProber } from './native/icmp.js';
import { pingCommandProbe, systemPing, type RunPing } from './ping-command.js';
import { withInput, type Rec, type Target } from './records.js';
import type { Family } from './targets.js';
import { timingSummary } from './timing/core.js';
import { systemClock } from './timing/driver.js';
import { coreOptions, type TimingFields } from './timing/flags.js';

/** Echoes one socket can have in flight: ICMP sequence numbers are 16 bits (RFC 792). */
export const MAX_PINGS_IN_FLIGHT = 65535;

export interface PingOptions extends TimingFields {
  /** Probes in flight (-n). */
  concurrency: number;
  /** Echoes per host (-c); above 1 the record carries sent/received/loss and min/avg/max rtt. */
  count: number;
  /** Emit silent and unreachable hosts too (--all). */
  all?: boolean;
  /** Results in input order (--ordered); default: as they answer. */
  ordered?: boolean;
  /** Retry backoff factor (fping -B); 1.5 by default. */
  backoff?: number;
  /**
   * Raw sockets through the addon's thread (native) or @neuralegion/raw-socket (raw), both under the
   * timing core; undefined: native where the addon loads, else raw.
   */
  engine?: 'native' | 'raw' | undefined;
  /** Told which engine sweeps, and why not the addon when it is not (for -v). */
  onEngine?: (line: string) => void;
  /** Loads the addon (tests inject one that fails). */
  loadNative?: () => { addon: NativeAddon } | { error: string };
  /** 'auto' (default): raw sockets, falling back to the ping binary without the privilege for them. */
  method?: 'auto' | 'raw' | 'ping';
  /** Loads the raw socket layer; rejecting or throwing EPERM/EACCES on open means "no privilege". */
  loadSocket?: () => Promise<OpenIcmpSocket>;
  /** Runs the system ping (the fallback). */
  runPing?: RunPing;
  /** One-line notices (the fallback being taken), for stderr. */
  log?: (message: string) => void;
}

/** `--engine native|raw` (the last one given), or undefined: the addon where it loads, else raw. */
export function pingEngine(value: unknown): 'native' | 'raw' | undefined {
  if (value === undefined) return undefined;
  const name = String(Array.isArray(value) ? value[value.length - 1] : value);
  if (name !== 'native' && name !== 'raw') throw new UsageError(`--engine must be native or raw, not "${name}"`);
  return name;
}

/** Neither raw sockets nor the ping binary can send an echo here: a runtime failure (exit 1). */
export class PrivilegeError extends Error {
  override name = 'PrivilegeError';
}

/** The engine a sweep pings through, chosen by openPinger. */
export interface Pinger {
  method: 'native' | 'raw' | 'ping';
  /** Hosts worked on at once: the timing core's limit plus room for hosts waiting on its bench. */
  slots: number;
  timing?: () => string;
  /**
   * One host's echoes: `done` gets the result once (`fail` an error of the engine itself), unless
   * the handle is cancelled, or the pinger closed, first.
   */
  start(ip: string, family: Family, options: EchoOptions, done: (result: EchoResult) => void, fail: (err: unknown) => void): EchoHandle;
  /** Ends every host's echoes still running (no result comes for them) and closes the sockets. */
  close(): void;
}

const NO_PRIVILEGE = /operation not permitted|permission denied|EPERM|EACCES/i;
const GRANT_HINT =
  'run as root, or grant node the capability: sudo setcap cap_net_raw+ep "$(readlink -f "$(command -v node)")"';

/**
 * What would let us ping. When CAP_NET_RAW is outside the bounding set (a container without it,
 * `setpriv --bounding-set=-net_raw`), root has no raw sockets and the kernel refuses to exec a
 * file that carries the capability (ping: EPERM), so setcap cannot help: say what can.
 */
export function grantHint(status = readProcStatus()): string {
  if (hasNetRaw('CapBnd', status) === false) {
    return 'CAP_NET_RAW is not in this process\'s capability bounding set, so neither root nor setcap can grant it here: run where it is allowed (a container: --cap-add NET_RAW)';
  }
  return GRANT_HINT;
}

/** The echo options of a sweep's hosts. */
export function echoOptions(options: PingOptions): EchoOptions {
  return {
    timeoutMs: options.timeoutMs,
    // The ping binary has no loss measure: one retransmission, as the core allows before it sees loss.
    retries: Math.min(options.retries, 1),
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    count: options.count,
  };
}

const PROBE_FIELDS = ['rtt', 'ttl', 'reason', 'sent', 'received', 'loss', 'rttMin', 'rttAvg', 'rttMax'];

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** Whether a target is a bare address (no field but `ip`). */
export function onlyIp(target: Target): boolean {
  for (const key in target) if (key !== 'ip') return false;
  return true;
}

/**
 * The output record: input fields kept, then ip, alive, rtt (ms) and ttl. With several echoes rtt is
 * their mean, beside sent, received, loss (%) and rttMin/rttAvg/rttMax.
 */
export function hostRecord(target: Target, result: EchoResult, count: number): Rec {
  const alive = result.rtts.length > 0;
  let record: Rec;
  if (onlyIp(target)) {
    // A bare address (iprange's output, a sweep's usual input): no spread, no deletes. Measured on
    // a 65536-host sweep through the addon, the spread and deletes with their garbage were half the time.
    // No input attached either: its only field is the record's own ip, which keepEarlier leaves as it is.
    record = { ip: target.ip, alive };
  } else {
    record = withInput({ ...target, ip: target.ip, alive }, target);
    // What an earlier sweep said about this host is replaced, not mixed with what this one found.
    for (const key of PROBE_FIELDS) delete record[key];
  }
  if (count === 1) {
    if (alive) record.rtt = round(result.rtts[0]!);
    if (alive && result.ttl !== undefined) record.ttl = result.ttl;
    if (!alive && result.reason !== undefined) record.reason = result.reason;
    return record;
  }
  const rtts = result.rtts.map(round);
  const mean = rtts.reduce((sum, rtt) => sum + rtt, 0) / (rtts.length || 1);
  if (alive) record.rtt = round(mean);
  if (alive && result.ttl !== undefined) record.ttl = result.ttl;
  if (!alive && result.reason !== undefined) record.reason = result.reason;
  if (count > 1) {
    record.sent = result.sent;
    record.received = rtts.length;
    record.loss = result.sent > 0 ? round((100 * (result.sent - rtts.length)) / result.sent) : 100;
    if (alive) Object.assign(record, { rttMin: Math.min(...rtts), rttAvg: round(mean), rttMax: Math.max(...rtts) });
  }
  return record;
}

/**
 * Raw sockets if we may open them: on the addon's thread where it loads, else through
 * @neuralegion/raw-socket (said under -v); else, saying so once, the ping binary; else a
 * PrivilegeError. An injected socket layer (tests) means raw.
 */
export async function openPinger(options: PingOptions): Promise<Pinger> {
  const method = options.method ?? 'auto';
  let why = '';
  let loaded: { addon: NativeAddon } | { error: string } | undefined;
  if (method !== 'ping' && !options.loadSocket && options.engine !== 'raw') {
    loaded = (options.loadNative ?? loadAddon)();
    if ('error' in loaded && options.engine === 'native') throw new Error(`--engine native: ${loaded.error}`);
  }
  const tried: 'native' | 'raw' | undefined = loaded && 'addon' in loaded ? 'native' : method === 'ping' ? undefined : 'raw';
  if (tried) {
    try {
      if (tried === 'native' && loaded && 'addon' in loaded) {
        const native = NativeIcmpProber.open(loaded.addon, coreOptions(options, options.concurrency));
        options.onEngine?.('engine: native (the addon, raw ICMP sockets on its thread)');
        return {
          method: 'native',
          // As the raw engine: room for hosts on the core's bench and queued.
          slots: Math.min(3 * options.concurrency, 30000),
          timing: () => timingSummary(native.timing.core as never),
          start: (ip, family, echo, done) => native.start(ip, family, echo.count, done),
          close: () => native.close(),
        };
      }
      const timing = coreOptions(options, options.concurrency);
      const engine = new IcmpEngine(await (options.loadSocket ?? loadRawSocket)(), undefined, systemClock, timing);
      engine.open(4);
      if (!options.loadSocket) options.onEngine?.(`engine: raw (@neuralegion/raw-socket)${loaded && 'error' in loaded ? `: ${loaded.error}` : ''}`);
      return {
        method: 'raw',
        // Room for as many hosts again on the bench and as many queued, within the 16-bit sequence
        // space (two sequences per host).
        slots: Math.min(3 * options.concurrency, 30000),
        timing: () => timingSummary(engine.timing.core as never),
        start: (ip, family, echo, done) => engine.start(ip, family, echo.count, done),
        close: () => engine.close(),
      };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (method === 'raw') throw new PrivilegeError(`cannot open a raw ICMP socket: ${message}; ${grantHint()}`);
      why = NO_PRIVILEGE.test(message) ? `no permission for raw ICMP sockets (${message})` : `raw ICMP sockets unavailable (${message})`;
    }
  }
  const run = options.runPing ?? systemPing();
  // One echo to 127.0.0.1 says whether ping can send at all (it needs cap_net_raw or ping_group_range).
  const check = await run(['-4', '-n', '-c', '1', '-W', '1', '127.0.0.1'], new AbortController().signal);
  if (check.code !== 0) {
    const failure = check.stderr.trim().split('\n').pop() || `exit status ${check.code}`;
    throw new PrivilegeError(`${why ? `${why}, and ` : ''}the ping binary cannot send either (${failure}); ${grantHint()}`);
  }
  if (why) options.log?.(`${why}: pinging through the system ping binary, one process per host`);
  // Each host's ping processes, so close() kills those still running.
  const live = new Set<Subscription>();
  return {
    method: 'ping',
    slots: options.concurrency,
    start: (ip, family, echo, done, fail) => {
      const subscription: Subscription = pingCommandProbe(run, ip, family, echo).subscribe({
        next: (result) => {
          live.delete(subscription);
          done(result);
        },
        error: (err: unknown) => {
          live.delete(subscription);
          fail(err);
        },
      });
      if (!subscription.closed) live.add(subscription);
      return {
        cancel: () => {
          live.delete(subscription);
          subscription.unsubscribe();
        },
      };
    },
    close: () => {
      for (const subscription of live) subscription.unsubscribe();
      live.clear();
    },
  };
}
