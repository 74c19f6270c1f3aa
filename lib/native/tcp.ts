import { Observable } from 'rxjs';
import {
  LOCAL_ERRORS,
  MAX_BACKOFF_MS,
  SELF_CONNECT_TRIES,
  UNREACHABLE_ERRORS,
  type EngineCounters,
  type EngineOptions,
  type ProbeOutcome,
} from '../tcp-engine.js';
import { AddressWords, Done, errnoName, NativeEngine, type NativeAddon } from './addon.js';

/** The engine as this prober uses it: NativeEngine, or a test's scripted fake. */
export type ConnectEngine = Pick<NativeEngine, 'submit' | 'cancel' | 'close'>;

/**
 * Retries at most on this engine. It does not run under the timing core yet, so -r (default 10, a cap
 * the core reaches only as it sees loss) would be spent on every filtered port: fping's 2 instead.
 */
export const NATIVE_MAX_RETRIES = 2;

/** int32 words per connect request (native/tcp.c): token, port, family, timeout ms, 16 address bytes. */
const REQUEST_WORDS = 8;

/**
 * ConnectProber's contract on the addon's epoll thread: the same outcomes, the same rules (a port is
 * filtered only when every try timed out; a self-connect gets a fresh try; EMFILE and friends back
 * off and lower the budget, never a port state), the same `start`/`probe` interface. The thread does
 * the sockets and times each try in C; this class keeps the per-port decisions.
 */
export class NativeConnectProber {
  readonly counters: EngineCounters = { connects: 0, selfConnects: 0, localErrors: 0 };
  readonly engineName = 'native';
  private capacity: number;
  private inFlight = 0;
  private successesSinceThrottle = 0;
  private throttled = false;
  private readonly waiting: (() => void)[] = [];
  private readonly address = new AddressWords();

  constructor(
    private readonly engine: ConnectEngine,
    private readonly options: EngineOptions,
  ) {
    this.capacity = Math.max(1, options.maxSockets);
  }

  static open(addon: NativeAddon, options: EngineOptions): NativeConnectProber {
    return new NativeConnectProber(new NativeEngine(addon, 'tcp', REQUEST_WORDS), options);
  }

  private get retries(): number {
    return Math.min(this.options.retries, NATIVE_MAX_RETRIES);
  }

  /** -v's timing line: this engine waits a fixed -t per try and retries -r times (no timing core yet). */
  get fixedTiming(): string {
    return `fixed (native engine): timeout ${this.options.timeoutMs} ms per try, at most ${this.retries} retries; ${this.counters.connects} tries sent`;
  }

  get socketLimit(): number {
    return this.capacity;
  }

  /** Stops the engine thread; call once the scan is over or abandoned. */
  close(): void {
    this.engine.close();
  }

  probe(host: string, port: number): Observable<ProbeOutcome> {
    return new Observable<ProbeOutcome>((subscriber) =>
      this.start(host, port, (outcome) => {
        subscriber.next(outcome);
        subscriber.complete();
      }),
    );
  }

  start(host: string, port: number, done: (outcome: ProbeOutcome) => void): () => void {
    let token = 0;
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
    const timedOut = (): void => {
      release();
      if (++timeouts > this.retries) finish({ state: 'filtered', tries });
      else attempt();
    };

    const onDone = (kind: number, errno: number, rttUs: number): void => {
      token = 0;
      if (finished) return;
      const rtt = Math.round(rttUs / 10) / 100;
      switch (kind) {
        case Done.Open:
          this.noteUsableSocket();
          return finish({ state: 'open', rtt, tries });
        case Done.Self:
          // The kernel picked the destination port as our source port and the SYN met itself.
          this.counters.selfConnects++;
          this.noteUsableSocket();
          release();
          if (++selfConnects >= SELF_CONNECT_TRIES) finish({ state: 'closed', tries });
          else attempt();
          return;
        case Done.Closed:
          this.noteUsableSocket();
          return finish({ state: 'closed', rtt, tries });
        case Done.Timeout:
          this.noteUsableSocket();
          return timedOut();
      }
      const code = errnoName(errno);
      if (LOCAL_ERRORS.has(code)) {
        release();
        this.noteLocalError();
        tries--;
        const delay = Math.min(MAX_BACKOFF_MS, (this.options.backoffMs ?? 10) * 2 ** Math.min(localErrors++, 10));
        timer = setTimeout(() => {
          timer = undefined;
          attempt();
        }, delay);
        return;
      }
      this.noteUsableSocket();
      if (UNREACHABLE_ERRORS.has(code)) finish({ state: 'unreachable', reason: code, tries });
      // ETIMEDOUT, EACCES/EPERM (a local firewall): no answer from the port, a timed-out try.
      else timedOut();
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
      let valid = true;
      token = this.engine.submit((words, at) => {
        words[at + 1] = port;
        words[at + 3] = this.options.timeoutMs;
        valid = this.address.write(host, words, at);
      }, onDone);
      // Not an IP address (records are checked before they get here): no try can answer.
      if (!valid) {
        this.engine.cancel(token);
        token = 0;
        finish({ state: 'unreachable', reason: 'EINVAL', tries });
      }
    };

    attempt();
    return () => {
      finished = true;
      if (timer) clearTimeout(timer);
      if (queued) {
        const at = this.waiting.indexOf(queued);
        if (at >= 0) this.waiting.splice(at, 1);
      }
      if (token) this.engine.cancel(token);
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
    if (this.capacity < this.options.maxSockets && ++this.successesSinceThrottle >= 100) {
      this.successesSinceThrottle = 0;
      this.capacity++;
      this.wakeWaiting();
    }
  }

  private noteLocalError(): void {
    this.counters.localErrors++;
    this.successesSinceThrottle = 0;
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
