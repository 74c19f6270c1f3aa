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
 * the same arithmetic whatever mode produced them. It counts, it does not collect (issue 10 item
 * 15): a host is remembered only while its ports are still coming in, so memory follows the hosts
 * in flight, not the size of the scan.
 */
export class Tally {
  readonly totals = emptyTotals();
  /** Hosts with some but not all of their port records in: how many came, and whether one answered. */
  private readonly inProgress = new Map<string, { records: number; up: boolean }>();

  /**
   * `portsPerHost`: port records that complete a host (tcp: the ports scanned); `true` for a ping
   * sweep (one record a host). The default, never complete, remembers every host: only for callers
   * that cannot know (tests). A record without a port is a host's last (a ping result, a host
   * found down by discovery, tcpprobe's one record for an unreachable host). A target given twice
   * is counted twice, as it is scanned twice.
   */
  constructor(
    portsPerHost: number | true = Infinity,
    /** Told when a host's results are all in (pmap's resume point). */
    private readonly onHostDone?: (ip: string) => void,
  ) {
    this.portsPerHost = portsPerHost === true ? 0 : portsPerHost;
  }

  private readonly portsPerHost: number;

  add(record: Rec): void {
    const ip = String(record.ip);
    let host = this.inProgress.get(ip);
    if (!host) {
      this.totals.hosts++;
      host = { records: 0, up: false };
    }
    const answered = record.port === undefined ? record.alive === true : record.state === 'open' || record.state === 'closed';
    if (answered && !host.up) {
      host.up = true;
      this.totals.up++;
    }
    if (record.port === undefined) {
      // tcpprobe's one record for a host that answered EHOSTUNREACH/ENETUNREACH.
      if (record.state === 'unreachable') this.totals.unreachable++;
      this.inProgress.delete(ip);
      this.onHostDone?.(ip);
      return;
    }
    this.totals.ports++;
    if (record.state === 'open') this.totals.open++;
    else if (record.state === 'closed') this.totals.closed++;
    else this.totals.filtered++;
    if (++host.records < this.portsPerHost) {
      this.inProgress.set(ip, host);
      return;
    }
    this.inProgress.delete(ip);
    this.onHostDone?.(ip);
  }

  /** Hosts remembered now (for tests of the bound). */
  get hostsInProgress(): number {
    return this.inProgress.size;
  }
}

const COLOURS = { open: 32, up: 32, closed: 31, down: 31, filtered: 33, unreachable: 33 } as const;

// Column widths: an IPv4 address fits HOST; a longer (IPv6) address pushes its own row only.
const W = { host: 15, port: 9, state: 11, service: 14, pingState: 5, rtt: 10, ttl: 4 } as const;

/** What the table hides of one host (closed and filtered ports, without --all), for nmap's "Not shown" line. */
interface HostBlock {
  rows: Rec[];
  hidden: Map<string, number>;
  records: number;
  up: boolean;
}

export class TerminalReport {
  /** TCP: the hosts whose ports are still coming, in the order first seen. */
  private readonly blocks = new Map<string, HostBlock>();

  constructor(
    private readonly out: Writable,
    private readonly options: {
      colour: boolean;
      services: ServiceNames;
      beforeLine?: () => void;
      /**
       * Ports scanned per host (tcp). Given, a host's rows are held until all its ports have
       * answered and then printed sorted by port, with a "Not shown" line, as nmap does.
       */
      portsPerHost?: number;
      /** Told of each open port as it is found, while its host's rows wait (nmap -v's "Discovered open port"). */
      discovered?: (text: string) => void;
      /** -sV: a VERSION column with svcprobe's product and version. */
      versions?: boolean;
    },
  ) {}

  private paint(word: keyof typeof COLOURS, width: number): string {
    const padded = word.padEnd(width);
    return this.options.colour ? `\x1b[${COLOURS[word]}m${padded}\x1b[0m` : padded;
  }

  /** One result as a line: a host of a sweep, or a port of a host. */
  line(record: Rec): string {
    // A target given by name reads as nmap shows it: `localhost (127.0.0.1)`.
    const ip = (typeof record.host === 'string' ? `${record.host} (${String(record.ip)})` : String(record.ip)).padEnd(W.host);
    const rtt = typeof record.rtt === 'number' ? `${record.rtt.toFixed(2)} ms` : '-';
    if (record.port === undefined) {
      const alive = record.alive === true;
      const ttl = record.ttl === undefined ? '-' : String(record.ttl);
      // METHOD says how we know: for a live host the probe that answered (ICMP echo unless the
      // record names another), for a silent one why it counts as down.
      const method = alive ? String(record.method ?? 'icmp') : String(record.reason ?? 'no reply');
      return `${ip}  ${this.paint(alive ? 'up' : 'down', W.pingState)}  ${(alive ? rtt : '-').padEnd(W.rtt)}  ${(alive ? ttl : '-').padEnd(W.ttl)}  ${method}`;
    }
    const port = Number(record.port);
    const state = String(record.state) as keyof typeof COLOURS;
    // svcprobe's answer (pmap -sV) over the port number's usual name.
    const found = record.service as { name?: string; product?: string; version?: string; info?: string; tls?: unknown } | undefined;
    const service = found?.name ? `${found.tls && found.name !== 'ssl' ? 'ssl/' : ''}${found.name}` : (this.options.services.tcp(port) ?? 'unknown');
    const stateText = state in COLOURS ? this.paint(state, W.state) : state.padEnd(W.state);
    const shownRtt = record.rtt === undefined ? '' : rtt;
    const version = this.options.versions ? `  ${[found?.product, found?.version, found?.info && `(${found.info})`].filter(Boolean).join(' ')}` : '';
    return `${ip}  ${`${port}/tcp`.padEnd(W.port)}  ${stateText}  ${service.padEnd(W.service)}  ${this.options.versions ? shownRtt.padEnd(W.rtt) : shownRtt}${version}`.trimEnd();
  }

  header(kind: 'ping' | 'tcp'): string {
    const version = this.options.versions ? `${''.padEnd(W.rtt - 3)}  VERSION` : '';
    return kind === 'ping'
      ? `${'HOST'.padEnd(W.host)}  ${'STATE'.padEnd(W.pingState)}  ${'RTT'.padEnd(W.rtt)}  ${'TTL'.padEnd(W.ttl)}  METHOD`
      : `${'HOST'.padEnd(W.host)}  ${'PORT'.padEnd(W.port)}  ${'STATE'.padEnd(W.state)}  ${'SERVICE'.padEnd(W.service)}  RTT${version}`;
  }

  print(text: string): void {
    this.options.beforeLine?.();
    this.out.write(`${text}\n`);
  }

  /** A result record the table shows (the sink pmap's results are written to). */
  write(record: Rec): void {
    if (this.options.portsPerHost === undefined) return this.print(this.line(record));
    this.take(record, true);
  }

  /** A result the table does not show: counted for the host's "Not shown" line. Returns false (for filter). */
  hide(record: Rec): false {
    if (this.options.portsPerHost !== undefined) this.take(record, false);
    return false;
  }

  private take(record: Rec, shown: boolean): void {
    const ip = String(record.ip);
    let block = this.blocks.get(ip);
    if (!block) this.blocks.set(ip, (block = { rows: [], hidden: new Map(), records: 0, up: false }));
    if (record.state === 'open') this.options.discovered?.(`Discovered open port ${String(record.port)}/tcp on ${ip}`);
    if (shown) block.rows.push(record);
    else if (record.port !== undefined) block.hidden.set(String(record.state), (block.hidden.get(String(record.state)) ?? 0) + 1);
    if (record.state === 'open' || record.state === 'closed') block.up = true;
    // A host is done when each of its ports has a record, or at once when it was unreachable
    // (tcpprobe tries none of its other ports).
    if (record.port !== undefined) block.records++;
    if (block.records >= (this.options.portsPerHost ?? 0) || record.state === 'unreachable') this.printBlock(ip, block);
  }

  private printBlock(ip: string, block: HostBlock): void {
    this.blocks.delete(ip);
    // Hosts that neither answered nor have a row to show (a dead address of a range) print nothing.
    if (block.rows.length === 0 && !block.up) return;
    block.rows.sort((a, b) => (a.port === undefined ? -1 : b.port === undefined ? 1 : Number(a.port) - Number(b.port)));
    for (const row of block.rows) this.print(this.line(row));
    const hidden = [...block.hidden].filter(([, count]) => count > 0).map(([state, count]) => plural(count, `${state} port`, `${state} ports`));
    if (hidden.length > 0) this.print(`${ip.padEnd(W.host)}  Not shown: ${hidden.join(', ')}`);
  }

  /** Hosts still waiting for ports (an interrupted scan): printed as they stand, first seen first. */
  flush(): void {
    for (const [ip, block] of [...this.blocks]) this.printBlock(ip, block);
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
