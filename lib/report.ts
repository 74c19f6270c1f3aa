// What pmap shows people: a line per result as it arrives, then one summary line like nmap's.
import type { Writable } from 'node:stream';
import type { Rec } from './records.js';
import type { ServiceNames } from './services.js';

export interface Totals {
  hosts: number;
  up: number;
  ports: number;
  open: number;
  closed: number;
  filtered: number;
  unreachable: number;
}

export function emptyTotals(): Totals {
  return { hosts: 0, up: 0, ports: 0, open: 0, closed: 0, filtered: 0, unreachable: 0 };
}

/**
 * Counts from result records (probes run with --all, so every host or port tried yields one):
 * the same arithmetic whatever mode produced them.
 */
export class Tally {
  readonly totals = emptyTotals();
  private readonly seen = new Set<string>();
  private readonly up = new Set<string>();

  /**
   * `oneRecordPerHost` (a ping sweep: one record a host, whatever the mode) counts without keeping
   * any address: a /12 sweep held a million strings here (issue 10 item 15).
   */
  constructor(private readonly oneRecordPerHost = false) {}

  add(record: Rec): void {
    if (this.oneRecordPerHost) {
      this.totals.hosts++;
      if (record.alive === true) this.totals.up++;
      return;
    }
    const ip = String(record.ip);
    if (!this.seen.has(ip)) {
      this.seen.add(ip);
      this.totals.hosts++;
    }
    const answered = record.port === undefined ? record.alive === true : record.state === 'open' || record.state === 'closed';
    if (answered && !this.up.has(ip)) {
      this.up.add(ip);
      this.totals.up++;
    }
    if (record.port === undefined) {
      // tcpprobe's one record for a host that answered EHOSTUNREACH/ENETUNREACH.
      if (record.state === 'unreachable') this.totals.unreachable++;
      return;
    }
    this.totals.ports++;
    if (record.state === 'open') this.totals.open++;
    else if (record.state === 'closed') this.totals.closed++;
    else this.totals.filtered++;
  }
}

const COLOURS = { open: 32, up: 32, closed: 31, down: 31, filtered: 33, unreachable: 33 } as const;

export class TerminalReport {
  constructor(
    private readonly out: Writable,
    private readonly options: { colour: boolean; services: ServiceNames; beforeLine?: () => void },
  ) {}

  private paint(word: keyof typeof COLOURS, width: number): string {
    const padded = word.padEnd(width);
    return this.options.colour ? `\x1b[${COLOURS[word]}m${padded}\x1b[0m` : padded;
  }

  /** One result as a line: a live host, or a port of a host. */
  line(record: Rec): string {
    const ip = String(record.ip).padEnd(15);
    const rtt = typeof record.rtt === 'number' ? `${record.rtt.toFixed(2)} ms` : '';
    if (record.port === undefined) {
      const alive = record.alive === true;
      const detail = alive ? [rtt, record.ttl === undefined ? '' : `ttl ${String(record.ttl)}`] : [String(record.reason ?? 'no reply')];
      return `${ip}  ${this.paint(alive ? 'up' : 'down', 4)}  ${detail.filter(Boolean).join('  ')}`.trimEnd();
    }
    const port = Number(record.port);
    const state = String(record.state) as keyof typeof COLOURS;
    const service = this.options.services.tcp(port) ?? 'unknown';
    const stateText = state in COLOURS ? this.paint(state, 11) : state.padEnd(11);
    return `${ip}  ${`${port}/tcp`.padEnd(9)}  ${stateText}  ${service.padEnd(14)}  ${rtt}`.trimEnd();
  }

  header(kind: 'ping' | 'tcp'): string {
    return kind === 'ping' ? `${'HOST'.padEnd(15)}  STATE` : `${'HOST'.padEnd(15)}  ${'PORT'.padEnd(9)}  ${'STATE'.padEnd(11)}  ${'SERVICE'.padEnd(14)}  RTT`;
  }

  print(text: string): void {
    this.options.beforeLine?.();
    this.out.write(`${text}\n`);
  }

  /** A result record as its line (the sink pmap's results are written to). */
  write(record: Rec): void {
    this.print(this.line(record));
  }
}

const plural = (count: number, one: string, many = `${one}es`): string => `${count} ${count === 1 ? one : many}`;

/** nmap's closing line, in our words: `pmap done: 256 IP addresses (3 hosts up) scanned in 2.04 seconds`. */
export type ScanStatus = 'done' | 'interrupted' | 'failed';

export function summaryLine(kind: 'ping' | 'tcp', totals: Totals, seconds: number, status: ScanStatus): string {
  const hosts = `${plural(totals.hosts, 'IP address')} (${plural(totals.up, 'host', 'hosts')} up)`;
  const ports =
    kind === 'tcp'
      ? `, ${plural(totals.ports, 'port', 'ports')}: ${totals.open} open, ${totals.closed} closed, ${totals.filtered} filtered` +
        (totals.unreachable ? `, ${plural(totals.unreachable, 'host', 'hosts')} unreachable` : '')
      : '';
  return `pmap ${status}: ${hosts}${ports}, scanned in ${seconds.toFixed(2)} seconds`;
}
