// The ICMP echo engine: one socket per address family shared by every probe in flight, replies
// matched to probes by identifier, sequence and source address. The socket layer is injected, so
// unit tests drive replies, errors and timeouts with a fake and a fake clock.
import { Observable } from './rx.js';
import { echoRequest, parseIcmp } from './icmp.js';
import { canonicalAddress, type Family } from './targets.js';
import type { Probe, Target, TimingOptions, Verdict } from './timing/core.js';
import { systemClock, TimingDriver, type Clock } from './timing/driver.js';
import { TIMING_DEFAULTS } from './timing/flags.js';

export interface IcmpSocketHandlers {
  /** A packet as the socket delivered it (IPv4: with its IP header) and who sent it. */
  message(packet: Buffer, source: string): void;
  /** The socket failed and is closed. */
  error(err: Error): void;
}

export interface IcmpSocket {
  /** Queue a packet; `sent` runs once the kernel took it (null) or refused it. */
  send(packet: Buffer, address: string, sent: (err: Error | null) => void): void;
  close(): void;
  /** The last read stopped at its cap, not at an empty socket: packets may still be waiting. */
  backlog?(): boolean;
}

/** Opens a socket for a family; throws (EPERM: "Operation not permitted") when it cannot. */
export type OpenIcmpSocket = (family: Family, handlers: IcmpSocketHandlers) => IcmpSocket;

export { systemClock, type Clock } from './timing/driver.js';

export interface EchoOptions {
  /** How long the first try waits for an answer (the raw engine: only until the first RTT sample). */
  timeoutMs: number;
  /** Tries after the first one at most, when it went unanswered (with count 1 only, as fping's -r). */
  retries: number;
  /** The system-ping fallback only: each retry waits this many times longer (fping -B, default 1.5). */
  backoff: number;
  /** Echoes sent one after another; above 1 there are no retries and the record gets loss stats. */
  count: number;
}

/** The default retry backoff factor: fping's -B default. */
export const DEFAULT_BACKOFF = 1.5;

export interface EchoResult {
  /** Round trip times (ms) of the echoes answered. */
  rtts: number[];
  /** Echo requests sent, retries included. */
  sent: number;
  ttl?: number;
  /** Why the host is taken for not alive when something said so (an ICMP error, a send failure). */
  reason?: string;
}

/** A host's echoes under way, from a prober's start(): cancel() drops them (no result is given then). */
export interface EchoHandle {
  cancel(): void;
}

/** What an echo in flight needs: its family and address, and the sequences its tries used. */
interface EchoTarget {
  family: Family;
  ip: string;
  sequences: number[];
  /** Sends the kernel refused for a full buffer (ENOBUFS, EAGAIN): tries given back, capped. */
  refused: number;
  done(verdict: Verdict<EchoAnswer>): void;
}

/** What an echo's answer carries, whichever backend sent it. */
export interface EchoAnswer {
  ttl?: number;
  reason?: string;
}

/**
 * Adds one echo's verdict to `result`; true when the probe is over (`count` echoes, or an ICMP
 * error: the host or the way to it is not there, no use asking again). Shared by every backend.
 */
export function tallyEcho(result: EchoResult, verdict: Verdict<EchoAnswer>, echoes: number, count: number): boolean {
  result.sent += verdict.tries;
  if (verdict.kind === 'answer') {
    result.rtts.push(verdict.rtt);
    if (verdict.data.ttl !== undefined) result.ttl = verdict.data.ttl;
  }
  if (verdict.kind === 'error') result.reason = verdict.data.reason ?? 'error';
  return echoes >= count || verdict.kind === 'error';
}

type EchoProbe = Probe<EchoTarget>;

interface FamilySocket {
  socket: IcmpSocket;
  pending: Map<number, EchoProbe>;
  nextSequence: number;
}

// Local conditions worth a retry rather than a verdict: the send buffer was full (sendto(2)).
const TRANSIENT_SEND_ERROR = /temporarily unavailable|no buffer space|EAGAIN|ENOBUFS/i;
/** Sends of one echo the kernel may refuse for a full buffer before the probe fails. */
const MAX_SEND_REFUSALS = 20;

export interface EngineCounts {
  sent: number;
  replies: number;
  errors: number;
}

/**
 * ICMP echo under the timing core: the core says when to send a try and how long to wait for it
 * (lib/timing/core.ts); this class only puts echoes on the wire and matches what comes back.
 */
export class IcmpEngine {
  readonly counts: EngineCounts = { sent: 0, replies: 0, errors: 0 };
  readonly timing: TimingDriver<EchoTarget, EchoAnswer>;
  private readonly sockets = new Map<Family, FamilySocket>();
  private closed = false;

  constructor(
    private readonly openSocket: OpenIcmpSocket,
    /** Our echo identifier: replies and errors carrying another one belong to someone else. */
    readonly identifier: number = Math.floor(Math.random() * 0x10000),
    private readonly clock: Clock = systemClock,
    timing: Partial<TimingOptions> = {},
  ) {
    const options: TimingOptions = { ...TIMING_DEFAULTS, maxInFlight: 256, ...timing, awaitDeparture: true };
    this.timing = new TimingDriver<EchoTarget, EchoAnswer>(
      options,
      {
        send: (probe) => this.send(probe),
        // A reply to the try that just timed out still counts until the host is settled, so its
        // sequence stays known; older ones are let go (two per host keep -n 30000 within 16 bits).
        expire: (probe) => {
          const { family, sequences } = probe.target.payload;
          while (sequences.length > 1) this.forget(family, sequences.shift()!);
        },
        settle: (target, verdict) => {
          for (const sequence of target.payload.sequences) this.forget(target.payload.family, sequence);
          target.payload.done(verdict);
        },
      },
      clock,
      // Before a try is judged lost the driver lets the loop poll (lib/timing/driver.ts); a socket
      // reads at most 256 packets a turn, so after a hold-up with more waiting it waits for the rest.
      () => [...this.sockets.values()].some((entry) => entry.socket.backlog?.() ?? false),
    );
  }

  /** The socket of a family, opened on first use; throws what opening throws (EPERM without privilege). */
  open(family: Family): void {
    if (this.closed) throw new Error('the ICMP engine is closed');
    if (this.sockets.has(family)) return;
    // The handlers belong to this socket, not to the family: once it failed and a new one took
    // its place, a late packet or error from the old one must not touch the new one's echoes.
    const entry = { pending: new Map(), nextSequence: 0 } as Omit<FamilySocket, 'socket'> & { socket?: IcmpSocket };
    entry.socket = this.openSocket(family, {
      message: (packet, source) => {
        if (this.sockets.get(family) === entry) this.receive(family, packet, source);
      },
      error: (err) => {
        if (this.sockets.get(family) === entry) this.fail(family, err);
      },
    });
    this.sockets.set(family, entry as FamilySocket);
  }

  /**
   * Probe one address: tries until one answers (count 1: as many as the timing core allows) or
   * `count` echoes of one try each. Emits one result and completes; unsubscribing forgets it.
   */
  probe(ip: string, family: Family, options: Pick<EchoOptions, 'count'>): Observable<EchoResult> {
    return new Observable<EchoResult>((subscriber) => {
      const echo = this.start(ip, family, options.count, (result) => {
        subscriber.next(result);
        subscriber.complete();
      });
      return () => echo.cancel();
    });
  }

  /** `probe` without an Observable (a sweep's per-host path): `done` once, unless cancel() comes first. */
  start(ip: string, family: Family, count: number, done: (result: EchoResult) => void): EchoHandle {
    const result: EchoResult = { rtts: [], sent: 0 };
    let echoes = 0;
    let current: Target<EchoTarget> | undefined;
    const next = (): void => {
      try {
        this.open(family);
      } catch (err) {
        result.sent++;
        return settled({ kind: 'error', tries: 1, data: { reason: (err as Error).message } });
      }
      const payload: EchoTarget = { family, ip, sequences: [], refused: 0, done: settled };
      current = this.timing.core.add(ip, payload, this.clock.now(), count > 1 ? 1 : undefined);
      this.timing.kick();
    };
    const settled = (verdict: Verdict<EchoAnswer>): void => {
      current = undefined;
      if (tallyEcho(result, verdict, ++echoes, count)) done(result);
      else next();
    };
    next();
    return {
      cancel: () => {
        if (!current) return;
        const target = current;
        current = undefined;
        for (const sequence of target.payload.sequences) this.forget(family, sequence);
        this.timing.core.cancel(target, this.clock.now());
        this.timing.kick();
      },
    };
  }

  close(): void {
    this.closed = true;
    this.timing.stop();
    for (const [family, entry] of this.sockets) {
      entry.pending.clear();
      entry.socket.close();
      this.sockets.delete(family);
    }
  }

  private send(probe: EchoProbe): void {
    const { family, ip } = probe.target.payload;
    const entry = this.sockets.get(family);
    if (!entry) {
      this.timing.core.error(probe, this.clock.now(), { reason: 'socket closed' });
      return;
    }
    let sequence: number;
    try {
      sequence = this.freeSequence(entry);
    } catch (err) {
      this.timing.core.error(probe, this.clock.now(), { reason: (err as Error).message });
      return;
    }
    entry.pending.set(sequence, probe);
    probe.target.payload.sequences.push(sequence);
    this.counts.sent++;
    entry.socket.send(echoRequest(family, this.identifier, sequence), ip, (err) => {
      if (entry.pending.get(sequence) !== probe) return;
      if (!err) {
        this.timing.core.departed(probe, this.clock.now());
        return this.timing.kick();
      }
      if (TRANSIENT_SEND_ERROR.test(err.message) && ++probe.target.payload.refused <= MAX_SEND_REFUSALS) {
        // The echo never left (the send buffer was full): the core gives the try back uncounted
        // and pauses (#10 item 20). Capped, so a buffer that never drains ends as a send failure.
        entry.pending.delete(sequence);
        this.timing.core.unsent(probe, this.clock.now());
      } else this.timing.core.error(probe, this.clock.now(), { reason: `send failed: ${err.message}` });
      this.timing.kick();
    });
  }

  /**
   * A 16-bit sequence number no echo in flight holds. Sequences wrap after 65536 echoes, but a late
   * reply to a reused number still has to come from the right address to count.
   */
  private freeSequence(entry: FamilySocket): number {
    for (let tried = 0; tried < 0x10000; tried++) {
      const sequence = entry.nextSequence;
      entry.nextSequence = (sequence + 1) & 0xffff;
      if (!entry.pending.has(sequence)) return sequence;
    }
    throw new Error('more than 65536 echo requests in flight');
  }

  private forget(family: Family, sequence: number): void {
    this.sockets.get(family)?.pending.delete(sequence);
  }

  private receive(family: Family, packet: Buffer, source: string): void {
    const entry = this.sockets.get(family);
    const message = entry && parseIcmp(family, packet, source);
    if (!entry || !message || message.identifier !== this.identifier) return;
    const probe = entry.pending.get(message.sequence);
    if (!probe) return;
    const { ip } = probe.target.payload;
    const now = this.clock.now();
    if (message.kind === 'reply') {
      const from = family === 4 ? message.source : canonicalAddress(message.source);
      if (from !== ip) return;
      this.counts.replies++;
      this.timing.core.answer(probe, now, message.ttl === undefined ? {} : { ttl: message.ttl });
    } else {
      if (message.target !== ip) return;
      this.counts.errors++;
      this.timing.core.error(probe, now, { reason: message.reason });
    }
    this.timing.kick();
  }

  /** The socket failed: every echo in flight on it gets the error; the next probe reopens it. */
  private fail(family: Family, err: Error): void {
    const entry = this.sockets.get(family);
    if (!entry) return;
    this.sockets.delete(family);
    try {
      entry.socket.close();
    } catch {
      // already closed by its failure
    }
    const now = this.clock.now();
    for (const probe of [...entry.pending.values()]) {
      this.timing.core.error(probe, now, { reason: `socket failed: ${err.message}` });
    }
    this.timing.kick();
  }
}
