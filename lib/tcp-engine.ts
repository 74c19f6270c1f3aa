import { Socket } from 'node:net';
import { Observable } from 'rxjs';
import { isSelfConnect } from './tcp/self-connect.js';

/** What the engine needs of a TCP socket: `net.Socket` has all of it; tests pass a fake. */
export interface ProbeSocket {
  readonly localPort?: number | undefined;
  readonly localAddress?: string | undefined;
  /** The far end as the kernel has it once connected (node:net has both). */
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  connect(port: number, host: string): unknown;
  setTimeout(ms: number): unknown;
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

export interface EngineOptions {
  /** Per-try timeout in ms. */
  timeoutMs: number;
  /** Extra tries after a timeout (never after an answer). */
  retries: number;
  /** Sockets open at once, at most (lowered at run time when the process runs out of descriptors). */
  maxSockets: number;
  /** First back-off after a local resource error, doubled for each further one on the same port, up to 1 s. */
  backoffMs?: number;
  /** Local errors on one port before it is given up (default MAX_LOCAL_ERRORS). */
  maxLocalErrors?: number;
  /** Told once, the first time local resource errors lower the number of sockets in flight. */
  onThrottle?: (message: string) => void;
}

/** Errors about this machine, not the target: never a port state (TOOLCHAIN.md "EMFILE storms"). */
const LOCAL_ERRORS = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'ENOBUFS', 'ENOMEM', 'EAGAIN']);
const UNREACHABLE_ERRORS = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);
/**
 * ECONNREFUSED is an RST, or an ICMP port-unreachable: Linux maps both to the same errno for a
 * connecting socket (tcp_v4_err, icmp_err_convert), so a connect scan reports both as closed, as
 * `nmap -sT` does.
 */
const CLOSED_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET']);
/** A socket that connected to itself gets this many fresh sockets before the port is called closed. */
const SELF_CONNECT_TRIES = 4;
const MAX_BACKOFF_MS = 1000;
/** Local errors on one port before it is given up and reported (backed off: about 10 s in all). */
export const MAX_LOCAL_ERRORS = 16;

export interface EngineCounters {
  /** connect() calls, retries included. */
  connects: number;
  selfConnects: number;
  localErrors: number;
}

/**
 * Connect-scan probes sharing one budget of sockets. `probe` classifies a port as open, closed or
 * filtered, or reports the host unreachable; it never turns a local error into a port state.
 */
export class ConnectProber {
  readonly counters: EngineCounters = { connects: 0, selfConnects: 0, localErrors: 0 };
  private capacity: number;
  private inFlight = 0;
  private successesSinceThrottle = 0;
  private throttled = false;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly layer: SocketLayer,
    private readonly options: EngineOptions,
  ) {
    this.capacity = Math.max(1, options.maxSockets);
  }

  /** The current socket budget (lowered by local errors, regained slowly). */
  get socketLimit(): number {
    return this.capacity;
  }

  probe(host: string, port: number): Observable<ProbeOutcome> {
    return new Observable<ProbeOutcome>((subscriber) =>
      this.start(host, port, (outcome) => {
        subscriber.next(outcome);
        subscriber.complete();
      }),
    );
  }

  /**
   * `probe` without rxjs, for the hot path: `done` is called once with the outcome, unless the
   * returned cancel function is called first (which tears the socket down and frees its slot).
   */
  start(host: string, port: number, done: (outcome: ProbeOutcome) => void): () => void {
    let socket: ProbeSocket | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let holdsSlot = false;
    let queued: (() => void) | undefined;
    let finished = false;
    let timeouts = 0;
    let selfConnects = 0;
    let tries = 0;
    let localErrors = 0;

    const release = (): void => {
      if (!holdsSlot) return;
      holdsSlot = false;
      this.inFlight--;
      this.wakeWaiting();
    };
    const finish = (outcome: ProbeOutcome): void => {
      finished = true;
      release();
      done(outcome);
    };

    const attempt = (): void => {
      if (finished) return;
      if (this.inFlight >= this.capacity) {
        queued = attempt;
        this.waiting.push(attempt);
        return;
      }
      queued = undefined;
      holdsSlot = true;
      this.inFlight++;
      tries++;
      this.counters.connects++;
      const started = performance.now();
      const current = this.layer.create();
      socket = current;
      let settled = false;
      const settle = (): boolean => {
        if (settled || finished) return false;
        settled = true;
        socket = undefined;
        return true;
      };
      current.once('connect', () => {
        if (!settle()) return;
        const rtt = round(performance.now() - started);
        const self = isSelfConnect(current, host, port);
        current.resetAndDestroy();
        this.noteUsableSocket();
        if (self) {
          // The kernel picked the destination port as our source port, and with no listener the
          // SYN met itself: a simultaneous open (RFC 793 3.4) to ourselves, not a service.
          this.counters.selfConnects++;
          release();
          if (++selfConnects >= SELF_CONNECT_TRIES) finish({ state: 'closed', tries });
          else attempt();
          return;
        }
        finish({ state: 'open', rtt, tries });
      });
      current.once('timeout', () => {
        if (!settle()) return;
        current.destroy();
        this.noteUsableSocket();
        release();
        if (++timeouts > this.options.retries) finish({ state: 'filtered', tries });
        else attempt();
      });
      current.on('error', (err) => {
        if (!settle()) return;
        current.destroy();
        const code = err.code ?? '';
        if (LOCAL_ERRORS.has(code)) {
          release();
          this.noteLocalError();
          tries--;
          if (localErrors + 1 >= (this.options.maxLocalErrors ?? MAX_LOCAL_ERRORS)) {
            finish({ state: 'error', reason: code, tries });
            return;
          }
          // Per port, not global: a storm of simultaneous EMFILEs should not park every port for a second.
          const delay = Math.min(MAX_BACKOFF_MS, (this.options.backoffMs ?? 10) * 2 ** Math.min(localErrors++, 10));
          timer = setTimeout(() => {
            timer = undefined;
            attempt();
          }, delay);
          return;
        }
        this.noteUsableSocket();
        if (CLOSED_ERRORS.has(code)) {
          finish({ state: 'closed', rtt: round(performance.now() - started), tries });
          return;
        }
        // These may fail inside connect() itself (no route: ENETUNREACH at once), and node reports
        // that on the next tick. Finishing there would start the next connect in the same tick, so
        // a scan where every connect fails at once never left the tick queue: no signal, no I/O,
        // no handle ever freed (#10 item 2). setImmediate lets the event loop turn in between.
        release();
        setImmediate(() => {
          if (finished) return;
          if (UNREACHABLE_ERRORS.has(code)) finish({ state: 'unreachable', reason: code, tries });
          // ETIMEDOUT (the kernel gave up first), EACCES/EPERM (a local firewall): no answer from
          // the port, so it counts as a timed-out try and ends filtered, never open or closed.
          else if (++timeouts > this.options.retries) finish({ state: 'filtered', tries });
          else attempt();
        });
      });
      current.setTimeout(this.options.timeoutMs);
      current.connect(port, host);
    };

    attempt();
    return () => {
      finished = true;
      if (timer) clearTimeout(timer);
      if (queued) {
        const at = this.waiting.indexOf(queued);
        if (at >= 0) this.waiting.splice(at, 1);
      }
      socket?.destroy();
      release();
    };
  }

  private wakeWaiting(): void {
    while (this.inFlight < this.capacity) {
      const next = this.waiting.shift();
      if (!next) return;
      next();
    }
  }

  private noteUsableSocket(): void {
    // Additive increase after a throttle: one more socket per 100 tries that got a socket, up to the cap.
    if (this.capacity < this.options.maxSockets && ++this.successesSinceThrottle >= 100) {
      this.successesSinceThrottle = 0;
      this.capacity++;
      this.wakeWaiting();
    }
  }

  private noteLocalError(): void {
    this.counters.localErrors++;
    this.successesSinceThrottle = 0;
    // Multiplicative decrease to what the process could hold just now.
    const lowered = Math.max(1, Math.floor(Math.min(this.capacity, this.inFlight + 1) * 0.75));
    if (lowered < this.capacity) {
      if (!this.throttled) {
        this.throttled = true;
        this.options.onThrottle?.(`out of local resources, lowering sockets in flight from ${this.capacity} to ${lowered}`);
      }
      this.capacity = lowered;
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
