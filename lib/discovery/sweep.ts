// Host discovery: the ping sweep plus the other ways a host shows it is up, one record per host.
// - icmp: the echo sweep, on the engine lib/pingprobe.ts opens (openPinger).
// - tcp (--tcp PORTS): a connect to each port, started with the echo; a SYN-ACK (open) or an RST
//   (closed) both mean a host answered, as nmap's TCP ping.
// - neighbour: the echo (or connect) makes the kernel resolve an on-link address with ARP/NDP; a
//   host that answered that is up though it drops ICMP, as nmap's ARP ping finds it. The table
//   is read for all hosts in flight at once, a few times a second, so a host that only answers
//   ARP is found in about one read, not after every echo retry timed out.
import type { ParsedArgs } from 'minimist';
import { Observable } from '../rx.js';
import type { EchoResult } from '../icmp-engine.js';
import { echoOptions, hostRecord, onlyIp, openPinger, type Pinger, type PingOptions } from '../pingprobe.js';
import { pullEach } from '../pool.js';
import { withInput, type Rec, type Target } from '../records.js';
import { lastValue, UsageError } from '../frame.js';
import { parsePorts, PortSpecError } from '../ports.js';
import { ConnectProber, netSocketLayer, type SocketLayer } from '../tcp-engine.js';
import { canonicalAddress, familyOf } from '../targets.js';
import { kernelNeighbours, type NeighbourState, type NeighbourTable } from './neighbours.js';

/** pingprobe's -n bound, for the command that now runs this sweep. */
export { MAX_PINGS_IN_FLIGHT } from '../pingprobe.js';

export type DiscoveryMethod = 'icmp' | 'tcp' | 'neighbour';

export const DEFAULT_TCP_PING_PORTS = [80, 443] as const;

export interface DiscoveryOptions extends PingOptions {
  /** Ports for the TCP connect ping (--tcp); none: no TCP ping. */
  tcpPorts?: readonly number[];
  /** Read the kernel's neighbour table (default true; --no-neighbour turns it off). */
  neighbours?: boolean;
  table?: NeighbourTable;
  /** Socket layer of the TCP ping (default node:net). */
  layer?: SocketLayer;
  /** How often the neighbour table is read while hosts are in flight, ms (default 100). */
  neighbourPollMs?: number;
}

/** `--tcp[=PORTS]` (alone: 80,443) and `--no-neighbour`, as discoverySweep options. */
export function discoveryFlags(args: ParsedArgs): Pick<DiscoveryOptions, 'tcpPorts' | 'neighbours'> {
  const neighbours = args.neighbour !== false;
  if (args.tcp === undefined || args.tcp === false) return { neighbours };
  const spec = lastValue(args, 'tcp') ?? '';
  if (spec === '' || spec === 'true') return { tcpPorts: [...DEFAULT_TCP_PING_PORTS], neighbours };
  try {
    return { tcpPorts: parsePorts(spec), neighbours };
  } catch (err) {
    if (err instanceof PortSpecError) throw new UsageError(`--tcp: ${err.message} (write --tcp=PORTS)`);
    throw err;
  }
}

export interface DiscoveryStats {
  hosts: number;
  alive: number;
  byMethod: Record<DiscoveryMethod, number>;
  /** Echo requests sent, retries included. */
  sent: number;
  /** TCP connects of the TCP ping, retries included. */
  connects: number;
  method?: 'native' | 'raw' | 'ping';
  /** The echo sweep's timing summary (-v), once the sweep runs on raw sockets. */
  timing?: () => string;
  summary(): string;
}

const SNAPSHOT_MS = 50;

/** Only a REACHABLE entry is fresh proof: STALE or DELAY may be a host that left since. */
const UP_STATE = 'reachable';

interface Host {
  target: Target;
  /** Place in the input, for --ordered. */
  index: number;
  startedAt: number;
  /** The address as the neighbour table spells it: worked out only when the table is read. */
  key: string | undefined;
  /** Not decided yet. */
  open: boolean;
  /** Said up (by any method): later answers add nothing. */
  said: boolean;
  /** The echo sweep's record for this host, once its tries are over. */
  echoed?: Rec;
  tcpPending: number;
  /** Cancels of its TCP pings (none without --tcp). */
  cancelTcp: (() => void)[] | undefined;
}

const NO_PORTS: readonly number[] = [];

/**
 * Discover which `targets` are up. Emits `{...target, ip, alive: true, method, rtt?}` once per host
 * found up by any method, and with `all` one `{alive: false}` record per host found by none. The
 * echo sweep's concurrency (`options.concurrency`) also bounds the hosts being decided at once.
 */
export function discoverySweep(
  targets: Iterable<Target> | AsyncIterable<Target>,
  options: DiscoveryOptions,
  ready?: () => Promise<void> | undefined,
): { records: Observable<Rec>; stats: DiscoveryStats } {
  const tcpPorts = options.tcpPorts ?? NO_PORTS;
  const useNeighbours = options.neighbours ?? true;
  const table = options.table ?? kernelNeighbours();
  const echo = echoOptions(options);
  const prober =
    tcpPorts.length > 0
      ? new ConnectProber(options.layer ?? netSocketLayer, {
          timeoutMs: options.timeoutMs,
          retries: options.retries,
          maxSockets: Math.max(1, Math.min(options.concurrency * tcpPorts.length, 4096)),
        })
      : undefined;
  const stats: DiscoveryStats = {
    hosts: 0,
    alive: 0,
    byMethod: { icmp: 0, tcp: 0, neighbour: 0 },
    sent: 0,
    get connects() {
      return prober?.counters.connects ?? 0;
    },
    summary() {
      const methods = Object.entries(stats.byMethod)
        .filter(([, count]) => count > 0)
        .map(([name, count]) => `${count} by ${name}`);
      return `${stats.hosts} hosts, ${stats.alive} alive${methods.length ? ` (${methods.join(', ')})` : ''}, ${stats.sent} echoes sent (${stats.method ?? 'no'} ICMP)${prober ? `, ${stats.connects} TCP connects` : ''}${stats.timing ? `; ${stats.timing()}` : ''}`;
    },
  };
  stats.timing = () => 'timing: system ping, fixed waits';

  // What a host costs here: a Host, one callback, its record (an Observable per host, a generator
  // step between two loops and a record copy each were measured on a 65536-host loopback sweep).
  const records = new Observable<Rec>((subscriber) => {
    // Hosts whose verdict is still open.
    const open = new Set<Host>();
    // Hosts whose echoes still run (a host decided otherwise keeps its echo slot until they end);
    // the pinger's close() ends those left.
    let echoing = 0;
    let pinger: Pinger | undefined;
    let loop: ReturnType<typeof pullEach<Target>> | undefined;
    let poller: ReturnType<typeof setTimeout> | undefined;
    let reading = false;
    let stopped = false;
    let inputDone = false;
    // --ordered: decided hosts wait here for those before them (null: down, not shown).
    const held = new Map<number, Rec | null>();
    let nextIndex = 0;
    let toEmit = 0;
    const emit = (host: Host, made: Rec | null): void => {
      // Made from the target: the shared writer keeps the target's own fields (records.ts keepEarlier).
      const record = made && (onlyIp(host.target) ? made : withInput(made, host.target));
      if (!options.ordered) {
        if (record) subscriber.next(record);
        return;
      }
      held.set(host.index, record);
      for (let next = held.get(toEmit); next !== undefined; next = held.get(toEmit)) {
        held.delete(toEmit++);
        if (next) subscriber.next(next);
      }
    };

    const up = (host: Host, method: DiscoveryMethod, rtt?: number): void => {
      if (host.said) return;
      host.said = true;
      stats.alive++;
      stats.byMethod[method]++;
      cancelTcp(host);
      host.tcpPending = 0;
      // An echo's record as pingprobe always wrote it, `method` added; else the target's fields.
      let record: Rec;
      if (method === 'icmp' && host.echoed) {
        record = host.echoed;
        record.method = method;
      } else {
        const { reason: _reason, alive: _alive, rtt: _rtt, ttl: _ttl, ...fields } = host.target;
        record = { ...fields, ip: host.target.ip, alive: true, method };
        if (rtt !== undefined) record.rtt = rtt;
      }
      emit(host, record);
      maybeDone(host);
    };
    // A host is decided when said up, or when every method has had its say.
    const maybeDone = (host: Host): void => {
      if (!host.open) return;
      if (!host.said && (host.echoed === undefined || host.tcpPending > 0)) return;
      if (!host.said) {
        void finalLook(host);
        return;
      }
      forget(host);
    };
    const forget = (host: Host): void => {
      host.open = false;
      open.delete(host);
      stats.hosts++;
      loop?.pump();
      finishIfDone();
    };
    const cancelTcp = (host: Host): void => {
      if (host.cancelTcp) for (const cancel of host.cancelTcp.splice(0)) cancel();
    };
    const keyOf = (host: Host): string => (host.key ??= canonicalAddress(host.target.ip) ?? host.target.ip);
    const finalLook = async (host: Host): Promise<void> => {
      // Every echo and connect went unanswered; the table may still say ARP/NDP was.
      if (useNeighbours) {
        let state = (await snapshot()).get(keyOf(host)) ?? 'none';
        if (state === 'stale' || state === 'delay' || state === 'probe') state = await table.refresh(host.target.ip);
        if (state === UP_STATE) return up(host, 'neighbour');
      }
      if (host.said || !host.open) return;
      down(host);
    };
    const down = (host: Host): void => {
      emit(host, options.all ? host.echoed ?? { ...host.target, alive: false } : null);
      forget(host);
    };
    const finishIfDone = (): void => {
      // Every target read and decided: echoes still waiting for hosts decided otherwise are dropped.
      if (inputDone && open.size === 0 && held.size === 0 && !subscriber.closed) stop(), subscriber.complete();
    };
    const fail = (err: unknown): void => {
      if (stopped) return;
      stop();
      subscriber.error(err);
    };

    // One read of the table serves every host that asks within SNAPSHOT_MS (a dead /24 ends its
    // echoes all at once: 250 runs of `ip` took seconds on a busy machine).
    let last: { at: number; states: Promise<Map<string, NeighbourState>> } | undefined;
    const snapshot = (): Promise<Map<string, NeighbourState>> => {
      if (!last || performance.now() - last.at > SNAPSHOT_MS) last = { at: performance.now(), states: table.snapshot() };
      return last.states;
    };
    const readTable = async (): Promise<void> => {
      poller = undefined;
      if (open.size === 0 || reading) return;
      // A host gets its first echo's full wait to answer ICMP: an echo reply is the better record
      // (rtt, ttl), and ARP resolves long before the reply comes through the ping fallback.
      const due = performance.now() - options.timeoutMs;
      const waiting = [...open].filter((host) => !host.said && host.startedAt <= due);
      if (waiting.length === 0) return schedulePoll();
      reading = true;
      try {
        const states = await snapshot();
        for (const host of waiting) {
          const state = states.get(keyOf(host));
          if (host.said || !host.open) continue;
          if (state === UP_STATE) up(host, 'neighbour');
          // Our echo made the kernel ask ARP/NDP a whole timeout ago and nobody answered: the
          // address holds no host (nmap's ARP ping decides the same way). Its echo is not waited for.
          else if ((state === 'incomplete' || state === 'failed') && host.tcpPending === 0) down(host);
        }
      } finally {
        reading = false;
        schedulePoll();
      }
    };
    const schedulePoll = (): void => {
      // With -c above 1 a host is in flight for all its echoes: the table is read at the end only.
      if (!useNeighbours || options.count > 1 || poller || open.size === 0 || subscriber.closed) return;
      poller = setTimeout(() => void readTable(), options.neighbourPollMs ?? 100);
    };

    const echoed = (host: Host, result: EchoResult): void => {
      echoing--;
      stats.sent += result.sent;
      const alive = result.rtts.length > 0;
      if (host.open) {
        // Every echo's record, alive or not: a silent host's is its --all record.
        host.echoed = hostRecord(host.target, result, echo.count);
        if (alive) up(host, 'icmp');
        else maybeDone(host);
      }
      if (!stopped) loop?.pump();
    };
    const start = (target: Target): void => {
      const host: Host = { target, index: nextIndex++, startedAt: performance.now(), key: undefined, open: true, said: false, tcpPending: 0, cancelTcp: prober ? [] : undefined };
      open.add(host);
      for (const port of prober ? tcpPorts : NO_PORTS) {
        host.tcpPending++;
        host.cancelTcp?.push(
          prober!.start(target.ip, port, (outcome) => {
            if (host.said) return;
            host.tcpPending--;
            if (outcome.state === 'open' || outcome.state === 'closed') up(host, 'tcp', outcome.rtt);
            else maybeDone(host);
          }),
        );
      }
      schedulePoll();
      echoing++;
      pinger!.start(target.ip, familyOf(target.ip) || 4, echo, (result) => echoed(host, result), fail);
    };
    function stop(): void {
      if (stopped) return;
      stopped = true;
      if (poller) clearTimeout(poller);
      poller = undefined;
      loop?.stop();
      for (const host of open) cancelTcp(host);
      pinger?.close();
    }

    openPinger(options).then(
      (chosen) => {
        pinger = chosen;
        stats.method = chosen.method;
        if (chosen.timing) stats.timing = chosen.timing;
        if (stopped) return chosen.close();
        loop = pullEach(targets, {
          // As many hosts undecided as -n (their TCP ping may outlast the echo), and no more echoes
          // running than the echo engine's slots.
          room: () => open.size + held.size < options.concurrency && echoing < chosen.slots,
          ...(ready ? { ready } : {}),
          start,
          end: () => {
            inputDone = true;
            finishIfDone();
          },
          fail,
        });
        loop.pump();
      },
      (err: unknown) => {
        stopped = true;
        subscriber.error(err);
      },
    );
    return stop;
  });
  return { records, stats };
}
