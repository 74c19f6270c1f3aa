// The probe stages as pmap runs them: every record out (closed, filtered, down too, as the
// filters' --all), so pmap can count and show them alike in every mode. These are also the
// entry points a `-m thread` worker calls, so their options are plain, cloneable data.
import type { Observable } from './rx.js';
import { discoverySweep } from './discovery/sweep.js';
import type { Rec, Target } from './records.js';
import { tcpScan } from './tcpprobe.js';
import type { TimingFields } from './timing/flags.js';

export const PROBES_MODULE = new URL(import.meta.url).href;

export interface TcpWork extends TimingFields {
  ports: readonly number[];
  /** Ports ranked (--top-ports): tried in that order. */
  rankedPorts?: boolean;
  concurrency: number;
  /** Open-file limit to budget sockets against; undefined asks `ulimit -n`. */
  fdLimit?: number | null;
  /** -sS: a SYN scan where raw sockets can be opened (lib/native/syn.ts), a connect scan elsewhere. */
  syn?: boolean;
  /** Name the engine on `log` (-v). */
  sayEngine?: boolean;
}

export interface PingWork extends TimingFields {
  concurrency: number;
  count: number;
}

type Targets = Iterable<Target> | AsyncIterable<Target>;
type Ready = () => Promise<void> | undefined;

/** `timing` (in-process runs only) receives a function giving the timing core's -v summary. */
type TimingSink = (summary: () => string) => void;

export function tcpRecords(targets: Targets, work: TcpWork, ready?: Ready, log?: (line: string) => void, timing?: TimingSink): Observable<Rec> {
  const { sayEngine, ...scanWork } = work;
  const said = log ? { onNotice: log, onFallback: log, ...(sayEngine ? { onEngine: log } : {}) } : {};
  const scan = tcpScan(targets, { ...scanWork, all: true, ordered: false, ...said }, ready);
  timing?.(() => scan.stats.timing());
  return scan.records;
}

export function pingRecords(targets: Targets, work: PingWork, ready?: Ready, log?: (line: string) => void, timing?: TimingSink): Observable<Rec> {
  // The same discovery as pingprobe (echo, then the neighbour table), so -m proc, which runs
  // pingprobe, and the other modes find the same hosts.
  const sweep = discoverySweep(targets, { ...work, all: true, ...(log ? { log } : {}) }, ready);
  timing?.(() => sweep.stats.timing?.() ?? 'timing: system ping, fixed waits');
  return sweep.records;
}
