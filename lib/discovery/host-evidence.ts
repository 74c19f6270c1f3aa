// Whether a connect's "unreachable" speaks for the host or only for one port (issue #10 item 4).
//
// Linux gives a connecting socket EHOSTUNREACH for very different things: ARP/NDP got no answer
// (the host is not there), the route says unreachable, or an ICMP host-unreachable, host-prohibited
// or admin-prohibited came back (tcp_v4_err, icmp_err_convert). The last is how firewalld and RHEL's
// default rules REJECT each port they do not allow, so one such answer must not hide the host's
// open ports: nmap -sT calls those ports filtered. The errno alone cannot tell them apart, but the
// kernel's tables can: a host that sent a reject answered ARP first, so its neighbour entry is
// REACHABLE (or STALE...), while a host that is not there has a FAILED or INCOMPLETE one.
import type { ProbeOutcome } from '../tcp-engine.js';
import { UNANSWERED_STATES, type NeighbourTable } from './neighbours.js';

/**
 * 'host': the address is not there, settle it once. 'port': only this port is filtered. 'again':
 * the port's tries timed out while the kernel was still resolving the address (ARP/NDP), so they
 * never left this machine; the address has answered since: try the port afresh.
 */
export type UnreachableVerdict = { scope: 'host'; why: string } | { scope: 'port'; why: string } | { scope: 'again'; why: string };

/** Errnos where the kernel itself has no way to the network: no packet left, no port was asked. */
const NO_NETWORK = new Set(['ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN']);
/** Route types that refuse locally (ip-route(8)). */
const REFUSING_ROUTES = new Set(['unreachable', 'prohibit', 'blackhole', 'throw']);
/** Lookups of the tables at once: a dead /24 fails hundreds of connects in the same moment. */
const LOOKUPS_AT_ONCE = 8;
/** Hosts remembered as present (answered ARP/NDP): bounded, a scan of a /16 must not grow it. */
const REMEMBERED = 4096;
/**
 * How long an unresolved neighbour is watched, and how often: the kernel sends 3 ARP/NDP probes a
 * second apart (neigh/default/ucast_solicit, retrans_time_ms) before it calls the entry FAILED.
 */
const RESOLVING_MS = 3500;
const RESOLVING_STEP_MS = 100;

export class HostEvidence {
  private readonly present = new Map<string, string>();
  private readonly judging = new Map<string, Promise<UnreachableVerdict>>();
  private running = 0;
  private readonly queue: (() => void)[] = [];
  /** Tables read, for tests and -v. */
  lookups = 0;

  constructor(private readonly table: NeighbourTable) {}

  /**
   * The verdict on an EHOSTUNREACH-like error from a connect to `ip`, or (`code` undefined) on a
   * port whose tries all timed out: then only an unanswered ARP/NDP settles the host.
   */
  judge(ip: string, code?: string): Promise<UnreachableVerdict> {
    if (code !== undefined && NO_NETWORK.has(code)) return Promise.resolve({ scope: 'host', why: code });
    const known = this.present.get(ip);
    if (known !== undefined) return Promise.resolve({ scope: 'port', why: code ?? known });
    let verdict = this.judging.get(ip);
    if (!verdict) {
      verdict = this.limited(() => this.look(ip, code)).finally(() => this.judging.delete(ip));
      this.judging.set(ip, verdict);
    }
    return verdict.then((found) => (found.scope === 'port' ? { scope: 'port', why: code ?? '' } : found.scope === 'again' && code !== undefined ? { scope: 'port', why: code } : found));
  }

  private async look(ip: string, code: string | undefined): Promise<UnreachableVerdict> {
    this.lookups++;
    const unanswered = ip.includes(':') ? 'no-ndp-reply' : 'no-arp-reply';
    const route = await this.table.route(ip);
    if (route === null) return { scope: 'host', why: code ?? 'no-route' };
    if (route && REFUSING_ROUTES.has(route.type)) return { scope: 'host', why: code ?? `${route.type}-route` };
    // Off the segment, the first hop is what ARP/NDP resolves: when it is gone, so is the way.
    const hop = route?.gateway ?? ip;
    let state = await this.table.state(hop);
    // A SYN timed out while the address was still INCOMPLETE: the kernel held it, waiting for an
    // ARP/NDP answer, so no try reached the host. A lost ARP/NDP packet on a lossy link looks the
    // same for a second, so wait for the kernel's own verdict (FAILED, or an answer) rather than
    // settle a live host (measured: 5% loss settled a whole IPv6 host with three open ports).
    let resolving = false;
    for (let waited = 0; code === undefined && state === 'incomplete' && waited < RESOLVING_MS; waited += RESOLVING_STEP_MS) {
      resolving = true;
      await new Promise((resolve) => setTimeout(resolve, RESOLVING_STEP_MS));
      state = await this.table.state(hop);
    }
    if (UNANSWERED_STATES.has(state)) return { scope: 'host', why: code ?? unanswered };
    // The host (or a router on the way) answered with an ICMP error for this port: a REJECT.
    if (this.present.size >= REMEMBERED) this.present.delete(this.present.keys().next().value ?? '');
    this.present.set(ip, state);
    return resolving ? { scope: 'again', why: 'resolved' } : { scope: 'port', why: code ?? '' };
  }

  private limited<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        this.running++;
        task()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.queue.shift()?.();
          });
      };
      if (this.running < LOOKUPS_AT_ONCE) run();
      else this.queue.push(run);
    });
  }
}

/**
 * Pass `outcome` on to `then`, after asking `evidence` when it is unreachable or timed out: a per-port reject
 * becomes `filtered` with the errno as reason, a host that never answered ARP/NDP is `unreachable`.
 */
export function settleUnreachable(
  evidence: HostEvidence,
  ip: string,
  outcome: ProbeOutcome,
  then: (outcome: ProbeOutcome) => void,
  again?: () => void,
): void {
  const timedOut = outcome.state === 'filtered' && outcome.reason === undefined;
  if (outcome.state !== 'unreachable' && !timedOut) return then(outcome);
  const code = outcome.state === 'unreachable' ? outcome.reason : undefined;
  evidence.judge(ip, code).then(
    (verdict) => {
      if (verdict.scope === 'host') then({ state: 'unreachable', reason: verdict.why, tries: outcome.tries });
      else if (verdict.scope === 'again' && again) again();
      else if (code === undefined) then(outcome);
      else then({ state: 'filtered', reason: code, tries: outcome.tries });
    },
    () => then(outcome),
  );
}
