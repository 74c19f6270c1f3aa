// What the addon's two port probers share (NativeConnectProber in tcp.ts, SynProber in syn.ts): one
// timing core on the thread's clock, the engine's tokens, hosts found gone, the request's common words.
// Each says only what its completions mean.
import { Observable } from '../rx.js';
import { GoneHosts, LocalErrorRule, observeOutcome, type EngineCounters, type EngineOptions, type ProbeOutcome } from '../tcp-engine.js';
import type { Probe, Verdict } from '../timing/core.js';
import { MAX_TIMER_MS, systemClock, TimingDriver } from '../timing/driver.js';
import { coreOptions } from '../timing/flags.js';
import { AddressWords, type NativeEngine } from './addon.js';

/**
 * How long after its own wait ran out the core expires a try the thread has not judged yet: only a
 * backstop for a thread gone silent, so far above any hop measured (10-85 ms on a loaded machine).
 */
export const THREAD_SLACK_MS = 2000;

/** The engine as a prober uses it: NativeEngine, or a test's scripted fake. */
export type ThreadEngine = Pick<NativeEngine, 'submit' | 'cancel' | 'retime' | 'close'>;

/**
 * The core's timeUp under threadClock (lib/timing/core.ts): the thread already times each try with
 * the wait it left with, so only a shorter wait (the estimate shrank since) is sent after it.
 */
export function retimeShorter(engine: Pick<ThreadEngine, 'retime'>): (probe: Probe<{ token: number | undefined }>, timeoutMs: number) => void {
  return (probe, timeoutMs) => {
    const { token } = probe.target.payload;
    if (token && timeoutMs < probe.timeoutMs) engine.retime(token, timeoutMs);
  };
}

/** A port's state between tries: the token of the try in flight (0: none) and what the rules count. */
export interface NativeTry {
  port: number;
  token: number;
  localErrors: number;
  /** The answered try's RTT as the thread measured it, for the record. */
  rttMs?: number;
  done(outcome: ProbeOutcome): void;
}

/**
 * Ports probed on the addon's thread under one timing core (lib/timing/core.ts, threadClock): the
 * core decides when each try is submitted, how long it may wait and whether it is tried again; the
 * thread times each try on its own clock (the core's wait goes with the request, and a shorter one
 * after it if the estimate shrank: retime), so a completion still crossing to this thread is never
 * taken for a timeout, and the RTT it measures in C feeds the core.
 */
export abstract class NativePortProber<P extends NativeTry, A> {
  readonly counters: EngineCounters = { connects: 0, selfConnects: 0, localErrors: 0 };
  abstract readonly engineName: string;
  readonly timing: TimingDriver<P, A>;
  protected readonly localErrors: LocalErrorRule;
  private readonly gone = new GoneHosts();
  private readonly address = new AddressWords();

  /** `inFlight` names what the window counts in the local-error notice ("sockets", "SYNs"). */
  constructor(
    protected readonly engine: ThreadEngine,
    options: EngineOptions,
    inFlight: string,
  ) {
    this.localErrors = new LocalErrorRule(options, this.counters, inFlight);
    const timing = coreOptions(options, Math.max(1, options.maxSockets));
    timing.localBackoffMs = options.backoffMs ?? 10;
    timing.threadClock = { slackMs: THREAD_SLACK_MS };
    this.timing = new TimingDriver<P, A>(
      timing,
      {
        send: (probe) => this.send(probe),
        // The backstop, or a retransmission made moot by a late answer: forget it on the thread.
        expire: (probe) => this.cancelTry(probe.target.payload),
        timeUp: retimeShorter(engine),
        settle: (target, verdict) => target.payload.done(this.outcome(verdict, target.payload.rttMs)),
      },
      options.clock ?? systemClock,
    );
  }

  /** A new port's state. */
  protected abstract newTry(port: number, done: (outcome: ProbeOutcome) => void): P;
  /** The answer the core keeps for an unreachable host (a host found gone, a word that is no address). */
  protected abstract unreachable(reason: string): A;
  /** The record's outcome of the core's verdict; `rttMs` is the thread's, of the answered try. */
  protected abstract outcome(verdict: Verdict<A>, rttMs: number | undefined): ProbeOutcome;
  /** What the thread said of the try in flight (a completion of native/engine.h), told to the core. */
  protected abstract completed(probe: Probe<P>, kind: number, detail: number, rttUs: number, now: number): void;
  /** Words of the request beyond the common ones (token, port, family, timeout, address). */
  protected written(_payload: P, _words: Int32Array, _at: number): void {}

  /** The current in-flight budget (the timing core's window: lowered by local errors and drops). */
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

  /** `probe` without rxjs: `done` is called once, unless the returned cancel function is called first. */
  start(host: string, port: number, done: (outcome: ProbeOutcome) => void): () => void {
    const payload = this.newTry(port, done);
    const target = this.timing.core.add(host, payload, this.timing.now());
    this.timing.kick();
    return () => {
      this.cancelTry(payload);
      this.timing.core.cancel(target, this.timing.now());
      this.timing.kick();
    };
  }

  private cancelTry(payload: P): void {
    if (payload.token) this.engine.cancel(payload.token);
    payload.token = 0;
  }

  private send(probe: Probe<P>): void {
    const core = this.timing.core;
    const target = probe.target.payload;
    const host = probe.target.host;
    const gone = this.gone.get(host);
    if (gone !== undefined) {
      core.error(probe, this.timing.now(), this.unreachable(gone));
      return;
    }
    this.counters.connects++;
    let valid = true;
    const token = this.engine.submit(
      (words, at) => {
        words[at + 1] = target.port;
        words[at + 3] = Math.min(MAX_TIMER_MS, Math.ceil(probe.timeoutMs));
        valid = this.address.write(host, words, at);
        this.written(target, words, at);
      },
      (kind, detail, rttUs) => {
        // A try the core expired (cancelled) or a target already settled: nothing more to say.
        if (target.token !== token) return;
        target.token = 0;
        this.completed(probe, kind, detail, rttUs, this.timing.now());
        this.timing.kick();
      },
    );
    target.token = token;
    // Not an IP address (records are checked before they get here): no try can answer.
    if (!valid) {
      this.cancelTry(target);
      core.error(probe, this.timing.now(), this.unreachable('EINVAL'));
    }
  }
}
