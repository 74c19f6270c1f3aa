import { Observable } from 'rxjs';
import { errorReason } from '../icmp.js';
import type { EchoOptions, EchoResult } from '../icmp-engine.js';
import type { Family } from '../targets.js';
import { AddressWords, Done, errnoName, loadAddon, NativeEngine, type NativeAddon } from './addon.js';

/** int32 words per echo request (native/icmp.c): token, unused, family, wait ms, 16 address bytes. */
const REQUEST_WORDS = 8;

export type EchoEngine = Pick<NativeEngine, 'submit' | 'cancel' | 'close'>;


/**
 * IcmpEngine's `probe` on the addon's thread: the thread sends (sendmmsg), receives (recvmmsg),
 * matches replies and ICMP errors to echoes and times each wait; this class keeps the per-host
 * decisions (retries with fping's backoff, -c echoes, an ICMP error ends the host).
 */
export class NativeIcmpProber {
  readonly counts = { sent: 0, replies: 0, errors: 0 };
  private readonly address = new AddressWords();

  constructor(
    private readonly engine: EchoEngine,
    /** strerror(3), so a refused send reads as the raw-socket engine's ("send failed: No route to host"). */
    private readonly describe: (errno: number) => string = errnoName,
  ) {}

  /** Opens the raw sockets on a new engine thread; throws EPERM/EACCES without CAP_NET_RAW. */
  static open(addon: NativeAddon): NativeIcmpProber {
    return new NativeIcmpProber(new NativeEngine(addon, 'icmp', REQUEST_WORDS), (errno) => addon.strerror(errno));
  }

  close(): void {
    this.engine.close();
  }

  probe(ip: string, family: Family, options: EchoOptions): Observable<EchoResult> {
    return new Observable<EchoResult>((subscriber) => {
      const result: EchoResult = { rtts: [], sent: 0 };
      let echoes = 0;
      let tries = 0;
      let token = 0;
      const next = (): void => {
        const waitMs = options.count === 1 ? options.timeoutMs * options.backoff ** tries : options.timeoutMs;
        result.sent++;
        this.counts.sent++;
        let valid = true;
        token = this.engine.submit((words, at) => {
          words[at + 3] = Math.max(1, Math.ceil(waitMs));
          valid = this.address.write(ip, words, at);
        }, settled);
        if (!valid) {
          this.engine.cancel(token);
          settle({ kind: 'error', reason: `not an IP address: ${ip}` });
        }
      };
      const settled = (kind: number, detail: number, rttUs: number): void => {
        token = 0;
        if (kind === Done.Reply) {
          this.counts.replies++;
          settle({ kind: 'reply', rtt: rttUs / 1000, ...(detail >= 0 ? { ttl: detail } : {}) });
        } else if (kind === Done.IcmpError) {
          this.counts.errors++;
          const type = detail >> 8;
          const code = detail & 0xff;
          settle({ kind: 'error', reason: errorReason(family, type, code) ?? `icmp-type-${type}-code-${code}` });
        } else if (kind === Done.Timeout) settle({ kind: 'timeout' });
        else settle({ kind: 'error', reason: `send failed: ${this.describe(detail)}` });
      };
      const settle = (outcome: { kind: 'reply'; rtt: number; ttl?: number } | { kind: 'timeout' } | { kind: 'error'; reason: string }): void => {
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
        } else next();
      };
      next();
      return () => {
        if (token) this.engine.cancel(token);
      };
    });
  }
}

/**
 * Whether this process can ping through the addon (it loads, and raw sockets open): then every
 * worker thread loads its own instance and `pmap -m thread` splits a sweep across threads.
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
