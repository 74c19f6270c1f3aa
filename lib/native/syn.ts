// The SYN scan (`tcpprobe --syn`, `pmap -sS`): the addon's raw-socket backend (native/syn.c) under
// the timing core, as NativeConnectProber runs the connect backend. Without the addon or without
// CAP_NET_RAW it says why once and the scan runs as a connect scan (the same answers, slower).
import { Observable } from '../rx.js';
import { errorReason } from '../icmp.js';
import {
  GoneHosts,
  LOCAL_ERRORS,
  LocalErrorRule,
  observeOutcome,
  UNREACHABLE_ERRORS,
  type EngineCounters,
  type EngineOptions,
  type ProbeOutcome,
  type SocketLayer,
} from '../tcp-engine.js';
import type { Probe, Verdict } from '../timing/core.js';
import { MAX_TIMER_MS, systemClock, TimingDriver } from '../timing/driver.js';
import { coreOptions } from '../timing/flags.js';
import { AddressWords, Done, errnoName, loadAddon, NativeEngine, type NativeAddon } from './addon.js';
import { connectProber, type EngineName, type Prober } from './choose.js';
import { THREAD_SLACK_MS } from './tcp.js';

/** The engine as this prober uses it: NativeEngine, or a test's scripted fake. */
export type SynEngine = Pick<NativeEngine, 'submit' | 'cancel' | 'retime' | 'close'>;

/** int32 words per SYN request (native/syn.c), as the connect backend's: token, port, family, timeout ms, address. */
const REQUEST_WORDS = 8;

/** What settles a port: an answer (SYN-ACK, RST), an ICMP error naming why, or a host that is not there. */
type SynAnswer = { state: 'open' | 'closed' } | { state: 'filtered' | 'unreachable' | 'error'; reason: string };

interface SynPort {
  port: number;
  /** The addon's token of the try in flight (0: none). */
  token: number;
  localErrors: number;
  /** The answered try's RTT as the thread measured it, for the record. */
  rttMs?: number;
  done(outcome: ProbeOutcome): void;
}

const ICMP_DEST_UNREACHABLE = 3;
const ICMP6_DEST_UNREACHABLE = 1;

/**
 * What an ICMP destination-unreachable about a SYN says (detail: type << 8 | code). A port
 * unreachable is `filtered`, as nmap -sS calls it (a connect scan cannot tell it from an RST).
 * Network unreachable settles the host, and every other code (host unreachable, prohibited) is
 * EHOSTUNREACH, judged by the kernel's neighbour table as a connect's EHOSTUNREACH is (lib/discovery/
 * host-evidence.ts): so both scans give the same records for these.
 */
export function icmpAnswer(family: 4 | 6, detail: number): SynAnswer {
  const type = detail >> 8;
  const code = detail & 0xff;
  const portUnreachable = family === 4 ? type === ICMP_DEST_UNREACHABLE && code === 3 : type === ICMP6_DEST_UNREACHABLE && code === 4;
  if (portUnreachable) return { state: 'filtered', reason: errorReason(family, type, code) ?? 'port-unreachable' };
  // RFC 792 codes 0, 6, 9, 11; RFC 4443 code 0 (no route): the kernel's ENETUNREACH (icmp_err_convert).
  const network = family === 4 ? [0, 6, 9, 11].includes(code) : code === 0;
  return { state: 'unreachable', reason: network ? 'ENETUNREACH' : 'EHOSTUNREACH' };
}

function outcome(verdict: Verdict<SynAnswer>, rttMs: number | undefined): ProbeOutcome {
  const { tries } = verdict;
  if (verdict.kind === 'silent') return { state: 'filtered', tries };
  const data = verdict.data;
  if (data.state === 'unreachable' || data.state === 'error') return { state: data.state, reason: data.reason, tries: data.state === 'error' ? Math.max(0, tries - 1) : tries };
  if (data.state === 'filtered') return { state: 'filtered', reason: data.reason, tries };
  if (verdict.kind !== 'answer') return { state: data.state, tries };
  return { state: data.state, rtt: Math.round((rttMs ?? verdict.rtt) * 100) / 100, tries };
}

/**
 * SYN probes under one timing core (threadClock, as NativeConnectProber): the core decides when each
 * SYN is submitted, how long it may wait and whether it is tried again; the thread times each try on
 * its own clock (the wait goes with the request, a shorter one after it if the estimate shrank:
 * retime) and measures each RTT, which feeds the core, so an answer still crossing to this thread is
 * never taken for silence. The thread sends and matches answers by their keyed cookie; SYN-ACK is
 * open, RST closed, silence after the core's tries filtered; send errors follow the connect engine's
 * rules (EMFILE-like: unsent, backed off).
 */
export class SynProber {
  readonly counters: EngineCounters = { connects: 0, selfConnects: 0, localErrors: 0 };
  readonly engineName = 'native-syn';
  readonly timing: TimingDriver<SynPort, SynAnswer>;
  private readonly localErrors: LocalErrorRule;
  private readonly gone = new GoneHosts();
  private readonly address = new AddressWords();

  constructor(
    private readonly engine: SynEngine,
    private readonly options: EngineOptions,
  ) {
    this.localErrors = new LocalErrorRule(options, this.counters, 'SYNs');
    const timing = coreOptions(options, Math.max(1, options.maxSockets));
    timing.localBackoffMs = options.backoffMs ?? 10;
    timing.threadClock = { slackMs: THREAD_SLACK_MS };
    this.timing = new TimingDriver<SynPort, SynAnswer>(
      timing,
      {
        send: (probe) => this.send(probe),
        // The backstop, or a retransmission made moot by a late answer: forget it on the thread.
        expire: (probe) => this.cancelTry(probe.target.payload),
        timeUp: (probe, timeoutMs) => {
          const { token } = probe.target.payload;
          if (token && timeoutMs < probe.timeoutMs) this.engine.retime(token, timeoutMs);
        },
        settle: (target, verdict) => target.payload.done(outcome(verdict, target.payload.rttMs)),
      },
      options.clock ?? systemClock,
    );
  }

  /** Throws the addon's error (EPERM without CAP_NET_RAW) when the raw sockets cannot be opened. */
  static open(addon: NativeAddon, options: EngineOptions): SynProber {
    // addon.ts names the kinds of its own backends; 'syn' is native/syn.c's, registered in engine.c.
    return new SynProber(new NativeEngine(addon, 'syn' as 'tcp', REQUEST_WORDS), options);
  }

  /** The current in-flight budget (the timing core's window: lowered by local errors and drops). */
  get socketLimit(): number {
    return Math.floor(this.timing.core.stats.window);
  }

  /** Stops the engine thread and the core's timer; call once the scan is over or abandoned. */
  close(): void {
    this.timing.stop();
    this.engine.close();
  }

  hostGone(host: string, reason: string): void {
    this.gone.add(host, reason);
  }

  probe(host: string, port: number): Observable<ProbeOutcome> {
    return observeOutcome((done) => this.start(host, port, done));
  }

  start(host: string, port: number, done: (outcome: ProbeOutcome) => void): () => void {
    const payload: SynPort = { port, token: 0, localErrors: 0, done };
    const target = this.timing.core.add(host, payload, this.timing.now());
    this.timing.kick();
    return () => {
      this.cancelTry(payload);
      this.timing.core.cancel(target, this.timing.now());
      this.timing.kick();
    };
  }

  private cancelTry(payload: SynPort): void {
    if (payload.token) this.engine.cancel(payload.token);
    payload.token = 0;
  }

  private send(probe: Probe<SynPort>): void {
    const core = this.timing.core;
    const target = probe.target.payload;
    const host = probe.target.host;
    const gone = this.gone.get(host);
    if (gone !== undefined) {
      core.error(probe, this.timing.now(), { state: 'unreachable', reason: gone });
      return;
    }
    this.counters.connects++;
    let family: 4 | 6 = 4;
    let valid = true;
    const token = this.engine.submit(
      (words, at) => {
        words[at + 1] = target.port;
        words[at + 3] = Math.min(MAX_TIMER_MS, Math.ceil(probe.timeoutMs));
        valid = this.address.write(host, words, at);
        // ::ffff:a.b.c.d goes out as IPv4 (native/syn.c), and its ICMP errors are ICMPv4.
        const mapped = words[at + 4] === 0 && words[at + 5] === 0 && words[at + 6] === -65536;
        family = words[at + 2] === 6 && !mapped ? 6 : 4;
      },
      (kind, detail, rttUs) => this.completed(probe, token, family, kind, detail, rttUs),
    );
    target.token = token;
    // Not an IP address (records are checked before they get here): no try can answer.
    if (!valid) {
      this.cancelTry(target);
      core.error(probe, this.timing.now(), { state: 'unreachable', reason: 'EINVAL' });
    }
  }

  private completed(probe: Probe<SynPort>, token: number, family: 4 | 6, kind: number, detail: number, rttUs: number): void {
    const target = probe.target.payload;
    // A try the core expired (cancelled) or a target already settled: nothing more to say.
    if (target.token !== token) return;
    target.token = 0;
    const core = this.timing.core;
    const now = this.timing.now();
    // The RTT measured in C (the sendmmsg to the answer's arrival) goes into the record and the
    // core's estimate: the thread judges timeouts on that clock too (lib/native/tcp.ts says why).
    switch (kind) {
      case Done.Open:
      case Done.Closed:
        target.rttMs = rttUs / 1000;
        core.answer(probe, now, { state: kind === Done.Open ? 'open' : 'closed' }, target.rttMs);
        break;
      case Done.IcmpError:
        core.error(probe, now, icmpAnswer(family, detail));
        break;
      case Done.Timeout:
        core.lost(probe, now);
        break;
      default:
        this.failed(probe, errnoName(detail), now);
    }
    this.timing.kick();
  }

  private failed(probe: Probe<SynPort>, code: string, now: number): void {
    const core = this.timing.core;
    if (LOCAL_ERRORS.has(code)) {
      this.localErrors.apply(core, probe, now, code);
      return;
    }
    if (UNREACHABLE_ERRORS.has(code)) core.error(probe, now, { state: 'unreachable', reason: code });
    // EACCES/EPERM (a local firewall), EAFNOSUPPORT (no IPv6 here): a try with no answer.
    else core.lost(probe, now);
  }
}

/**
 * The prober of a `--syn` scan and the line naming it for -v; when the SYN backend cannot run, the
 * connect prober `choice` picks (lib/native/choose.ts) and `fallback`, the reason to say once.
 */
export function synProber(choice: EngineName | undefined, options: EngineOptions, layer?: SocketLayer): { prober: Prober; said: string; fallback?: string } {
  let why: string;
  const loaded = layer === undefined ? loadAddon() : { error: 'a test socket layer was given' };
  if ('error' in loaded) why = loaded.error;
  else {
    try {
      return { prober: SynProber.open(loaded.addon, options), said: 'engine: native syn (the addon, raw TCP sockets on an epoll thread)' };
    } catch (err) {
      const error = err as NodeJS.ErrnoException;
      why = error.code === 'EPERM' || error.code === 'EACCES' ? `raw sockets need root or CAP_NET_RAW (${error.message})` : `the SYN engine did not start (${error.message})`;
    }
  }
  return { ...connectProber(choice, options, layer), fallback: `--syn: ${why}; running a connect scan instead` };
}
