import { Observable } from '../rx.js';
import { errorReason } from '../icmp.js';
import { tallyEcho, type EchoAnswer, type EchoHandle, type EchoOptions, type EchoResult } from '../icmp-engine.js';
import type { Family } from '../targets.js';
import type { Probe, Target, TimingOptions, Verdict } from '../timing/core.js';
import { MAX_TIMER_MS, systemClock, TimingDriver, type Clock } from '../timing/driver.js';
import { TIMING_DEFAULTS } from '../timing/flags.js';
import { AddressWords, Done, errnoName, loadAddon, NativeEngine, type NativeAddon } from './addon.js';
import { retimeShorter, THREAD_SLACK_MS, type ThreadEngine } from './prober.js';

/** int32 words per echo request (native/icmp.c): token, unused, family, wait ms, 16 address bytes. */
const REQUEST_WORDS = 8;

export type EchoEngine = ThreadEngine;

/** Sends of one echo the kernel may refuse for a full buffer before the probe fails (as IcmpEngine). */
const MAX_SEND_REFUSALS = 20;
const TRANSIENT_SEND_ERRORS = new Set(['EAGAIN', 'ENOBUFS']);

/** A host's echoes on the addon: one object per host carries its state from try to try. */
class NativeEcho implements EchoHandle {
  /** The addon's token of the try in flight (0: none). */
  token = 0;
  refused = 0;
  echoes = 0;
  readonly result: EchoResult = { rtts: [], sent: 0 };
  /** The core's target of the echo under way (undefined between echoes and once done). */
  current: Target<NativeEcho> | undefined = undefined;
  /** The try the token belongs to. */
  probe: Probe<NativeEcho> | undefined = undefined;

  constructor(
    readonly prober: NativeIcmpProber,
    readonly ip: string,
    readonly family: Family,
    readonly count: number,
    readonly done: (result: EchoResult) => void,
  ) {}

  cancel(): void {
    this.prober.cancelEcho(this);
  }
}

/**
 * IcmpEngine's `probe` on the addon's thread, under the same timing core (lib/timing/core.ts,
 * threadClock): the core says when each echo is submitted, how long it is waited for and whether it
 * is sent again; the thread times each echo on its own clock from when it really left (the core's
 * timeout goes with the request, a shorter one after it if the estimate shrank), so a reply still
 * crossing to this thread is never taken for a timeout. The thread sends (sendmmsg), receives
 * (recvmmsg), matches replies and ICMP errors to echoes and times each in C; its completions feed
 * the core: a reply is an answer (C's RTT), an ICMP error an error (the host is settled), a full
 * send buffer an unsent try (capped).
 */
export class NativeIcmpProber {
  readonly counts = { sent: 0, replies: 0, errors: 0 };
  readonly timing: TimingDriver<NativeEcho, EchoAnswer>;
  private readonly address = new AddressWords();

  constructor(
    private readonly engine: EchoEngine,
    /** strerror(3), so a refused send reads as the raw-socket engine's ("send failed: No route to host"). */
    private readonly describe: (errno: number) => string = errnoName,
    timing: Partial<TimingOptions> = {},
    private readonly clock: Clock = systemClock,
  ) {
    const options: TimingOptions = { ...TIMING_DEFAULTS, maxInFlight: 256, ...timing, threadClock: { slackMs: THREAD_SLACK_MS } };
    this.timing = new TimingDriver<NativeEcho, EchoAnswer>(
      options,
      {
        send: (probe) => this.send(probe),
        // The backstop, or a retransmission made moot by a late answer.
        expire: (probe) => this.cancelTry(probe.target.payload),
        timeUp: retimeShorter(engine),
        settle: (target, verdict) => {
          this.cancelTry(target.payload);
          // An answer's rtt is C's already (answer() was given it): the verdict goes as it is.
          this.settled(target.payload, verdict);
        },
      },
      clock,
    );
  }

  /** Opens the raw sockets on a new engine thread; throws EPERM/EACCES without CAP_NET_RAW. */
  static open(addon: NativeAddon, timing: Partial<TimingOptions> = {}): NativeIcmpProber {
    return new NativeIcmpProber(new NativeEngine(addon, 'icmp', REQUEST_WORDS), (errno) => addon.strerror(errno), timing);
  }

  close(): void {
    this.timing.stop();
    this.engine.close();
  }

  /**
   * Probe one address: tries until one answers (count 1: as many as the timing core allows) or
   * `count` echoes of one try each. Emits one result and completes; unsubscribing cancels it.
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

  /**
   * `probe` without an Observable, for a sweep's per-host path (a sweep of 65536 hosts made one
   * Observable, subscriber and closure chain per host): `done` is called once with the result,
   * unless the handle's cancel() comes first.
   */
  start(ip: string, family: Family, count: number, done: (result: EchoResult) => void): EchoHandle {
    const echo = new NativeEcho(this, ip, family, count, done);
    this.next(echo);
    return echo;
  }

  private next(echo: NativeEcho): void {
    echo.current = this.timing.core.add(echo.ip, echo, this.clock.now(), echo.count > 1 ? 1 : undefined);
    this.timing.kick();
  }

  private settled(echo: NativeEcho, verdict: Verdict<EchoAnswer>): void {
    echo.current = undefined;
    if (tallyEcho(echo.result, verdict, ++echo.echoes, echo.count)) echo.done(echo.result);
    else this.next(echo);
  }

  /** The echo's consumer went away: its try is cancelled and the core forgets it. */
  cancelEcho(echo: NativeEcho): void {
    const current = echo.current;
    if (!current) return;
    echo.current = undefined;
    this.cancelTry(echo);
    this.timing.core.cancel(current, this.clock.now());
    this.timing.kick();
  }

  private cancelTry(payload: NativeEcho): void {
    if (payload.token) this.engine.cancel(payload.token);
    payload.token = 0;
    payload.probe = undefined;
  }

  private send(probe: Probe<NativeEcho>): void {
    const echo = probe.target.payload;
    this.counts.sent++;
    this.filling = probe;
    this.filled = false;
    const token: number = this.engine.submit(this.fill, (kind, detail, rttUs) => this.completed(echo, token, kind, detail, rttUs));
    this.filling = undefined;
    echo.token = token;
    echo.probe = probe;
    if (!this.filled) {
      this.cancelTry(echo);
      this.timing.core.error(probe, this.clock.now(), { reason: `not an IP address: ${echo.ip}` });
    }
  }

  /** The try being submitted, for `fill` (one function for every request, not a closure per try). */
  private filling: Probe<NativeEcho> | undefined;
  private filled = false;
  private readonly fill = (words: Int32Array, at: number): void => {
    const probe = this.filling!;
    words[at + 3] = Math.min(MAX_TIMER_MS, Math.ceil(probe.timeoutMs));
    this.filled = this.address.write(probe.target.payload.ip, words, at);
  };

  private completed(echo: NativeEcho, token: number, kind: number, detail: number, rttUs: number): void {
    const probe = echo.probe;
    // A try the core expired (cancelled) or an echo already settled: nothing more to say.
    if (echo.token !== token || !probe) return;
    echo.token = 0;
    echo.probe = undefined;
    const core = this.timing.core;
    const now = this.clock.now();
    if (kind === Done.Reply) {
      this.counts.replies++;
      // C's RTT, from the echo's departure to its reply, for the record and the core alike.
      core.answer(probe, now, detail >= 0 ? { ttl: detail } : {}, rttUs / 1000);
    } else if (kind === Done.IcmpError) {
      this.counts.errors++;
      const type = detail >> 8;
      const code = detail & 0xff;
      core.error(probe, now, { reason: errorReason(echo.family, type, code) ?? `icmp-type-${type}-code-${code}` });
    } else if (kind === Done.Timeout) core.lost(probe, now);
    else if (TRANSIENT_SEND_ERRORS.has(errnoName(detail)) && ++echo.refused <= MAX_SEND_REFUSALS) {
      // The echo never left (the send buffer was full): given back uncounted, and the core pauses.
      core.unsent(probe, now);
    } else core.error(probe, now, { reason: `send failed: ${this.describe(detail)}` });
    this.timing.kick();
  }
}

/**
 * Whether this process can ping through the addon (it loads, and raw sockets open): then every
 * worker thread loads its own instance.
 */
export function nativeIcmpUsable(): boolean {
  const loaded = loadAddon();
  if ('error' in loaded) return false;
  try {
    NativeIcmpProber.open(loaded.addon).close();
    return true;
  } catch {
    return false;
  }
}
