// Runs a TimingCore on a clock: one timer armed for the core's next wake, re-armed after every batch of
// events (so a shrinking RTT estimate shortens waits already running). The core itself has no timer.
//
// Read, then judge: a try whose wait ran out is judged lost only after the event loop has polled for
// I/O since it ran out, as nmap reads its sockets before it checks its timeouts. Node runs due timers
// before it polls, so a process held up past a deadline (descheduled on a busy machine, a long GC,
// SIGSTOP) would otherwise time out every try in flight whose answer sat unread in its socket:
// measured, `tcpprobe --engine net -p 1-30000 127.0.0.1` stopped for 250 ms every 0.5 s sent 2 and
// 14 needless retransmissions in 2 of 3 runs and shrank its window to 329, and in the 5% loss lab
// (window 14, 100 ms timeouts, a loaded machine) 65 ports answered 5 times over were called filtered.
import { TimingCore, type Backend, type TimingOptions } from './core.js';

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Run soon, after the events already queued (setImmediate): batches a burst of answers into one wake. */
  defer?(callback: () => void): void;
  /**
   * Run after the process has polled for I/O at least once from now, so every answer that had
   * arrived by now has been read. Without it (a fake clock, no I/O) nothing waits unread.
   */
  afterPoll?(callback: () => void): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  defer: (callback) => setImmediate(callback),
  // An immediate queued by an immediate runs in the next turn of the loop, after that turn's poll
  // phase; the first hop alone may run in this turn's check phase, after a poll that began earlier.
  afterPoll: (callback) => setImmediate(() => setImmediate(callback)),
};

/** setTimeout's largest delay (2^31-1 ms): a longer one fires at once in Node, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Turns of the loop a judgement waits at most while the backend says it has answers unread. */
const MAX_READ_TURNS = 64;

export class TimingDriver<P, D> {
  readonly core: TimingCore<P, D>;
  private timer: unknown;
  private timerAt = Infinity;
  private deferred = false;
  private stopped = false;
  /** Every answer that had arrived by this time has been read (see the top of the file). */
  private readAt = -Infinity;
  private polling = false;

  constructor(
    options: TimingOptions,
    backend: Backend<P, D>,
    readonly clock: Clock = systemClock,
    /**
     * Whether the backend's last read stopped short with answers still waiting (a socket that reads
     * a bounded number of packets a turn): a judgement then waits for the turns that read them.
     */
    private readonly unread?: () => boolean,
  ) {
    this.core = new TimingCore(options, backend);
  }

  now(): number {
    return this.clock.now();
  }

  /** Something happened (an answer, a new target): wake the core once this batch of events is through. */
  kick(): void {
    if (this.deferred || this.stopped) return;
    this.deferred = true;
    const run = (): void => {
      this.deferred = false;
      this.run();
    };
    if (this.clock.defer) this.clock.defer(run);
    else this.clock.setTimeout(run, 0);
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  private run(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    if (!this.clock.afterPoll) this.readAt = now;
    this.core.wake(now, this.readAt);
    const at = this.core.nextWake();
    if (at === undefined) return this.disarm();
    if (at <= now && this.clock.afterPoll) return this.readThenRun(now);
    // A timer armed earlier than needed stays: it wakes the core for nothing, which costs less than
    // re-arming on every answer (each one moves the estimate a little).
    if (at >= this.timerAt) return;
    this.disarm();
    this.timerAt = at;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.run();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - now)),
    );
  }

  /** Something is due now: let the loop read what has come, then wake the core again. */
  private readThenRun(now: number): void {
    this.disarm();
    if (this.polling) return;
    this.polling = true;
    const afterReads = (turns: number): void =>
      this.clock.afterPoll!(() => {
        if (turns < MAX_READ_TURNS && this.unread?.()) return afterReads(turns + 1);
        this.polling = false;
        this.readAt = Math.max(this.readAt, now);
        this.run();
      });
    afterReads(0);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
