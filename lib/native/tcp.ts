import {
  CLOSED_ERRORS,
  LOCAL_ERRORS,
  SELF_CONNECT_TRIES,
  UNREACHABLE_ERRORS,
  outcomeOf,
  type EngineOptions,
  type PortAnswer,
  type ProbeOutcome,
} from '../tcp-engine.js';
import type { Probe, Verdict } from '../timing/core.js';
import { Done, errnoName, NativeEngine, type NativeAddon } from './addon.js';
import { NativePortProber, type NativeTry, type ThreadEngine } from './prober.js';

export { THREAD_SLACK_MS } from './prober.js';

/** The engine as this prober uses it: NativeEngine, or a test's scripted fake. */
export type ConnectEngine = ThreadEngine;

/** int32 words per connect request (native/tcp.c): token, port, family, timeout ms, 16 address bytes. */
const REQUEST_WORDS = 8;

interface NativePort extends NativeTry {
  selfConnects: number;
}

/**
 * ConnectProber's contract on the addon's epoll thread, under the same timing core (NativePortProber
 * says how): the thread does the sockets and measures each RTT in C; the completions feed the core
 * as node:net's events do (open/closed: answer; unreachable, a fourth self-connect: error;
 * ETIMEDOUT, EACCES: lost; EMFILE and friends: unsent, up to MAX_LOCAL_ERRORS per port, then the
 * port is an 'error').
 */
export class NativeConnectProber extends NativePortProber<NativePort, PortAnswer> {
  readonly engineName = 'native';

  constructor(engine: ConnectEngine, options: EngineOptions) {
    super(engine, options, 'sockets');
  }

  static open(addon: NativeAddon, options: EngineOptions): NativeConnectProber {
    return new NativeConnectProber(new NativeEngine(addon, 'tcp', REQUEST_WORDS), options);
  }

  protected newTry(port: number, done: (outcome: ProbeOutcome) => void): NativePort {
    return { port, token: 0, selfConnects: 0, localErrors: 0, done };
  }

  protected unreachable(reason: string): PortAnswer {
    return { state: 'unreachable', reason };
  }

  protected outcome(verdict: Verdict<PortAnswer>, rttMs: number | undefined): ProbeOutcome {
    const outcome = outcomeOf(verdict);
    if ('rtt' in outcome && rttMs !== undefined) outcome.rtt = Math.round(rttMs * 100) / 100;
    return outcome;
  }

  protected completed(probe: Probe<NativePort>, kind: number, errno: number, rttUs: number, now: number): void {
    const core = this.timing.core;
    const target = probe.target.payload;
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
