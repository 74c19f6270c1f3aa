import { parseSpec, rangeSize } from './targets.js';
// The progress line of a long run on a terminal, masscan/zmap style: done/total, percentage, rate,
// time left and what was found so far, redrawn a few times a second. The frame draws it on stderr
// only when stderr is a terminal (Io.progress), so a pipe or a log file never sees it.

export interface ProgressSample {
  done: number;
  /** Unknown when targets stream in on stdin: then no percentage and no time left. */
  total?: number;
  found: number;
}

export interface ProgressWords {
  /** What is counted: "ports", "hosts". */
  unit: string;
  /** What a find is: "open", "up". */
  found: string;
}

/** Rate over the last few seconds, not since the start: a scan slows down when it reaches dead hosts. */
const WINDOW_MS = 5000;

export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hours > 0 ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class ProgressMeter {
  /** (time, done) samples of the last WINDOW_MS, oldest first. */
  private readonly samples: Array<[number, number]> = [];

  constructor(
    private readonly words: ProgressWords,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `924/3072 ports (30.1%), 1520/s, 0:01 left, 2 open` (parts unknown yet are left out). */
  line(sample: ProgressSample): string {
    const t = this.now();
    this.samples.push([t, sample.done]);
    while (this.samples.length > 2 && (this.samples[1] as [number, number])[0] <= t - WINDOW_MS) this.samples.shift();
    const [t0, done0] = this.samples[0] as [number, number];
    const rate = t > t0 ? ((sample.done - done0) * 1000) / (t - t0) : undefined;
    const parts: string[] = [];
    const known = sample.total !== undefined && sample.total > 0;
    parts.push(known ? `${sample.done}/${sample.total} ${this.words.unit} (${((100 * sample.done) / (sample.total as number)).toFixed(1)}%)` : `${sample.done} ${this.words.unit}`);
    if (rate !== undefined) parts.push(`${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s`);
    if (known && rate !== undefined && rate > 0) parts.push(`${clock(((sample.total as number) - sample.done) / rate)} left`);
    parts.push(`${sample.found} ${this.words.found}`);
    return parts.join(', ');
  }
}

export const PROGRESS_INTERVAL_MS = 250;

/**
 * Redraw `draw(line)` every 250 ms from `sample()` until the returned stop function is called.
 * Without `draw` (stderr is not a terminal) nothing runs. The timer is unref'd: it never keeps
 * the process alive.
 */
export function startProgress(draw: ((line: string) => void) | undefined, words: ProgressWords, sample: () => ProgressSample): () => void {
  if (!draw) return () => undefined;
  const meter = new ProgressMeter(words);
  meter.line(sample());
  const timer = setInterval(() => draw(meter.line(sample())), PROGRESS_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** How many addresses the specs name (for a total), or undefined when one does not parse. */
export function addressCount(specs: readonly string[]): number | undefined {
  try {
    return Number(specs.flatMap((spec) => parseSpec(spec)).reduce((sum, range) => sum + rangeSize(range), 0n));
  } catch {
    return undefined;
  }
}

/** pmap's and the probes' line: ports and open ones for a tcp scan, hosts and live ones for a sweep. */
export function scanProgress(
  draw: ((line: string) => void) | undefined,
  kind: 'ping' | 'tcp',
  total: number | undefined,
  counts: () => { done: number; found: number },
): () => void {
  const words = kind === 'tcp' ? { unit: 'ports', found: 'open' } : { unit: 'hosts', found: 'up' };
  return startProgress(draw, words, () => ({ ...counts(), ...(total === undefined ? {} : { total }) }));
}
