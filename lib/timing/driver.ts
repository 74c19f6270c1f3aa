// Runs a TimingCore on a clock: one timer armed for the core's next wake, re-armed after every batch of
// events (so a shrinking RTT estimate shortens waits already running). The core itself has no timer.
import { TimingCore, type Backend, type TimingOptions } from './core.js';

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Run soon, after the events already queued (setImmediate): batches a burst of answers into one wake. */
  defer?(callback: () => void): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  defer: (callback) => setImmediate(callback),
};

/** setTimeout's largest delay (2^31-1 ms): a longer one fires at once in Node, with a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export class TimingDriver<P, D> {
  readonly core: TimingCore<P, D>;
  private timer: unknown;
  private timerAt = Infinity;
  private deferred = false;
  private stopped = false;

  constructor(
    options: TimingOptions,
    backend: Backend<P, D>,
    readonly clock: Clock = systemClock,
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
    this.core.wake(now);
    const at = this.core.nextWake();
    if (at === undefined) return this.disarm();
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

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
