import type { Writable } from 'node:stream';
import { drained, LineBatcher } from './output.js';
import type { Rec } from './records.js';

/** Fields that belong to one port of a host, not to the host, when records are grouped. */
const PORT_FIELDS = new Set(['port', 'state', 'rtt', 'reason', 'service', 'tries']);

/**
 * Why a record cannot be grouped by host, thrown for readRecords to report as `stdin:N` (the record
 * is skipped, the others kept): a "ports" that is not a list of port objects would break the
 * host's list, and a "__proto__" field would be lost to the prototype setter (issue 10 item 10).
 */
export function checkHostRecord(record: Rec): void {
  if (Object.hasOwn(record, '__proto__')) throw new Error('a "__proto__" field cannot be kept in a host');
  const ports = record.ports;
  if (ports !== undefined && (!Array.isArray(ports) || ports.some((p) => typeof p !== 'object' || p === null || Array.isArray(p)))) {
    throw new Error(`"ports" must be a list of port objects, not ${JSON.stringify(ports).slice(0, 60)}`);
  }
}

export interface HostEntry {
  ip: string;
  ports?: Rec[];
  [field: string]: unknown;
}

/**
 * `{ip: {...fields, ports: [...]}}`: host fields merged (later records win), each record with a
 * `port` adding `{port, state, rtt, ...}` to the host's ports, sorted by port number when read.
 * Hosts keep the order in which they first appeared.
 */
export class HostGroups {
  private readonly hosts = new Map<string, HostEntry>();

  add(record: Rec & { ip: string }): void {
    let host = this.hosts.get(record.ip);
    if (!host) {
      host = { ip: record.ip };
      this.hosts.set(record.ip, host);
    }
    if (record.port === undefined) {
      Object.assign(host, record);
      return;
    }
    const port: Rec = {};
    for (const [key, value] of Object.entries(record)) {
      if (PORT_FIELDS.has(key)) port[key] = value;
      else host[key] = value;
    }
    (host.ports ??= []).push(port);
  }

  get size(): number {
    return this.hosts.size;
  }

  toJSON(): Record<string, HostEntry> {
    const document: Record<string, HostEntry> = {};
    for (const [ip, host] of this.hosts) {
      host.ports?.sort((a, b) => Number(a.port) - Number(b.port));
      document[ip] = host;
    }
    return document;
  }
}

/**
 * A JSON array written as the records arrive, one record a line: memory stays flat and the
 * document is valid as soon as `end()` has run, including after an interrupt.
 */
export class ArrayWriter {
  private count = 0;
  private readonly out: LineBatcher;

  constructor(stream: Writable) {
    this.out = new LineBatcher(stream);
  }

  /** Returns false when the stream wants a 'drain' before more. */
  add(record: Rec): boolean {
    this.out.push(`${this.count++ === 0 ? '[\n' : ',\n'}${JSON.stringify(record)}`);
    return !this.out.full;
  }

  end(): void {
    this.out.push(this.count === 0 ? '[]\n' : '\n]\n');
    this.out.flush();
  }
}

/** `wait`, or less when `signal` aborts first. */
function untilSignal(wait: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return wait;
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void wait.then(done);
  });
}

/**
 * tojson: the records as one JSON document on `out`, an array streamed as read or, `byHost`, the
 * host groups written once at the end. `counted` hears of each record read.
 */
export async function writeDocument(
  records: AsyncIterable<Rec>,
  out: Writable,
  byHost: boolean,
  counted: () => void,
  signal?: AbortSignal,
): Promise<void> {
  if (byHost) {
    const hosts = new HostGroups();
    for await (const record of records) hosts.add(record as Rec & { ip: string }), counted();
    out.write(`${JSON.stringify(hosts, null, 2)}\n`);
    return;
  }
  const array = new ArrayWriter(out);
  for await (const record of records) {
    counted();
    // After an interrupt, stop waiting on a slow reader: the rest and the closing `]` are queued
    // at once, and the frame lets stdout flush before the process goes (issue 10 item 9).
    if (!array.add(record) && !signal?.aborted) await untilSignal(drained(out), signal);
  }
  array.end();
}
