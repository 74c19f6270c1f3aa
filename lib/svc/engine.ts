// Which service answers on one (address, port): listen for a banner, then ask in order of
// likelihood for the port, one fresh connection per question (the first reuses the banner's), and
// stop at the first answer the signature table recognises. Every path ends within a bounded number
// of waits and bytes, and always yields a service object: what was learned, and a `reason` if the
// answer was not the whole story.
import type { Socket } from 'node:net';
import { ServiceNames } from '../services.js';
import { exchange, netConnectLayer, openSocket, type Connect, type Reply } from './exchange.js';
import { ALL_PROBES, DEFAULT_ORDER, PROBES } from './probes.js';
import { identify, type Identity, type SignatureTable } from './signatures.js';
import { describeSession, handshake, type TlsInfo } from './tls.js';

export interface Service extends Partial<Omit<Identity, 'name'>> {
  name: string;
  /** The bytes that told (or the first bytes the server sent), escaped and cut. */
  banner?: string;
  tls?: TlsInfo;
  /** The probe whose answer named the service (banner, http, tls, ...), or "table" for a guess by port. */
  method: string;
  /** Why the answer is incomplete: no answer, closed, reset, flood, unrecognised bytes. */
  reason?: string;
}

export interface EngineOptions {
  table: SignatureTable;
  /** Wait for a banner before asking anything. */
  bannerWaitMs: number;
  /** Wait for a connect, a TLS handshake, and each probe's answer. */
  timeoutMs: number;
  /** Bytes read per answer at most. */
  capBytes: number;
  /** Probes allowed (default: all); their order still comes from the port and the table. */
  probes?: readonly string[];
  /** Send every allowed probe before giving up, not only the port's likely ones, HTTP and TLS. */
  all: boolean;
  connect?: Connect;
  services?: ServiceNames;
}

export const BANNER_CHARS = 160;

/** Bytes as printable ASCII: \r \n \t \\ and \xNN escapes, cut to `max` characters. */
export function escapeBanner(bytes: Buffer, max = BANNER_CHARS): string {
  let out = '';
  for (const byte of bytes) {
    const char =
      byte === 0x0d ? '\\r' : byte === 0x0a ? '\\n' : byte === 0x09 ? '\\t' : byte === 0x5c ? '\\\\' : byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
    if (out.length + char.length > max) break;
    out += char;
  }
  return out;
}

/** The probes to send for `port`, likely ones first. */
export function probeOrder(port: number, options: Pick<EngineOptions, 'table' | 'probes' | 'all'>): string[] {
  const likely = options.table.portProbes.get(port) ?? [];
  const order = [...new Set([...likely, ...DEFAULT_ORDER, ...(options.all ? ALL_PROBES : [])])];
  return order.filter((name) => PROBES[name] !== undefined && (!options.probes || options.probes.includes(name)));
}

/** nginx and Apache answer plain HTTP on a TLS port with a 400 that says so: the real answer is inside TLS. */
const PLAIN_ON_TLS = /plain HTTP request was sent to HTTPS port|speaking plain HTTP to an SSL-enabled server/i;

const defaultServices = new ServiceNames();

export async function identifyService(ip: string, port: number, serverName: string | undefined, options: EngineOptions, signal: AbortSignal): Promise<Service> {
  const connect = options.connect ?? netConnectLayer;
  const reasons: string[] = [];
  let firstBytes: Buffer | null = null;
  let tls: TlsInfo | undefined;
  let fallback: Service | null = null;
  let closedSilently = 0;
  let answered = 0;
  const read = { waitMs: options.timeoutMs, capBytes: options.capBytes, signal };

  const result = (identity: Identity, method: string, bytes: Buffer | null): Service => {
    const service: Service = { ...identity, method };
    const shown = bytes && bytes.length > 0 ? bytes : firstBytes;
    if (shown) service.banner = escapeBanner(shown);
    if (tls) service.tls = tls;
    return service;
  };
  /** Notes what a reply says about the server; true when it floods (asking more is pointless). */
  const note = (probe: string, reply: Reply): boolean => {
    if (reply.bytes.length > 0) {
      answered++;
      firstBytes ??= reply.bytes;
    }
    if (reply.end === 'cap') reasons.push(`${probe}: more than ${options.capBytes} bytes, read no further`);
    else if (reply.end === 'error') reasons.push(`${probe}: ${reply.error}`);
    else if (reply.end === 'closed' && reply.bytes.length === 0) {
      closedSilently++;
      reasons.push(`${probe}: closed without a word`);
    } else if (reply.bytes.length === 0) reasons.push(`${probe}: no answer`);
    else reasons.push(`${probe}: unrecognised answer`);
    return reply.end === 'cap';
  };

  let socket: Socket | null = null;
  try {
    const opened = await openSocket(connect, ip, port, options.timeoutMs, signal);
    if (typeof opened === 'string') return unidentified(port, options, opened, null);
    socket = opened;
    const banner = await exchange(socket, null, PROBES.banner!.complete, { ...read, waitMs: options.bannerWaitMs });
    const bannerIdentity = banner.bytes.length > 0 ? identify(options.table, 'banner', banner.bytes) : null;
    if (bannerIdentity) return result(bannerIdentity, 'banner', banner.bytes);
    if (note('banner', banner)) return unidentified(port, options, reasons.join('; '), firstBytes);
    // A silent, still open connection takes the first question; any other is spent.
    if (banner.end !== 'timeout' || banner.bytes.length > 0) {
      socket.destroy();
      socket = null;
    }

    const order = probeOrder(port, options);
    for (let i = 0; i < order.length; i++) {
      const probe = PROBES[order[i] as string]!;
      if (signal.aborted) break;
      if (!socket) {
        const next = await openSocket(connect, ip, port, options.timeoutMs, signal);
        if (typeof next === 'string') {
          reasons.push(`${probe.name}: ${next}`);
          break;
        }
        socket = next;
      }
      let reply: Reply;
      if (probe.name === 'tls') {
        const secure = await handshake(socket, serverName, options.timeoutMs, signal);
        if (typeof secure === 'string') {
          reasons.push(secure);
          socket.destroy();
          socket = null;
          continue;
        }
        socket = secure;
        tls = describeSession(secure);
        reply = await exchange(secure, probe.payload(serverName ?? ip), probe.complete, read);
      } else {
        reply = await exchange(socket, probe.payload(serverName ?? ip), probe.complete, read);
      }
      socket.destroy();
      socket = null;
      const identity = reply.bytes.length > 0 ? identify(options.table, probe.name, reply.bytes) : null;
      if (identity && probe.name === 'http' && PLAIN_ON_TLS.test(reply.bytes.toString('latin1'))) {
        // Keep it in case TLS is not allowed or fails; ask inside TLS next.
        fallback ??= result(identity, probe.name, reply.bytes);
        const at = order.indexOf('tls');
        if (at > i + 1) order.splice(i + 1, 0, ...order.splice(at, 1));
        continue;
      }
      if (identity) return result(identity, probe.name, reply.bytes);
      if (tls) {
        // A TLS service whose inner protocol we do not know: nmap's "ssl/unknown".
        note('tls', reply);
        return { ...result({ name: 'ssl' }, 'tls', reply.bytes), reason: reasons.join('; ') };
      }
      if (note(probe.name, reply)) break;
    }
    if (fallback) return { ...fallback, reason: reasons.join('; ') };
    // Closed on every try before a byte came: nmap calls this tcpwrapped (tcp_wrappers' refusal).
    if (answered === 0 && closedSilently > 0) {
      return { name: 'tcpwrapped', method: 'probed', reason: reasons.join('; ') };
    }
    return unidentified(port, options, reasons.join('; '), firstBytes);
  } finally {
    socket?.destroy();
  }
}

/** No signature matched: the port's usual service as a guess (method "table"), and why. */
function unidentified(port: number, options: EngineOptions, reason: string, bytes: Buffer | null): Service {
  const name = (options.services ?? defaultServices).tcp(port) ?? 'unknown';
  const service: Service = { name, method: 'table', reason };
  if (bytes) service.banner = escapeBanner(bytes);
  return service;
}
