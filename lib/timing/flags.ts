// The timing flags every probing command takes (pingprobe, tcpprobe, pmap), in one table:
// -t -r --min-rtt --max-rtt --rate and nmap's presets -T0..-T5. Explicit flags win over a preset.
import type { ParsedArgs } from 'minimist';
import { lastValue, UsageError } from '../frame.js';
import type { TimingOptions } from './core.js';
import { MAX_TIMER_MS } from './driver.js';

export interface Preset {
  initialTimeoutMs: number;
  minRttMs: number;
  maxRttMs: number;
  maxRetries: number;
  /** Least time between sends, and one probe in flight (-T0..-T2). */
  scanDelayMs?: number;
}

/** nmap's -T presets (nmap.cc, TIMING.md): 0 paranoid, 1 sneaky, 2 polite, 3 normal, 4 aggressive, 5 insane. */
export const PRESETS: readonly Preset[] = [
  { initialTimeoutMs: 300_000, minRttMs: 100, maxRttMs: 300_000, maxRetries: 10, scanDelayMs: 300_000 },
  { initialTimeoutMs: 15_000, minRttMs: 100, maxRttMs: 15_000, maxRetries: 10, scanDelayMs: 15_000 },
  { initialTimeoutMs: 1000, minRttMs: 100, maxRttMs: 10_000, maxRetries: 10, scanDelayMs: 400 },
  { initialTimeoutMs: 1000, minRttMs: 100, maxRttMs: 10_000, maxRetries: 10 },
  { initialTimeoutMs: 500, minRttMs: 100, maxRttMs: 1250, maxRetries: 6 },
  { initialTimeoutMs: 250, minRttMs: 50, maxRttMs: 300, maxRetries: 2 },
];

/** -T3, the default. */
export const TIMING_DEFAULTS: Omit<TimingOptions, 'maxInFlight'> = PRESETS[3]!;

/** The minimist flags (all strings, so that every value is checked here). No defaults: a preset fills them. */
export const TIMING_FLAGS = { string: ['t', 'r', 'min-rtt', 'max-rtt', 'rate', 'T'] };

/** The timing flags' lines for every probing command's "Options:" (lib/help), at most 80 columns. */
export const TIMING_HELP = `  -t MS         initial timeout, before any RTT is measured (default 1000)
  --min-rtt MS  lower bound of the adaptive timeout (default 100)
  --max-rtt MS  upper bound of the adaptive timeout (default 10000)
  -r N          retransmissions at most, used only as loss is seen (default 10)
  --rate PPS    probes per second at most (default: no limit)
  -T0..-T5      nmap's timing presets (default -T3); -T4 500/100/1250 ms,
                -T5 250/50/300 ms; -T0..-T2 one probe at a time, 5 min, 15 s,
                400 ms apart; explicit flags win`;

function flagName(name: string): string {
  return name.length > 1 ? `--${name}` : `-${name}`;
}

/** A number of milliseconds (decimals allowed) in [min, MAX_TIMER_MS], or undefined when not given. */
function milliseconds(args: ParsedArgs, name: string, min: number): number | undefined {
  const text = lastValue(args, name);
  if (text === undefined) return undefined;
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value >= min)) throw new UsageError(`${flagName(name)} must be a number of milliseconds >= ${min}, not "${text}"`);
  // Beyond 2^31-1 ms Node's setTimeout fires at once: refuse rather than time out every probe in 1 ms.
  if (value > MAX_TIMER_MS) throw new UsageError(`${flagName(name)} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), not "${text}"`);
  return value;
}

/** The timing a command was asked for, as plain data (it crosses to worker threads). */
export interface TimingFields {
  /** Initial timeout (-t), ms. */
  timeoutMs: number;
  /** Retransmissions at most (-r). */
  retries: number;
  minRttMs?: number;
  maxRttMs?: number;
  ratePps?: number;
  scanDelayMs?: number;
}

export interface TimingFlags {
  timing: TimingFields;
  /** Probes in flight a preset asks for (-T0..-T2: 1), unless -n was given. */
  parallelism?: number;
}

/** The core's options for these fields with `maxInFlight` probes in flight at most. */
export function coreOptions(fields: TimingFields, maxInFlight: number): TimingOptions {
  // An initial timeout below the usual floor (-t 20) is a floor the user chose too.
  const minRttMs = fields.minRttMs ?? Math.min(TIMING_DEFAULTS.minRttMs, fields.maxRttMs ?? Infinity, fields.timeoutMs);
  const options: TimingOptions = {
    initialTimeoutMs: fields.timeoutMs,
    minRttMs,
    maxRttMs: fields.maxRttMs ?? Math.max(TIMING_DEFAULTS.maxRttMs, fields.timeoutMs, minRttMs),
    maxRetries: fields.retries,
    maxInFlight,
  };
  if (fields.ratePps !== undefined) options.ratePps = fields.ratePps;
  if (fields.scanDelayMs !== undefined) options.scanDelayMs = fields.scanDelayMs;
  return options;
}

/** The flags that give these fields back, for a child process (pmap -m proc). */
export function timingArgs(fields: TimingFields): string[] {
  const args = ['-t', String(fields.timeoutMs), '-r', String(fields.retries)];
  if (fields.minRttMs !== undefined) args.push('--min-rtt', String(fields.minRttMs));
  if (fields.maxRttMs !== undefined) args.push('--max-rtt', String(fields.maxRttMs));
  if (fields.ratePps !== undefined) args.push('--rate', String(fields.ratePps));
  return args;
}

/** The timing options the flags ask for; every mistake a UsageError naming its flag (exit 2). */
export function timingFromArgs(args: ParsedArgs): TimingFlags {
  const level = lastValue(args, 'T');
  let preset = PRESETS[3]!;
  if (level !== undefined) {
    if (!/^[0-5]$/.test(level)) throw new UsageError(`-T must be 0, 1, 2, 3, 4 or 5 (nmap's timing presets), not "${level}"`);
    preset = PRESETS[Number(level)]!;
  }
  const retriesText = lastValue(args, 'r');
  if (retriesText !== undefined && (!/^\d+$/.test(retriesText) || Number(retriesText) > 1000)) {
    throw new UsageError(`-r must be a whole number 0-1000, not "${retriesText}"`);
  }
  const initial = milliseconds(args, 't', 1);
  const minRtt = milliseconds(args, 'min-rtt', 0);
  const maxRtt = milliseconds(args, 'max-rtt', 1);
  const rateText = lastValue(args, 'rate');
  let ratePps: number | undefined;
  if (rateText !== undefined) {
    ratePps = /^\d+(\.\d+)?$/.test(rateText) ? Number(rateText) : NaN;
    if (!(ratePps > 0)) throw new UsageError(`--rate must be a number of probes per second above 0, not "${rateText}"`);
  }
  if (minRtt !== undefined && maxRtt !== undefined && minRtt > maxRtt) {
    throw new UsageError(`--min-rtt (${minRtt}) must not be above --max-rtt (${maxRtt})`);
  }
  const timing: TimingFields = {
    timeoutMs: initial ?? preset.initialTimeoutMs,
    retries: retriesText === undefined ? preset.maxRetries : Number(retriesText),
    minRttMs: minRtt ?? Math.min(preset.minRttMs, maxRtt ?? Infinity, initial ?? Infinity),
    // An initial timeout above the preset's maximum is what the user asked to wait: the maximum follows.
    maxRttMs: maxRtt ?? Math.max(preset.maxRttMs, initial ?? 0, minRtt ?? 0),
  };
  if (ratePps !== undefined) timing.ratePps = ratePps;
  if (preset.scanDelayMs !== undefined) timing.scanDelayMs = preset.scanDelayMs;
  return preset.scanDelayMs !== undefined && args.n === undefined ? { timing, parallelism: 1 } : { timing };
}

/** -n, or the preset's parallelism, or the command's default; a bad -n is a UsageError naming it. */
export function concurrencyFromArgs(args: ParsedArgs, fallback: number, flags: TimingFlags): number {
  const text = lastValue(args, 'n');
  if (text === undefined) return flags.parallelism ?? fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`-n must be a whole number >= 1, not "${text}"`);
  }
  return Number(text);
}
