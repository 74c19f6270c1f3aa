// The kernel's neighbour table (ARP for IPv4, NDP for IPv6) and route lookups, read through
// iproute2's `ip -j`. Why `ip` and not netlink or /proc: node has no netlink socket (rtnetlink
// would need an addon), /proc/net/arp covers IPv4 only and cannot tell a FAILED entry from one
// still resolving, while `ip -j neigh` gives both families with the kernel's NUD state names, as
// JSON. `ip` reads the table of the network namespace it runs in, so it sees what our sockets see.
// Reading the table sends no packet.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

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
