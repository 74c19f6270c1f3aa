import { Observable } from '../rx.js';
import {
  CLOSED_ERRORS,
  LOCAL_ERRORS,
  GoneHosts,
  LocalErrorRule,
  observeOutcome,
  SELF_CONNECT_TRIES,
  UNREACHABLE_ERRORS,
  outcomeOf,
  type EngineCounters,
  type EngineOptions,
  type PortAnswer,
  type ProbeOutcome,
} from '../tcp-engine.js';
import type { Probe } from '../timing/core.js';
import { MAX_TIMER_MS, systemClock, TimingDriver } from '../timing/driver.js';
import { coreOptions } from '../timing/flags.js';
import { AddressWords, Done, errnoName, NativeEngine, type NativeAddon } from './addon.js';

/** The engine as this prober uses it: NativeEngine, or a test's scripted fake. */
export type ConnectEngine = Pick<NativeEngine, 'submit' | 'cancel' | 'retime' | 'close'>;

/**
 * How long after its own wait ran out the core expires a try the thread has not judged yet: only a
 * backstop for a thread gone silent, so far above any hop measured (10-85 ms on a loaded machine).
 */
export const THREAD_SLACK_MS = 2000;

/** int32 words per connect request (native/tcp.c): token, port, family, timeout ms, 16 address bytes. */
const REQUEST_WORDS = 8;

interface NativePort {
  port: number;
  /** The addon's token of the try in flight (0: none). */
  token: number;
  selfConnects: number;
  localErrors: number;
  /** The answered try's RTT as the thread measured it, for the record. */
  rttMs?: number;
  done(outcome: ProbeOutcome): void;
}

/**
 * ConnectProber's contract on the addon's epoll thread, under the same timing core
 * (lib/timing/core.ts, threadClock): the core decides when each connect is submitted, how long it
 * may wait and whether it is tried again; the thread times each try on its own clock (the core's
 * timeout goes with the request, and a shorter one after it if the estimate shrank: retime), so a
 * completion still crossing to this thread is never taken for a timeout. The thread does the
 * sockets and measures each RTT in C, which feeds the core; the completions feed it as node:net's events do
 * (open/closed: answer; unreachable, a fourth self-connect: error; ETIMEDOUT, EACCES: lost; EMFILE
 * and friends: unsent, up to MAX_LOCAL_ERRORS per port, then the port is an 'error').
 */
export class NativeConnectProber {
  readonly counters: EngineCounters = { connects: 0, selfConnects: 0, localErrors: 0 };
  readonly engineName = 'native';
  readonly timing: TimingDriver<NativePort, PortAnswer>;
  private readonly localErrors: LocalErrorRule;
  private readonly gone = new GoneHosts();
  private readonly address = new AddressWords();

  constructor(
    private readonly engine: ConnectEngine,
    private readonly options: EngineOptions,
  ) {
    this.localErrors = new LocalErrorRule(options, this.counters, 'sockets');
    const timing = coreOptions(options, Math.max(1, options.maxSockets));
    timing.localBackoffMs = options.backoffMs ?? 10;
    timing.threadClock = { slackMs: THREAD_SLACK_MS };
    this.timing = new TimingDriver<NativePort, PortAnswer>(
      timing,
      {
        send: (probe) => this.connect(probe),
        // The backstop, or a retransmission made moot by a late answer: close it on the thread.
        expire: (probe) => this.cancelTry(probe.target.payload),
        timeUp: (probe, timeoutMs) => {
          const { token } = probe.target.payload;
          if (token && timeoutMs < probe.timeoutMs) this.engine.retime(token, timeoutMs);
        },
        settle: (target, verdict) => {
          const outcome = outcomeOf(verdict);
          const { rttMs } = target.payload;
          if ('rtt' in outcome && rttMs !== undefined) outcome.rtt = Math.round(rttMs * 100) / 100;
          target.payload.done(outcome);
        },
      },
      options.clock ?? systemClock,
    );
  }

  static open(addon: NativeAddon, options: EngineOptions): NativeConnectProber {
    return new NativeConnectProber(new NativeEngine(addon, 'tcp', REQUEST_WORDS), options);
  }

  /** The current socket budget (the timing core's window: lowered by local errors and drops). */
  get socketLimit(): number {
    return Math.floor(this.timing.core.stats.window);
  }

  /** Stops the engine thread and the core's timer; call once the scan is over or abandoned. */
  close(): void {
    this.timing.stop();
    this.engine.close();
  }

  /** The host answered unreachable: its ports still waiting for a slot get that answer unsent. */
  hostGone(host: string, reason: string): void {
    this.gone.add(host, reason);
  }

  probe(host: string, port: number): Observable<ProbeOutcome> {
    return observeOutcome((done) => this.start(host, port, done));
  }

  start(host: string, port: number, done: (outcome: ProbeOutcome) => void): () => void {
    const payload: NativePort = { port, token: 0, selfConnects: 0, localErrors: 0, done };
    const target = this.timing.core.add(host, payload, this.timing.now());
    this.timing.kick();
    return () => {
      this.cancelTry(payload);
      this.timing.core.cancel(target, this.timing.now());
      this.timing.kick();
    };
  }

  private cancelTry(payload: NativePort): void {
    if (payload.token) this.engine.cancel(payload.token);
    payload.token = 0;
  }

  private connect(probe: Probe<NativePort>): void {
    const core = this.timing.core;
    const target = probe.target.payload;
    const host = probe.target.host;
    const gone = this.gone.get(host);
    if (gone !== undefined) {
      core.error(probe, this.timing.now(), { state: 'unreachable', reason: gone });
      return;
    }
    this.counters.connects++;
    let valid = true;
    const token = this.engine.submit((words, at) => {
      words[at + 1] = target.port;
      words[at + 3] = Math.min(MAX_TIMER_MS, Math.ceil(probe.timeoutMs));
      valid = this.address.write(host, words, at);
    }, (kind, errno, rttUs) => this.completed(probe, token, kind, errno, rttUs));
    target.token = token;
    // Not an IP address (records are checked before they get here): no try can answer.
    if (!valid) {
      this.cancelTry(target);
      core.error(probe, this.timing.now(), { state: 'unreachable', reason: 'EINVAL' });
    }
  }

  private completed(probe: Probe<NativePort>, token: number, kind: number, errno: number, rttUs: number): void {
    const target = probe.target.payload;
    // A try the core expired (cancelled) or a target already settled: nothing more to say.
    if (target.token !== token) return;
    target.token = 0;
    const core = this.timing.core;
    const now = this.timing.now();
    // The RTT measured in C (connect() to its answer) goes into the record and the core's estimate:
    // the thread judges timeouts on that clock too, so the hop back to this thread (measured 10-85 ms
    // on a loaded machine where C said 14 us) counts nowhere.
    const rttMs = rttUs / 1000;
    switch (kind) {
      case Done.Open:
        target.rttMs = rttMs;
        core.answer(probe, now, { state: 'open' }, rttMs);
        break;
      case Done.Closed:
        target.rttMs = rttMs;
        core.answer(probe, now, { state: 'closed' }, rttMs);
        break;
      case Done.Self:
        // The kernel picked the destination port as our source port and the SYN met itself: a
        // simultaneous open to ourselves, not a service. A fresh socket, not counted as a try.
        this.counters.selfConnects++;
        if (++target.selfConnects >= SELF_CONNECT_TRIES) core.error(probe, now, { state: 'closed' });
        else core.unsent(probe, now, false);
        break;
      case Done.Timeout:
        core.lost(probe, now);
        break;
      default:
        this.failed(probe, errnoName(errno), now, rttUs);
    }
    this.timing.kick();
  }

  private failed(probe: Probe<NativePort>, code: string, now: number, rttUs: number): void {
    const core = this.timing.core;
    if (LOCAL_ERRORS.has(code)) {
      this.localErrors.apply(core, probe, now, code);
      return;
    }
    // Completions come in batches from the thread, never inside submit(): no tick-queue loop to break.
    if (CLOSED_ERRORS.has(code)) core.answer(probe, now, { state: 'closed' }, rttUs / 1000);
    else if (UNREACHABLE_ERRORS.has(code)) core.error(probe, now, { state: 'unreachable', reason: code });
    // ETIMEDOUT (the kernel gave up first), EACCES/EPERM (a local firewall): a try with no answer.
    else core.lost(probe, now);
  }
}
