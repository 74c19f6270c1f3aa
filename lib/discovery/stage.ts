// pmap's host discovery before a port scan, as nmap does it: over more than one address, find
// which hosts are up (ICMP echo, TCP connect to 80 and 443, the neighbour table) and port-scan
// only those. `-Pn` skips it and scans every address.
import { Observable, type Subscription } from '../rx.js';
import type { Rec, Target } from '../records.js';
import { DEFAULT_TCP_PING_PORTS, discoverySweep, type DiscoveryOptions } from './sweep.js';

/** Up hosts found but not yet taken by the scan: discovery waits when this many are queued. */
const QUEUED_HOSTS = 64;

export interface DiscoveryStageOptions extends Pick<DiscoveryOptions, 'concurrency' | 'timeoutMs' | 'retries' | 'log' | 'table' | 'layer'> {
  /** Said once at the end: how many addresses were down. */
  onDone?: (line: string) => void;
}

/**
 * Run discovery over `targets` and `scan` the hosts found up. The scan's records come out as it
 * makes them; each address found down comes out once as `{ip, alive: false}` (so a tally counts
 * it, and --all shows it) and is never scanned.
 */
export function discoverThenScan(
  targets: Iterable<Target> | AsyncIterable<Target>,
  options: DiscoveryStageOptions,
  scan: (up: AsyncIterable<Target>) => Observable<Rec>,
): Observable<Rec> {
  return new Observable<Rec>((subscriber) => {
    const queue: Target[] = [];
    let discoveryEnded = false;
    let wakeScan: (() => void) | undefined;
    let wakeDiscovery: (() => void) | undefined;
    let up = 0;
    let down = 0;
    async function* upHosts(): AsyncGenerator<Target> {
      for (;;) {
        const next = queue.shift();
        if (next) {
          wakeDiscovery?.();
          yield next;
        } else if (discoveryEnded) {
          return;
        } else {
          await new Promise<void>((resolve) => (wakeScan = resolve));
        }
      }
    }
    const room = (): Promise<void> | undefined =>
      queue.length < QUEUED_HOSTS ? undefined : new Promise<void>((resolve) => (wakeDiscovery = resolve));
    const wake = (): void => {
      const resolve = wakeScan;
      wakeScan = undefined;
      resolve?.();
    };

    const { records: found } = discoverySweep(
      targets,
      { ...options, count: 1, all: true, tcpPorts: [...DEFAULT_TCP_PING_PORTS] },
      room,
    );
    const discovery: Subscription = found.subscribe({
      next: (record) => {
        if (record.alive === true) {
          up++;
          // The target as it came (a name's `host`, fields of an input record), without what
          // discovery learnt: the port scan's own rtt must not meet the ping's.
          const { alive: _alive, rtt: _rtt, ttl: _ttl, method: _method, ...target } = record;
          queue.push({ ...target, ip: String(record.ip) });
          wake();
        } else {
          down++;
          subscriber.next(record);
        }
      },
      error: (err: unknown) => subscriber.error(err),
      complete: () => {
        discoveryEnded = true;
        options.onDone?.(`host discovery: ${up + down} addresses, ${up} up, ${down} down and not port-scanned (-Pn scans every address)`);
        wake();
      },
    });
    const scanning = scan(upHosts()).subscribe(subscriber);
    return () => {
      discovery.unsubscribe();
      scanning.unsubscribe();
    };
  });
}
