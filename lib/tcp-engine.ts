import { Socket } from 'node:net';
import { Observable } from './rx.js';
import type { Probe, TimingCore, Verdict } from './timing/core.js';
import { systemClock, TimingDriver, type Clock } from './timing/driver.js';
import { coreOptions, type TimingFields } from './timing/flags.js';
import { isSelfConnect } from './tcp/self-connect.js';

/** What the engine needs of a TCP socket: `net.Socket` has all of it; tests pass a fake. */
export interface ProbeSocket {
  readonly localPort?: number | undefined;
  readonly localAddress?: string | undefined;
  /** The far end as the kernel has it once connected (node:net has both). */
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  connect(port: number, host: string): unknown;
  once(event: 'connect' | 'timeout', listener: () => void): unknown;
  /** `on`, not `once`: a late second 'error' with no listener would throw. */
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
  /** Close with RST: a connect-scan must not leave a TIME_WAIT socket per open port. */
  resetAndDestroy(): unknown;
  destroy(): unknown;
}

/** Makes sockets. Injected so unit tests can drive EMFILE, timeouts and self-connects without a network. */
export interface SocketLayer {
  create(): ProbeSocket;
}

export const netSocketLayer: SocketLayer = {
  create: () => new Socket(),
};

export type PortState = 'open' | 'closed' | 'filtered';

export type ProbeOutcome =
  /** `reason`: why a port is filtered when something said so (a per-port ICMP reject). */
  | { state: PortState; rtt?: number; tries: number; reason?: string }
  /** The host (not the port) answered with EHOSTUNREACH/ENETUNREACH: its other ports need no try. */
  | { state: 'unreachable'; reason: string; tries: number }
  /** Local errors (EMFILE...) went on for MAX_LOCAL_ERRORS tries: the port was never asked. */
  | { state: 'error'; reason: string; tries: number };

export interface EngineOptions extends TimingFields {
  /** Sockets open at once, at most (lowered at run time when the process runs out of descriptors). */
  maxSockets: number;
  /** First back-off after a local resource error (default 10 ms), doubled for each further one, up to 1 s. */
  backoffMs?: number;
  /** Local errors on one port before it is given up (default MAX_LOCAL_ERRORS). */
  maxLocalErrors?: number;
  /** Told once, the first time local resource errors lower the number of sockets in flight. */
  onThrottle?: (message: string) => void;
  clock?: Clock;
}

/** Errors about this machine, not the target: never a port state (TOOLCHAIN.md "EMFILE storms"). */
export const LOCAL_ERRORS = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'ENOBUFS', 'ENOMEM', 'EAGAIN']);
export const UNREACHABLE_ERRORS = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);
/**
 * ECONNREFUSED is an RST, or an ICMP port-unreachable: Linux maps both to the same errno for a
 * connecting socket (tcp_v4_err, icmp_err_convert), so a connect scan reports both as closed, as
 * `nmap -sT` does.
 */
export const CLOSED_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET']);
/** A socket that connected to itself gets this many fresh sockets before the port is called closed. */
export const SELF_CONNECT_TRIES = 4;
/** Local errors on one port before it is given up and reported (#10 item 20: never retried forever). */
export const MAX_LOCAL_ERRORS = 16;

export interface EngineCounters {
  /** connect() calls, retries included. */
  connects: number;
  selfConnects: number;
  localErrors: number;
}

/**
 * A try that failed on this machine (EMFILE and friends, LOCAL_ERRORS), as every connect and SYN
 * backend handles it: counted, then unsent (the core backs off and may lower its window), up to
 * MAX_LOCAL_ERRORS per port, after which the port is an 'error'. A lowered window is said once.
 */
export class LocalErrorRule {
  private throttled = false;

  /** `inFlight` names what the window counts in the notice ("sockets", "SYNs"). */
  constructor(
    private readonly options: EngineOptions,
    private readonly counters: EngineCounters,
    private readonly inFlight: string,
  ) {}

  apply<P extends { localErrors: number }>(
    core: Pick<TimingCore<P, { state: 'error'; reason: string }>, 'error' | 'unsent' | 'stats'>,
    probe: Probe<P>,
    now: number,
    code: string,
  ): void {
    this.counters.localErrors++;
    if (++probe.target.payload.localErrors >= (this.options.maxLocalErrors ?? MAX_LOCAL_ERRORS)) {
      core.error(probe, now, { state: 'error', reason: code });
      return;
    }
    const before = Math.floor(core.stats.window);
    core.unsent(probe, now);
    const after = Math.floor(core.stats.window);
    if (after < before && !this.throttled) {
      this.throttled = true;
      this.options.onThrottle?.(`out of local resources, lowering ${this.inFlight} in flight from ${before} to ${after}`);
    }
  }
}

/** Hosts found unreachable, remembered (bounded: a scan of a /16 must not grow it) by every backend. */
export class GoneHosts {
  private readonly reasons = new Map<string, string>();

  add(host: string, reason: string): void {
    this.reasons.set(host, reason);
    if (this.reasons.size > 4096) this.reasons.delete(this.reasons.keys().next().value ?? '');
  }

  get(host: string): string | undefined {
    return this.reasons.get(host);
  }
}

/** A backend's callback `start` as an Observable of the one outcome (unsubscribing cancels). */
export function observeOutcome(start: (done: (outcome: ProbeOutcome) => void) => () => void): Observable<ProbeOutcome> {
  return new Observable<ProbeOutcome>((subscriber) =>
    start((outcome) => {
      subscriber.next(outcome);
      subscriber.complete();
    }),
  );
}

/** One port of one host under the timing core, and the socket of its try in flight. */
interface PortTarget {
  port: number;
  socket?: ProbeSocket | undefined;
  selfConnects: number;
  localErrors: number;
  done(outcome: ProbeOutcome): void;
}

export type PortAnswer = { state: 'open' | 'closed' } | { state: 'unreachable' | 'error'; reason: string };

/**
 * Connect-scan probes under one timing core (lib/timing/core.ts), which decides when each connect
 * starts, how long it may take and whether it is tried again. `probe` classifies a port as open,
 * closed or filtered, or reports the host unreachable; it never turns a local error into a port state.
 */
export class ConnectProber {
  readonly counters: EngineCounters = { connects: 0, selfConnects: 0, localErrors: 0 };
  readonly timing: TimingDriver<PortTarget, PortAnswer>;
  private readonly localErrors: LocalErrorRule;
  /** Hosts found unreachable: tries to them still waiting for a slot are settled without a connect. */
  private readonly gone = new GoneHosts();

  constructor(
    private readonly layer: SocketLayer,
    private readonly options: EngineOptions,
  ) {
    this.localErrors = new LocalErrorRule(options, this.counters, 'sockets');
    const timing = coreOptions(options, Math.max(1, options.maxSockets));
    timing.localBackoffMs = options.backoffMs ?? 10;
    this.timing = new TimingDriver<PortTarget, PortAnswer>(
      timing,
      {
        send: (probe) => this.connect(probe),
        expire: (probe) => {
          const target = probe.target.payload;
          target.socket?.destroy();
          target.socket = undefined;
        },
        settle: (target, verdict) => target.payload.done(outcomeOf(verdict)),
      },
      options.clock ?? systemClock,
    );
  }

  /** The current socket budget (the timing core's window: lowered by local errors and drops). */
  get socketLimit(): number {
    return Math.floor(this.timing.core.stats.window);
  }

  /** The host answered unreachable: its ports still waiting for a slot get that answer unsent. */
  hostGone(host: string, reason: string): void {
    this.gone.add(host, reason);
  }

  probe(host: string, port: number): Observable<ProbeOutcome> {
    return observeOutcome((done) => this.start(host, port, done));
  }

  /**
   * `probe` without rxjs, for the hot path: `done` is called once with the outcome, unless the
   * returned cancel function is called first (which tears the socket down and frees its slot).
   */
  start(host: string, port: number, done: (outcome: ProbeOutcome) => void): () => void {
    const payload: PortTarget = { port, selfConnects: 0, localErrors: 0, done };
    const target = this.timing.core.add(host, payload, this.timing.now());
    this.timing.kick();
    return () => {
      payload.socket?.destroy();
      payload.socket = undefined;
      this.timing.core.cancel(target, this.timing.now());
      this.timing.kick();
    };
  }

  private connect(probe: Probe<PortTarget>): void {
    const core = this.timing.core;
    const target = probe.target.payload;
    const host = probe.target.host;
    const { port } = target;
    const gone = this.gone.get(host);
    if (gone !== undefined) {
      core.error(probe, this.timing.now(), { state: 'unreachable', reason: gone });
      return;
    }
    this.counters.connects++;
    const current = this.layer.create();
    target.socket = current;
    let settled = false;
    const settle = (): boolean => {
      if (settled || target.socket !== current) return false;
      settled = true;
      target.socket = undefined;
      return true;
    };
    current.once('connect', () => {
      if (!settle()) return;
      const self = isSelfConnect(current, host, port);
      current.resetAndDestroy();
      const now = this.timing.now();
      if (!self) core.answer(probe, now, { state: 'open' });
      else {
        // The kernel picked the destination port as our source port, and with no listener the
        // SYN met itself: a simultaneous open (RFC 793 3.4) to ourselves, not a service.
        this.counters.selfConnects++;
        if (++target.selfConnects >= SELF_CONNECT_TRIES) core.error(probe, now, { state: 'closed' });
        else core.unsent(probe, now, false);
      }
      this.timing.kick();
    });
    // No socket.setTimeout: the timing core times every try. A layer may still say 'timeout'.
    current.once('timeout', () => {
      if (!settle()) return;
      current.destroy();
      core.lost(probe, this.timing.now());
      this.timing.kick();
    });
    current.on('error', (err) => {
      if (!settle()) return;
      current.destroy();
      const code = err.code ?? '';
      const now = this.timing.now();
      if (LOCAL_ERRORS.has(code)) {
        this.localErrors.apply(core, probe, now, code);
        this.timing.kick();
        return;
      }
      if (CLOSED_ERRORS.has(code)) {
        core.answer(probe, now, { state: 'closed' });
        this.timing.kick();
        return;
      }
      // These may fail inside connect() itself (no route: ENETUNREACH at once), and node reports
      // that on the next tick. Handling it there would start the next connect in the same tick, so
      // a scan where every connect fails at once never left the tick queue: no signal, no I/O, no
      // handle ever freed (#10 item 2). setImmediate lets the event loop turn in between.
      setImmediate(() => {
        if (UNREACHABLE_ERRORS.has(code)) core.error(probe, now, { state: 'unreachable', reason: code });
        // ETIMEDOUT (the kernel gave up first), EACCES/EPERM (a local firewall): no answer from the
        // port, so it counts as a timed-out try and ends filtered, never open or closed.
        else core.lost(probe, now);
        this.timing.kick();
      });
    });
    current.connect(port, host);
  }
}

export function outcomeOf(verdict: Verdict<PortAnswer>): ProbeOutcome {
  const { tries } = verdict;
  if (verdict.kind === 'silent') return { state: 'filtered', tries };
  if (verdict.data.state === 'unreachable') return { state: 'unreachable', reason: verdict.data.reason, tries };
  // The try that met the last local error never left this machine: it is not counted.
  if (verdict.data.state === 'error') return { state: 'error', reason: verdict.data.reason, tries: Math.max(0, tries - 1) };
  return verdict.kind === 'answer' ? { state: verdict.data.state, rtt: round(verdict.rtt), tries } : { state: verdict.data.state, tries };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
