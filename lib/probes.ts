// The probe stages as pmap runs them: every record out (closed, filtered, down too, as the
// filters' --all), so pmap can count and show them alike in every mode. These are also the
// entry points a `-m thread` worker calls, so their options are plain, cloneable data.
import type { Observable } from 'rxjs';
import { discoverySweep } from './discovery/sweep.js';
import type { Rec, Target } from './records.js';
import { tcpScan } from './tcpprobe.js';

export const PROBES_MODULE = new URL(import.meta.url).href;

export interface TcpWork {
  ports: readonly number[];
  concurrency: number;
  timeoutMs: number;
  retries: number;
  /** Open-file limit to budget sockets against; undefined asks `ulimit -n`. */
  fdLimit?: number | null;
}

export interface PingWork {
  concurrency: number;
  timeoutMs: number;
  retries: number;
  count: number;
}

type Targets = Iterable<Target> | AsyncIterable<Target>;
type Ready = () => Promise<void> | undefined;

export function tcpRecords(targets: Targets, work: TcpWork, ready?: Ready, log?: (line: string) => void): Observable<Rec> {
  return tcpScan(targets, { ...work, all: true, ordered: false, ...(log ? { onNotice: log } : {}) }, ready).records;
}

export function pingRecords(targets: Targets, work: PingWork, ready?: Ready, log?: (line: string) => void): Observable<Rec> {
  // The same discovery as pingprobe (echo, then the neighbour table), so -m proc, which runs
  // pingprobe, and the other modes find the same hosts.
  return discoverySweep(targets, { ...work, all: true, ...(log ? { log } : {}) }, ready).records;
}
