// The SYN scan (`tcpprobe --syn`, `pmap -sS`): the addon's raw-socket backend (native/syn.c) under
// the timing core, as NativeConnectProber runs the connect backend. Without the addon or without
// CAP_NET_RAW it says why once and the scan runs as a connect scan (the same answers, slower).
import { hasNetRaw, readProcStatus } from '../capabilities.js';
import { errorReason } from '../icmp.js';
import { LOCAL_ERRORS, UNREACHABLE_ERRORS, type EngineOptions, type ProbeOutcome, type SocketLayer } from '../tcp-engine.js';
import type { Probe, Verdict } from '../timing/core.js';
import { Done, errnoName, loadAddon, NativeEngine, type NativeAddon } from './addon.js';
import { connectProber, type EngineName, type Prober } from './choose.js';
import { NativePortProber, type NativeTry, type ThreadEngine } from './prober.js';

/** The engine as this prober uses it: NativeEngine, or a test's scripted fake. */
export type SynEngine = ThreadEngine;

/** int32 words per SYN request (native/syn.c), as the connect backend's: token, port, family, timeout ms, address. */
const REQUEST_WORDS = 8;

/** What settles a port: an answer (SYN-ACK, RST), an ICMP error naming why, or a host that is not there. */
type SynAnswer = { state: 'open' | 'closed' } | { state: 'filtered' | 'unreachable' | 'error'; reason: string };

interface SynPort extends NativeTry {
  /** The family of the try in flight, as it went out: its ICMP errors are of that family. */
  family: 4 | 6;
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
 * SYN probes on the addon's thread under one timing core (NativePortProber says how). The thread
 * sends and matches answers by their keyed cookie; SYN-ACK is open, RST closed, silence after the
 * core's tries filtered; send errors follow the connect engine's rules (EMFILE-like: unsent, backed off).
 */
export class SynProber extends NativePortProber<SynPort, SynAnswer> {
  readonly engineName = 'native-syn';

  constructor(engine: SynEngine, options: EngineOptions) {
    super(engine, options, 'SYNs');
  }

  /** Throws the addon's error (EPERM without CAP_NET_RAW) when the raw sockets cannot be opened. */
  static open(addon: NativeAddon, options: EngineOptions): SynProber {
    // addon.ts names the kinds of its own backends; 'syn' is native/syn.c's, registered in engine.c.
    return new SynProber(new NativeEngine(addon, 'syn' as 'tcp', REQUEST_WORDS), options);
  }

  protected newTry(port: number, done: (outcome: ProbeOutcome) => void): SynPort {
    return { port, token: 0, localErrors: 0, family: 4, done };
  }

  protected unreachable(reason: string): SynAnswer {
    return { state: 'unreachable', reason };
  }

  protected outcome(verdict: Verdict<SynAnswer>, rttMs: number | undefined): ProbeOutcome {
    return outcome(verdict, rttMs);
  }

  protected override written(target: SynPort, words: Int32Array, at: number): void {
    // ::ffff:a.b.c.d goes out as IPv4 (native/syn.c), and its ICMP errors are ICMPv4.
    const mapped = words[at + 4] === 0 && words[at + 5] === 0 && words[at + 6] === -65536;
    target.family = words[at + 2] === 6 && !mapped ? 6 : 4;
  }

  protected completed(probe: Probe<SynPort>, kind: number, detail: number, rttUs: number, now: number): void {
    const core = this.timing.core;
    const target = probe.target.payload;
    // The RTT measured in C (the sendmmsg to the answer's arrival) goes into the record and the
    // core's estimate: the thread judges timeouts on that clock too (NativeConnectProber says why).
    switch (kind) {
      case Done.Open:
      case Done.Closed:
        target.rttMs = rttUs / 1000;
        core.answer(probe, now, { state: kind === Done.Open ? 'open' : 'closed' }, target.rttMs);
        break;
      case Done.IcmpError:
        core.error(probe, now, icmpAnswer(target.family, detail));
        break;
      case Done.Timeout:
        core.lost(probe, now);
        break;
      default:
        this.failed(probe, errnoName(detail), now);
    }
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
 * Whether a SYN scan can run in this process (the addon loads, CAP_NET_RAW is effective), asked
 * before any probe starts: pmap's -oX names the scan type in its header, and -m proc and -m thread
 * decide in their shards. Where /proc cannot say, the probes find out (and the type says syn).
 */
export function synScanPossible(status = readProcStatus()): boolean {
  return !('error' in loadAddon()) && hasNetRaw('CapEff', status) !== false;
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
