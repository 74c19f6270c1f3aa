// Records as one nmap-style XML document (nmap's -oX format, /usr/share/nmap/nmap.dtd), so ndiff,
// xsltproc with nmap.xsl and the importers that read nmap XML read our scans too. Only what the DTD
// has a place for goes in: a banner, loss figures or tries stay in the JSON.
import { existsSync } from 'node:fs';
import type { Rec } from '../records.js';
import type { ServiceNames } from '../services.js';

/** Where the text goes: stdout through a LineBatcher, or a file (see xml-file.ts). */
export interface TextSink {
  push(text: string): void;
  flush(): void;
}

export const NMAP_XSL = '/usr/share/nmap/nmap.xsl';

/** nmap.xsl's URL when nmap is installed here (nmap itself writes a file:// href), else none. */
export function defaultStylesheet(): string | null {
  return existsSync(NMAP_XSL) ? `file://${NMAP_XSL}` : null;
}

export interface XmlOptions {
  /** The tool and version (nmaprun's version attribute) and its command line (args). */
  version: string;
  args: string;
  /** href of the xml-stylesheet processing instruction; null writes none. */
  stylesheet: string | null;
  /** The scanned ports (`22,80,8000-8100`) and how many, for <scaninfo>; unknown: no scaninfo. */
  scan?: { services: string; count: number; type?: 'connect' | 'syn' };
  /** Service names for ports no svcprobe stage named (<service method="table">). */
  services?: ServiceNames;
  /** Write <host> elements for down hosts (they are counted in <runstats> either way). */
  downHosts?: boolean;
  /**
   * Hosts held open at once. A host's records need not arrive together (tcpprobe interleaves the
   * hosts it has in flight): a host is written when it is the least recently seen of more than
   * this many, or at the end. Records of a host seen again after that form a second <host>.
   */
  window?: number;
  /** More ports than this in one state (closed, filtered) become an <extraports> count, as in nmap. */
  extraportsOver?: number;
  start?: Date;
}

/** XML 1.0 has no way to write most control characters (§2.2, not even as &#n;): they become U+FFFD. */
const INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function attr(value: unknown): string {
  return String(value)
    .replace(INVALID, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

/** `name="value"` pairs, skipping undefined values. */
function attrs(pairs: Record<string, unknown>): string {
  return Object.entries(pairs)
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([name, value]) => ` ${name}="${attr(value)}"`)
    .join('');
}

// nmap's reason words for a connect scan (nmap -sT --reason) and for host discovery.
const PORT_REASONS: Record<string, string> = { open: 'syn-ack', closed: 'conn-refused', filtered: 'no-response' };
const UP_REASONS: Record<string, string> = { tcp: 'tcp-response', neighbour: 'arp-response', neighbor: 'arp-response' };
const UNREACH_REASONS: Record<string, string> = { EHOSTUNREACH: 'host-unreach', ENETUNREACH: 'net-unreach' };

interface PortRow {
  port: number;
  state: string;
  service?: Record<string, unknown>;
}

/** One host's records folded together: what its <host> element needs, nothing more. */
class HostState {
  status: 'up' | 'down' | 'unknown' = 'unknown';
  reason = 'no-response';
  reasonTtl = 0;
  names = new Set<string>();
  mac?: string;
  /** Listed ports by state; a state past the limit keeps only its count. */
  rows = new Map<string, PortRow[] | null>();
  counts = new Map<string, number>();
  srtt?: number;
  rttvar?: number;

  constructor(
    readonly ip: string,
    /** When the host was first seen: hosts still open at the end are written in this order. */
    readonly seq: number,
  ) {}

  add(record: Rec, limit: number): void {
    for (const name of [record.host].flat()) if (typeof name === 'string' && name !== '') this.names.add(name);
    if (typeof record.mac === 'string') this.mac = record.mac;
    if (typeof record.rtt === 'number' && Number.isFinite(record.rtt)) this.timed(record.rtt * 1000);
    if (record.port === undefined) return this.hostRecord(record);
    const state = String(record.state ?? 'unknown');
    if (state === 'open' || state === 'closed') this.up(PORT_REASONS[state] as string);
    this.counts.set(state, (this.counts.get(state) ?? 0) + 1);
    const service = typeof record.service === 'object' && record.service !== null ? (record.service as Record<string, unknown>) : undefined;
    const row: PortRow = { port: Number(record.port), state, ...(service ? { service } : {}) };
    if (state === 'open') {
      // Open ports are what a scan is for: always listed.
      const open = this.rows.get(state) ?? [];
      open.push(row);
      this.rows.set(state, open);
      return;
    }
    const listed = this.rows.get(state);
    if (listed === null) return;
    const rows = listed ?? [];
    if (rows.length >= limit) this.rows.set(state, null);
    else rows.push(row), this.rows.set(state, rows);
  }

  private hostRecord(record: Rec): void {
    if (record.alive === true) {
      this.up(UP_REASONS[String(record.method)] ?? 'echo-reply', record.ttl);
    } else if (record.state === 'unreachable') {
      this.down(UNREACH_REASONS[String(record.reason)] ?? String(record.reason ?? 'host-unreach'));
    } else if (record.alive === false) {
      this.down(typeof record.reason === 'string' ? record.reason : 'no-response');
    }
  }

  private up(reason: string, ttl?: unknown): void {
    if (this.status === 'up' && this.reason !== 'no-response') return;
    this.status = 'up';
    this.reason = reason;
    if (typeof ttl === 'number') this.reasonTtl = ttl;
  }

  private down(reason: string): void {
    if (this.status === 'up') return;
    this.status = 'down';
    this.reason = reason;
  }

  /** RFC 6298's smoothed RTT and variance, in microseconds as nmap's <times> has them. */
  private timed(rtt: number): void {
    if (this.srtt === undefined || this.rttvar === undefined) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
      return;
    }
    this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rtt);
    this.srtt = 0.875 * this.srtt + 0.125 * rtt;
  }

  toXml(services: ServiceNames | undefined): string {
    const family = this.ip.includes(':') ? 'ipv6' : 'ipv4';
    let xml = `<host>${`<status${attrs({ state: this.status, reason: this.reason })} reason_ttl="${this.reasonTtl}"/>`}\n`;
    xml += `<address${attrs({ addr: this.ip, addrtype: family })}/>\n`;
    if (this.mac) xml += `<address${attrs({ addr: this.mac, addrtype: 'mac' })}/>\n`;
    xml += this.names.size === 0 ? '<hostnames/>\n' : `<hostnames>\n${[...this.names].map((name) => `<hostname${attrs({ name, type: 'user' })}/>\n`).join('')}</hostnames>\n`;
    if (this.counts.size > 0) {
      xml += '<ports>';
      const listed: PortRow[] = [];
      for (const [state, rows] of this.rows) {
        if (rows) listed.push(...rows);
        else {
          const count = this.counts.get(state) ?? 0;
          const reason = PORT_REASONS[state] ?? state;
          xml += `<extraports${attrs({ state, count })}>\n<extrareasons${attrs({ reason, count, proto: 'tcp' })}/>\n</extraports>\n`;
        }
      }
      listed.sort((a, b) => a.port - b.port);
      for (const row of listed) {
        xml += `<port protocol="tcp" portid="${row.port}"><state${attrs({ state: row.state, reason: PORT_REASONS[row.state] ?? 'unknown' })} reason_ttl="0"/>`;
        xml += serviceXml(row, services);
        xml += '</port>\n';
      }
      xml += '</ports>\n';
    }
    if (this.srtt !== undefined && this.rttvar !== undefined) {
      const us = (value: number): number => Math.max(0, Math.round(value));
      xml += `<times srtt="${us(this.srtt)}" rttvar="${us(this.rttvar)}" to="${us(this.srtt + 4 * this.rttvar)}"/>\n`;
    }
    return `${xml}</host>\n`;
  }
}

/**
 * A probed service (svcprobe's `service` field) or the services(5) name for the port. conf: nmap
 * gives 10 to a probe match and 3 to a name looked up by port number.
 */
function serviceXml(row: PortRow, services: ServiceNames | undefined): string {
  const service = row.service;
  if (service && typeof service.name === 'string' && service.name !== '') {
    const probed = service.method !== 'table';
    return `<service${attrs({
      name: service.name,
      product: service.product,
      version: service.version,
      method: probed ? 'probed' : 'table',
      conf: probed ? 10 : 3,
      tunnel: service.tls === true ? 'ssl' : undefined,
    })}/>`;
  }
  const name = services?.tcp(row.port);
  return name ? `<service${attrs({ name, method: 'table', conf: 3 })}/>` : '';
}

export interface Finish {
  /** Why the run stopped early ("interrupted"), if it did: <finished exit="error" errormsg=...>. */
  error?: string;
  /** nmap's closing sentence; a default one counts the hosts. */
  summary?: string;
}

/** The document, written as records arrive: memory holds the hosts of the window, not the run. */
export class NmapXmlWriter {
  private readonly hosts = new Map<string, HostState>();
  private readonly start: Date;
  private up = 0;
  private down = 0;
  private total = 0;
  private began = false;
  private seen = 0;

  constructor(
    private readonly out: TextSink,
    private readonly options: XmlOptions,
  ) {
    this.start = options.start ?? new Date();
  }

  begin(): void {
    if (this.began) return;
    this.began = true;
    const seconds = Math.floor(this.start.getTime() / 1000);
    const o = this.options;
    let head = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n';
    if (o.stylesheet) head += `<?xml-stylesheet href="${attr(o.stylesheet)}" type="text/xsl"?>\n`;
    // "--" may not appear in an XML comment.
    head += `<!-- ${attr(`${o.version} scan written ${this.start.toUTCString()} as: ${o.args}`).replace(/-(?=-)/g, '-&#45;')} -->\n`;
    // scanner is fixed to "nmap" by the DTD; version and args say what really wrote the file.
    head += `<nmaprun scanner="nmap"${attrs({ args: o.args, start: seconds, startstr: this.start.toUTCString(), version: o.version })} xmloutputversion="1.05">\n`;
    // "-" (every port) is spelled out as nmap writes it.
    if (o.scan) head += `<scaninfo type="${o.scan.type ?? 'connect'}" protocol="tcp"${attrs({ numservices: o.scan.count, services: o.scan.services === '-' ? '1-65535' : o.scan.services })}/>\n`;
    head += '<verbose level="0"/>\n<debugging level="0"/>\n';
    this.out.push(head);
  }

  add(record: Rec): void {
    this.begin();
    if (typeof record.ip !== 'string') return;
    let host = this.hosts.get(record.ip);
    if (host) this.hosts.delete(record.ip);
    else host = new HostState(record.ip, this.seen++);
    // Re-inserted: the Map's order is least recently seen first.
    this.hosts.set(record.ip, host);
    host.add(record, this.options.extraportsOver ?? 25);
    const window = this.options.window ?? 1024;
    while (this.hosts.size > window) {
      const [ip, oldest] = this.hosts.entries().next().value as [string, HostState];
      this.hosts.delete(ip);
      this.writeHost(oldest);
    }
  }

  private writeHost(host: HostState): void {
    this.total++;
    if (host.status === 'up') this.up++;
    else if (host.status === 'down') this.down++;
    if (host.status === 'down' && this.options.downHosts === false) return;
    this.out.push(host.toXml(this.options.services));
  }

  /** Counts so far of the hosts written: up, down, total. */
  get counts(): { up: number; down: number; total: number } {
    return { up: this.up, down: this.down, total: this.total };
  }

  end(finish: Finish = {}): void {
    this.begin();
    for (const host of [...this.hosts.values()].sort((a, b) => a.seq - b.seq)) this.writeHost(host);
    this.hosts.clear();
    const now = new Date();
    const elapsed = ((now.getTime() - this.start.getTime()) / 1000).toFixed(2);
    const summary =
      finish.summary ??
      `${this.total} IP address${this.total === 1 ? '' : 'es'} (${this.up} host${this.up === 1 ? '' : 's'} up) written in ${elapsed} seconds`;
    this.out.push(
      `<runstats><finished${attrs({
        time: Math.floor(now.getTime() / 1000),
        timestr: now.toUTCString(),
        summary,
        elapsed,
        exit: finish.error ? 'error' : 'success',
        errormsg: finish.error,
      })}/><hosts up="${this.up}" down="${this.down}" total="${this.total}"/>\n</runstats>\n</nmaprun>\n`,
    );
    this.out.flush();
  }
}
