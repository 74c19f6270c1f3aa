// The kernel's neighbour table (ARP for IPv4, NDP for IPv6) and route lookups, read through
// iproute2's `ip -j`. Why `ip` and not netlink or /proc: node has no netlink socket (rtnetlink
// would need an addon), /proc/net/arp covers IPv4 only and cannot tell a FAILED entry from one
// still resolving, while `ip -j neigh` gives both families with the kernel's NUD state names, as
// JSON. `ip` reads the table of the network namespace it runs in, so it sees what our sockets see.
// Reading the table sends no packet.
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { canonicalAddress } from '../targets.js';

/** A neighbour entry's NUD state, lower case (`ip neigh`), or 'none' when the table has no entry. */
export type NeighbourState =
  | 'reachable'
  | 'stale'
  | 'delay'
  | 'probe'
  | 'incomplete'
  | 'failed'
  | 'permanent'
  | 'noarp'
  | 'none';

/** States that say a link-layer address answered: the host was on the segment a moment ago. */
export const ANSWERED_STATES: ReadonlySet<NeighbourState> = new Set(['reachable', 'stale', 'delay', 'probe', 'permanent']);
/** States that say resolution is failing or failed: nobody answered ARP/NDP for the address. */
export const UNANSWERED_STATES: ReadonlySet<NeighbourState> = new Set(['incomplete', 'failed']);

export interface RouteInfo {
  /** The next hop, when the address is not on a directly connected segment. */
  gateway?: string;
  dev?: string;
  /** 'unicast', 'local', 'unreachable', 'prohibit', 'blackhole', ... */
  type: string;
}

/** What discovery and the TCP scan ask of the kernel; tests pass a fake. */
export interface NeighbourTable {
  /** The entry of `ip`, or 'none'. Never throws: an unreadable table is 'none'. */
  state(ip: string): Promise<NeighbourState>;
  /** Every entry of the table at once (one `ip` run for all the hosts in flight), by canonical address. */
  snapshot(): Promise<Map<string, NeighbourState>>;
  /**
   * Ask the kernel to resolve `ip` afresh and say what came of it: a STALE entry proves nothing
   * (it may be hours old), and while it sits in DELAY the kernel waits 5 s before asking again.
   */
  refresh(ip: string): Promise<NeighbourState>;
  /** The route the kernel would use, null when it has none (no route to the address), undefined if unknown. */
  route(ip: string): Promise<RouteInfo | null | undefined>;
}

/** `missing`: no `ip` command here (as opposed to `ip` saying no). */
export type RunIp = (args: string[]) => Promise<{ ok: boolean; stdout: string; missing?: boolean }>;

const runIp: RunIp = (args) =>
  new Promise((resolve) => {
    execFile('ip', args, { encoding: 'utf8', timeout: 5000 }, (err, stdout) =>
      resolve({ ok: !err, stdout: stdout ?? '', missing: (err as NodeJS.ErrnoException | null)?.code === 'ENOENT' }),
    );
  });

const STATES = new Set<string>(['reachable', 'stale', 'delay', 'probe', 'incomplete', 'failed', 'permanent', 'noarp']);

/** The most telling NUD state of one `ip -j neigh` entry ("state": ["REACHABLE"], sometimes several). */
export function parseNeighbourJson(text: string): NeighbourState {
  let entries: unknown;
  try {
    entries = JSON.parse(text || '[]');
  } catch {
    return 'none';
  }
  if (!Array.isArray(entries)) return 'none';
  for (const entry of entries) {
    const states = (entry as { state?: unknown }).state;
    for (const state of Array.isArray(states) ? states : []) {
      const name = String(state).toLowerCase();
      if (STATES.has(name)) return name as NeighbourState;
    }
  }
  return 'none';
}

/** Every `ip -j neigh` entry: address (canonical) to its most telling state. */
export function parseNeighbourTable(text: string): Map<string, NeighbourState> {
  const table = new Map<string, NeighbourState>();
  let entries: unknown;
  try {
    entries = JSON.parse(text || '[]');
  } catch {
    return table;
  }
  for (const entry of Array.isArray(entries) ? entries : []) {
    const dst = (entry as { dst?: unknown }).dst;
    if (typeof dst !== 'string') continue;
    const state = parseNeighbourJson(JSON.stringify([entry]));
    const key = canonicalAddress(dst) ?? dst;
    // An address can sit on two links; any entry that answered says it is there.
    if (!ANSWERED_STATES.has(table.get(key) ?? 'none')) table.set(key, state);
  }
  return table;
}

/** /proc/net/arp's flags: ATF_COM (0x2) set once the address resolved; a failed or pending entry has 0x0. */
export function parseProcArp(text: string, ip: string): NeighbourState {
  for (const line of text.split('\n').slice(1)) {
    const [address, , flags] = line.trim().split(/\s+/);
    if (address !== ip || flags === undefined) continue;
    const bits = Number.parseInt(flags, 16);
    if (bits & 0x4) return 'permanent';
    return bits & 0x2 ? 'reachable' : 'incomplete';
  }
  return 'none';
}

/** Looks at an entry being resolved afresh: ARP/NDP retransmits every second (retrans_time). */
const REFRESH_LOOKS = 5;
const REFRESH_STEP_MS = 200;

/**
 * One UDP datagram to the discard port: sending it makes the kernel resolve the address (no
 * privilege needed), and whatever answers (nothing, or a port-unreachable) is not listened to.
 */
function nudge(ip: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    const done = (): void => {
      socket.close();
      resolve();
    };
    socket.on('error', done);
    socket.send(Buffer.alloc(0), 9, ip, done);
  });
}

/** The kernel's table through `ip`; without `ip`, IPv4 entries from /proc/net/arp. */
export function kernelNeighbours(run: RunIp = runIp): NeighbourTable {
  let haveIp: boolean | undefined;
  return {
    async state(ip) {
      if (haveIp !== false) {
        const result = await run(['-j', 'neigh', 'show', 'to', ip]);
        if (result.missing) haveIp = false;
        if (result.ok) return parseNeighbourJson(result.stdout);
      }
      if (ip.includes(':')) return 'none';
      try {
        return parseProcArp(await readFile('/proc/net/arp', 'utf8'), ip);
      } catch {
        return 'none';
      }
    },
    async snapshot() {
      if (haveIp !== false) {
        const result = await run(['-j', 'neigh', 'show']);
        if (result.missing) haveIp = false;
        if (result.ok) return parseNeighbourTable(result.stdout);
      }
      const table = new Map<string, NeighbourState>();
      try {
        const text = await readFile('/proc/net/arp', 'utf8');
        for (const line of text.split('\n').slice(1)) {
          const address = line.trim().split(/\s+/)[0];
          if (address) table.set(address, parseProcArp(text, address));
        }
      } catch {
        // no table to read: every address 'none'
      }
      return table;
    },
    async refresh(ip) {
      // Needs CAP_NET_ADMIN; without it the entry stays and so does its state.
      await run(['neigh', 'flush', 'to', ip]);
      await nudge(ip);
      let state: NeighbourState = 'none';
      for (let look = 0; look < REFRESH_LOOKS; look++) {
        await new Promise((resolve) => setTimeout(resolve, REFRESH_STEP_MS));
        state = await this.state(ip);
        if (state !== 'incomplete' && state !== 'delay' && state !== 'probe') break;
      }
      return state;
    },
    async route(ip) {
      if (haveIp === false) return undefined;
      const result = await run(['-j', 'route', 'get', ip]);
      if (result.missing) haveIp = false;
      if (!result.ok) return result.missing ? undefined : null;
      try {
        const [entry] = JSON.parse(result.stdout) as { gateway?: string; dev?: string; type?: string }[];
        if (!entry) return null;
        const info: RouteInfo = { type: entry.type ?? 'unicast' };
        if (entry.gateway) info.gateway = entry.gateway;
        if (entry.dev) info.dev = entry.dev;
        return info;
      } catch {
        return null;
      }
    },
  };
}
