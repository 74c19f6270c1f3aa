// The ICMP echo engine: one socket per address family shared by every probe in flight, replies
// matched to probes by identifier, sequence and source address. The socket layer is injected, so
// unit tests drive replies, errors and timeouts with a fake and a fake clock.
import { Observable } from 'rxjs';
import { echoRequest, parseIcmp } from './icmp.js';
import { canonicalAddress, type Family } from './targets.js';

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
}

/** Opens a socket for a family; throws (EPERM: "Operation not permitted") when it cannot. */
export type OpenIcmpSocket = (family: Family, handlers: IcmpSocketHandlers) => IcmpSocket;

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface EchoOptions {
  /** How long the first try waits for an answer. */
  timeoutMs: number;
  /** Tries after the first one, when it went unanswered (with count 1 only, as fping's -r). */
  retries: number;
  /** Each retry waits this many times longer than the try before (fping -B, default 1.5). */
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

type Outcome = { kind: 'reply'; rtt: number; ttl?: number } | { kind: 'timeout' } | { kind: 'error'; reason: string };

interface PendingEcho {
  ip: string;
  sequence: number;
  sentAt: number;
  timer?: unknown;
  settle(outcome: Outcome): void;
}

interface FamilySocket {
  socket: IcmpSocket;
  pending: Map<number, PendingEcho>;
  nextSequence: number;
}

// Local conditions worth a retry rather than a verdict: the send buffer was full (sendto(2)).
const TRANSIENT_SEND_ERROR = /temporarily unavailable|no buffer space|EAGAIN|ENOBUFS/i;
/** Sends of one echo the kernel may refuse for a full buffer before the probe fails, and the step between. */
const MAX_SEND_REFUSALS = 20;
const SEND_RETRY_MS = 10;

export interface EngineCounts {
  sent: number;
  replies: number;
  errors: number;
}

export class IcmpEngine {
  readonly counts: EngineCounts = { sent: 0, replies: 0, errors: 0 };
  private readonly sockets = new Map<Family, FamilySocket>();
  private closed = false;

  constructor(
    private readonly openSocket: OpenIcmpSocket,
    /** Our echo identifier: replies and errors carrying another one belong to someone else. */
    readonly identifier: number = Math.floor(Math.random() * 0x10000),
    private readonly clock: Clock = systemClock,
  ) {}

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
   * Probe one address: echo after echo until one answers (count 1, with retries) or `count` were
   * sent. Emits one result and completes; unsubscribing forgets the echo in flight.
   */
  probe(ip: string, family: Family, options: EchoOptions): Observable<EchoResult> {
    return new Observable<EchoResult>((subscriber) => {
      const result: EchoResult = { rtts: [], sent: 0 };
      let echoes = 0;
      let tries = 0;
      let current: PendingEcho | undefined;
      const next = (): void => {
        const waitMs = options.count === 1 ? options.timeoutMs * options.backoff ** tries : options.timeoutMs;
        result.sent++;
        try {
          current = this.send(family, ip, waitMs, settled);
        } catch (err) {
          settled({ kind: 'error', reason: (err as Error).message });
        }
      };
      const settled = (outcome: Outcome): void => {
        current = undefined;
        if (outcome.kind === 'timeout' && options.count === 1 && tries < options.retries) {
          tries++;
          next();
          return;
        }
        echoes++;
        if (outcome.kind === 'reply') {
          result.rtts.push(outcome.rtt);
          if (outcome.ttl !== undefined) result.ttl = outcome.ttl;
        }
        // An ICMP error is an answer: the host (or the way to it) is not there, no use asking again.
        if (outcome.kind === 'error') result.reason = outcome.reason;
        if (echoes >= options.count || outcome.kind === 'error') {
          subscriber.next(result);
          subscriber.complete();
        } else {
          next();
        }
      };
      next();
      return () => {
        if (current) this.forget(family, current);
      };
    });
  }

  close(): void {
    this.closed = true;
    for (const [family, entry] of this.sockets) {
      for (const pending of entry.pending.values()) this.clock.clearTimeout(pending.timer);
      entry.pending.clear();
      entry.socket.close();
      this.sockets.delete(family);
    }
  }

  private send(family: Family, ip: string, waitMs: number, settle: (outcome: Outcome) => void): PendingEcho {
    this.open(family);
    const entry = this.sockets.get(family)!;
    const sequence = this.freeSequence(entry);
    const pending: PendingEcho = { ip, sequence, sentAt: this.clock.now(), settle };
    entry.pending.set(sequence, pending);
    this.counts.sent++;
    const packet = echoRequest(family, this.identifier, sequence);
    let refused = 0;
    const transmit = (): void =>
      entry.socket.send(packet, ip, (err) => {
        if (entry.pending.get(sequence) !== pending) return;
        pending.sentAt = this.clock.now();
        if (err && TRANSIENT_SEND_ERROR.test(err.message) && ++refused <= MAX_SEND_REFUSALS) {
          // The echo never left (the send buffer was full): no try is used up, it goes again
          // shortly (#10 item 20). Capped, so a buffer that never drains ends as a send failure.
          pending.timer = this.clock.setTimeout(transmit, Math.min(SEND_RETRY_MS * refused, waitMs));
          return;
        }
        if (err) {
          this.settle(entry, pending, { kind: 'error', reason: `send failed: ${err.message}` });
          return;
        }
        pending.timer = this.clock.setTimeout(() => this.settle(entry, pending, { kind: 'timeout' }), waitMs);
      });
    transmit();
    return pending;
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

  private settle(entry: FamilySocket, pending: PendingEcho, outcome: Outcome): void {
    entry.pending.delete(pending.sequence);
    this.clock.clearTimeout(pending.timer);
    pending.settle(outcome);
  }

  private forget(family: Family, pending: PendingEcho): void {
    const entry = this.sockets.get(family);
    if (entry?.pending.get(pending.sequence) !== pending) return;
    entry.pending.delete(pending.sequence);
    this.clock.clearTimeout(pending.timer);
  }

  private receive(family: Family, packet: Buffer, source: string): void {
    const entry = this.sockets.get(family);
    const message = entry && parseIcmp(family, packet, source);
    if (!entry || !message || message.identifier !== this.identifier) return;
    const pending = entry.pending.get(message.sequence);
    if (!pending) return;
    if (message.kind === 'reply') {
      const from = family === 4 ? message.source : canonicalAddress(message.source);
      if (from !== pending.ip) return;
      this.counts.replies++;
      const reply: Outcome = { kind: 'reply', rtt: this.clock.now() - pending.sentAt };
      if (message.ttl !== undefined) reply.ttl = message.ttl;
      this.settle(entry, pending, reply);
    } else {
      if (message.target !== pending.ip) return;
      this.counts.errors++;
      this.settle(entry, pending, { kind: 'error', reason: message.reason });
    }
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
    for (const pending of [...entry.pending.values()]) {
      this.settle(entry, pending, { kind: 'error', reason: `socket failed: ${err.message}` });
    }
  }
}
