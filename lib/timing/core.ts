// The timing core: when to send, how long to wait, how often to try. Pure: it does no I/O and owns no
// timer. It is told the time in every call and asked when it next needs to be woken, so unit tests run
// it under a fake clock against a simulated network (test/timing-core.test.ts), and any backend
// (node:net, raw sockets, a native addon) can sit under it.
//
// The seam, both ways (P is whatever the backend needs per target: a port, a socket, an ICMP sequence):
//   core → backend   send(probe)            put one try on the wire now (probe.tryno: 0 first, 1.. retries)
//                    expire(probe)          the core stopped waiting for this try (close its socket);
//                                           a late answer may still be reported until settle()
//                    timeUp(probe, ms)      (threadClock only) the core's wait ran out on its clock: the
//                                           backend judges the try on its own clock, `ms` after it left
//                    settle(target, verdict) the target is done: answered, refused by an error, or silent
//   backend → core   add(host, payload)     a target to probe
//                    departed(probe, now)   the try left only now (a send queue held it)
//                    answer(probe, now, d, rtt?)  the target answered this try (feeds RTT, loss and
//                                           window); rtt: as the backend measured it, else now - sentAt
//                    error(probe, now, d)   an ICMP error or the like settled it: never feeds RTT or loss
//                    lost(probe, now)       this try got no answer and never will (ETIMEDOUT, EACCES)
//                    unsent(probe, now)     the try never left (EMFILE, ENOBUFS): not counted, window lowered
//                    wake(now, readAt?)     time passed: expire tries, send what the window and rate allow;
//                                           then nextWake() says when to call wake again. readAt: when
//                                           the backend last read every answer that had come (default
//                                           now); only a try due by then is judged lost
//
// The model (numbers: ../shared/TIMING.md, nmap's timing.cc and scan_engine.cc):
// - RTT: RFC 6298 smoothing per host and for the whole scan; a host without samples uses the scan's
//   estimate, a scan without samples the initial timeout. Timeouts of tries in flight are read from
//   the estimate at every wake, so the first answers shorten waits already running.
// - Tries: one retransmission while no loss is seen. An answer to try k shows loss: every target may
//   then get k+1 retransmissions (up to maxRetries), and targets that had run out of tries ("the
//   bench") are tried again.
// - Window: the in-flight limit starts at maxInFlight (-n, the user's hard cap; a plain timeout is not
//   congestion) and halves, at most once per round trip, when an answer to a retransmission shows a
//   drop; it grows back by one per answer below ssthresh and 1/window per answer above.
// - Rate: an optional token bucket (ratePps) with a small burst that does not fill up while idle.

export interface TimingOptions {
  /** Wait for a try before any RTT sample (-t), ms. */
  initialTimeoutMs: number;
  minRttMs: number;
  maxRttMs: number;
  /** Retransmissions at most, whatever the loss (-r). */
  maxRetries: number;
  /** Tries in flight at most (-n): the hard cap over the congestion window. */
  maxInFlight: number;
  /** Sends per second at most (--rate); undefined: no limit. */
  ratePps?: number;
  /** Least time between two sends (-T0..-T2), ms. */
  scanDelayMs?: number;
  /** First pause after a try could not be sent (EMFILE), doubled for each further one (default 10 ms). */
  localBackoffMs?: number;
  /**
   * The backend reports when each try really left (departed()), and a try's timeout starts only
   * then. A raw socket sends one queued packet per turn of the event loop: at -n 256 the last of a
   * burst leaves ~100 ms after the first, and timing it from send() expired it in the queue.
   */
  awaitDeparture?: boolean;
  /**
   * The backend runs on a clock of its own across a hop (the addon's thread: its completions reach
   * this thread a batch later, measured 10-85 ms on a loaded machine). It gets each try's timeout
   * with the send (probe.timeoutMs), times the try itself from when it really left, and reports the
   * verdict: answer() with its own RTT, or lost(). When the core's wait runs out first (its estimate
   * shrank meanwhile) it calls timeUp(probe, ms) and keeps the try in flight until the backend
   * says; only slackMs later does it expire the try itself, a backstop for a backend gone silent.
   * So no try the backend answered in time is taken for lost because the answer was still on its way.
   */
  threadClock?: { slackMs: number };
}

export interface Target<P> {
  readonly host: string;
  readonly payload: P;
  /** Tries sent so far. */
  tries: number;
  /** The most tries this target may take (targets of `-c N` echoes take exactly one). */
  readonly maxTries?: number;
  state: 'queued' | 'flying' | 'benched' | 'done';
  benchedAt: number;
  /** Its try in flight (one at a time: a retransmission leaves only after the try before timed out). */
  current?: Probe<P> | undefined;
}

export interface Probe<P> {
  readonly target: Target<P>;
  readonly tryno: number;
  /** When the try left (moved on by departed()): its timeout and RTT count from here. */
  sentAt: number;
  /** False while the backend's send queue still holds it (awaitDeparture only). */
  departed: boolean;
  readonly id: number;
  /** The wait the core gave this try when it was sent (the backend's own limit under threadClock). */
  readonly timeoutMs: number;
  /** threadClock: when timeUp() was called; the try waits for the backend's verdict from then. */
  timeUpAt?: number;
}

export type Verdict<D> =
  | { kind: 'answer'; rtt: number; tries: number; data: D }
  | { kind: 'error'; tries: number; data: D }
  | { kind: 'silent'; tries: number };

export interface Backend<P, D> {
  send(probe: Probe<P>): void;
  expire(probe: Probe<P>): void;
  settle(target: Target<P>, verdict: Verdict<D>): void;
  /** threadClock: judge this try as timed out `timeoutMs` after it left, on the backend's clock. */
  timeUp?(probe: Probe<P>, timeoutMs: number): void;
}

/** RTT samples this long or longer are taken for a mismatch, not a measure (nmap drops them too). */
const MAX_SAMPLE_MS = 8000;
/** Bounds of the first rttvar (nmap: a sample of 0.05 ms must not give a 0.2 ms timeout). */
const MIN_RTTVAR_MS = 5;
const MAX_RTTVAR_MS = 2000;
const MAX_BACKOFF_MS = 1000;
/** Spare host states kept for reuse at most (memory stays flat). */
const MAX_SPARE_HOSTS = 1024;
/** The least a drop cuts the window to (nmap's initial group window). */
const MIN_WINDOW = 10;

/** RFC 6298 section 2, with nmap's clamp of the first variance. */
export class RttEstimate {
  srtt = 0;
  rttvar = 0;
  samples = 0;

  add(ms: number): void {
    if (!(ms >= 0) || ms >= MAX_SAMPLE_MS) return;
    if (this.samples++ === 0) {
      this.srtt = ms;
      this.rttvar = Math.min(MAX_RTTVAR_MS, Math.max(MIN_RTTVAR_MS, ms));
      return;
    }
    const error = ms - this.srtt;
    this.srtt += error / 8;
    this.rttvar += (Math.abs(error) - this.rttvar) / 4;
  }

  reset(): void {
    this.srtt = this.rttvar = this.samples = 0;
  }

  timeout(min: number, max: number): number {
    return Math.min(max, Math.max(min, this.srtt + 4 * this.rttvar));
  }
}

interface HostState<P> {
  name: string;
  rtt: RttEstimate;
  /** Targets of this host not settled: the state is dropped at zero, so a sweep's memory stays flat. */
  targets: number;
  /** Tries of this host in flight, oldest first (sends happen in time order). */
  flying: Map<number, Probe<P>>;
}

export interface TimingStats {
  sent: number;
  answers: number;
  errors: number;
  /** Answers that came to a retransmission: the loss the scan has seen. */
  lateAnswers: number;
  timeouts: number;
  /** Most tries any settled target took. */
  maxTriesUsed: number;
  /** Highest try number that was answered (0: every answer came to a first try). */
  maxAnsweredTry: number;
  window: number;
}

export class TimingCore<P, D> {
  readonly stats: TimingStats;
  readonly group = new RttEstimate();
  private readonly hosts = new Map<string, HostState<P>>();
  /**
   * Host states let go, kept for the next hosts: a sweep makes and drops one per address (an object,
   * an estimate and a Map each: measured as a visible share of a 65536-host sweep's time and garbage).
   */
  private readonly spare: HostState<P>[] = [];
  /** Tries waiting for a send slot: retransmissions first, then new targets. */
  private readonly retransmit: Target<P>[] = [];
  private readonly fresh: Target<P>[] = [];
  private freshHead = 0;
  private readonly bench = new Set<Target<P>>();
  private readonly flying = new Map<number, Probe<P>>();
  /** threadClock: tries whose time is up here, waiting for the backend's verdict, oldest first. */
  private readonly judging = new Map<number, Probe<P>>();
  /**
   * Hosts with an RTT estimate of their own and tries in flight. Tries to hosts without one all wait
   * the scan's timeout, so `flying` (in send order) gives the oldest of those first, and a wake
   * costs what expires, not what is in flight.
   */
  private readonly sampledFlying = new Set<HostState<P>>();
  private flyingRetransmissions = 0;
  private nextId = 1;
  private window: number;
  private ssthresh: number;
  private lastDropAt = -Infinity;
  private tokens: number;
  private tokensAt = 0;
  private notBefore = 0;
  private lastSendAt = -Infinity;
  private localFailures = 0;
  private sending = false;

  constructor(
    readonly options: TimingOptions,
    private readonly backend: Backend<P, D>,
  ) {
    this.window = options.maxInFlight;
    this.ssthresh = options.maxInFlight;
    this.tokens = this.burst();
    this.stats = { sent: 0, answers: 0, errors: 0, lateAnswers: 0, timeouts: 0, maxTriesUsed: 0, maxAnsweredTry: 0, window: this.window };
  }

  /** Tries in flight now. */
  get inFlight(): number {
    return this.flying.size;
  }

  /** Targets not settled yet (queued, in flight or on the bench). */
  get pending(): number {
    return this.retransmit.length + this.fresh.length - this.freshHead + this.flyingTargets() + this.bench.size;
  }

  add(host: string, payload: P, now: number, maxTries?: number): Target<P> {
    // One literal per shape, no spread: a sweep adds a target per address.
    const target: Target<P> = maxTries
      ? { host, payload, tries: 0, state: 'queued', benchedAt: 0, current: undefined, maxTries }
      : { host, payload, tries: 0, state: 'queued', benchedAt: 0, current: undefined };
    this.fresh.push(target);
    this.hostOf(host).targets++;
    this.sendReady(now);
    return target;
  }

  /** Drop a target (its consumer went away): no more tries, no verdict; its slot goes to the next. */
  cancel(target: Target<P>, now: number): void {
    if (target.state === 'done') return;
    if (target.current) this.land(target.current);
    this.bench.delete(target);
    const at = this.retransmit.indexOf(target);
    if (at >= 0) this.retransmit.splice(at, 1);
    target.state = 'done';
    this.release(target);
    this.sendReady(now);
  }

  /** The timeout a try to `host` gets now. */
  timeoutFor(host: string): number {
    const own = this.hosts.get(host)?.rtt;
    const estimate = own && own.samples > 0 ? own : this.group.samples > 0 ? this.group : null;
    const { minRttMs, maxRttMs, initialTimeoutMs } = this.options;
    return estimate ? estimate.timeout(minRttMs, maxRttMs) : Math.min(maxRttMs, Math.max(minRttMs, initialTimeoutMs));
  }

  /** The RTT estimate of a host, or undefined before its first answer. */
  estimateOf(host: string): RttEstimate | undefined {
    const own = this.hosts.get(host)?.rtt;
    return own && own.samples > 0 ? own : undefined;
  }

  /**
   * The try actually left now (a raw socket's send queue can hold it a while after send()): its
   * timeout and RTT count from here. Tries leave in the order they were sent.
   */
  departed(probe: Probe<P>, now: number): void {
    if (!this.flying.has(probe.id)) return;
    if (now > probe.sentAt) probe.sentAt = now;
    probe.departed = true;
  }

  answer(probe: Probe<P>, now: number, data: D, measuredRtt?: number): void {
    const { target } = probe;
    if (target.state === 'done') return;
    const rtt = measuredRtt ?? now - probe.sentAt;
    this.stats.answers++;
    this.land(probe);
    const host = this.hostOf(target.host);
    // A host whose last target this is drops its state as the target settles (release): its own
    // sample would go with it (a sweep's every host).
    if (host.targets > 1 || host.flying.size > 0) {
      host.rtt.add(rtt);
      if (host.rtt.samples > 0 && host.flying.size > 0) this.sampledFlying.add(host);
    }
    this.group.add(rtt);
    if (probe.tryno > 0) this.sawLoss(probe.tryno, now);
    else this.grow();
    this.finish(target, { kind: 'answer', rtt, tries: target.tries, data });
    this.localFailures = 0;
    this.sendReady(now);
  }

  error(probe: Probe<P>, now: number, data: D): void {
    const { target } = probe;
    if (target.state === 'done') return;
    this.stats.errors++;
    this.land(probe);
    this.finish(target, { kind: 'error', tries: target.tries, data });
    this.sendReady(now);
  }

  lost(probe: Probe<P>, now: number): void {
    if (!this.flying.has(probe.id) || probe.target.state === 'done') return;
    this.timedOut(probe, now);
    this.sendReady(now);
  }

  /** `local`: the machine ran short (EMFILE); false: just try again (a socket that connected to itself). */
  unsent(probe: Probe<P>, now: number, local = true): void {
    const { target } = probe;
    if (!this.flying.has(probe.id) || target.state === 'done') return;
    this.land(probe);
    this.stats.sent--;
    target.tries--;
    target.state = 'queued';
    this.retransmit.unshift(target);
    if (!local) return this.sendReady(now);
    // The machine, not the network, ran short: fewer in flight than held now (the failures of one
    // storm land one by one, so the in-flight count falls to what the process could hold, and the
    // window with it), and a pause that doubles once per storm, not once per failure.
    this.ssthresh = this.window = Math.min(this.window, Math.max(1, Math.floor((this.flying.size + 1) * 0.75)));
    this.stats.window = this.window;
    if (now >= this.notBefore) {
      this.notBefore = now + Math.min(MAX_BACKOFF_MS, (this.options.localBackoffMs ?? 10) * 2 ** Math.min(this.localFailures++, 10));
    }
  }

  /**
   * Expire tries whose time is up, release the bench, send what may be sent. The other calls only
   * send: the caller wakes the core once per batch of events and at nextWake(), so the cost of
   * re-reading every timeout is paid once per batch, not once per answer.
   * `readAt` (<= now): every answer that had arrived by then has been reported. A try due after it
   * stays in flight: its answer may be waiting, unread, in a socket (the process was held up: a
   * long GC, another process on the CPU), and judging it lost would retransmit a port that answered,
   * shrink the window for a loss that never was, and after enough such holds call it filtered.
   */
  wake(now: number, readAt = now): void {
    const judgeTo = Math.min(now, readAt);
    this.expire(now, judgeTo);
    this.releaseBench(judgeTo);
    this.sendReady(now);
  }

  /** When `wake` has work next, or undefined when only an answer can change anything. */
  nextWake(): number | undefined {
    let next = Infinity;
    const group = this.timeoutFor('');
    // Tries leave in send order: the first one still queued means all after it are too.
    for (const probe of this.flying.values()) {
      if (this.hasOwnEstimate(probe) || probe.timeUpAt !== undefined) continue;
      if (probe.departed) next = probe.sentAt + group;
      break;
    }
    for (const host of this.sampledFlying) {
      for (const oldest of host.flying.values()) {
        if (oldest.timeUpAt !== undefined) continue;
        if (oldest.departed) next = Math.min(next, oldest.sentAt + this.timeoutFor(host.name));
        break;
      }
    }
    const judged = this.judging.values().next().value;
    if (judged) next = Math.min(next, judged.timeUpAt! + this.options.threadClock!.slackMs);
    if (this.bench.size > 0) {
      const oldest = this.bench.values().next().value!;
      next = Math.min(next, oldest.benchedAt + this.benchHold());
    }
    if (this.hasQueued() && this.flying.size < this.window) next = Math.min(next, this.sendTime());
    return next === Infinity ? undefined : next;
  }

  private flyingTargets(): number {
    const targets = new Set<Target<P>>();
    for (const probe of this.flying.values()) targets.add(probe.target);
    return targets.size;
  }

  private hostOf(host: string): HostState<P> {
    let state = this.hosts.get(host);
    if (!state) {
      state = this.spare.pop() ?? { name: host, rtt: new RttEstimate(), targets: 0, flying: new Map() };
      state.name = host;
      this.hosts.set(host, state);
    }
    return state;
  }

  /**
   * Tries a target may take now: one retransmission while no loss is seen; once an answer came to
   * try k, k+2 retransmissions, one more than the worst loss seen (nmap allows k+1, and at 5% loss
   * over many runs that lost the unluckiest host now and then).
   */
  private allowedTries(target: Target<P>): number {
    if (target.maxTries) return target.maxTries;
    const seen = this.stats.maxAnsweredTry;
    return 1 + Math.min(this.options.maxRetries, seen === 0 ? 1 : seen + 2);
  }

  private hasQueued(): boolean {
    return this.retransmit.length > 0 || this.freshHead < this.fresh.length;
  }

  private burst(): number {
    const rate = this.options.ratePps;
    return rate === undefined ? Infinity : Math.max(1, Math.min(10, Math.floor(rate / 100)));
  }

  /** The earliest time the next send is allowed by the rate, the scan delay and a local back-off. */
  private sendTime(): number {
    let at = Math.max(this.notBefore, this.lastSendAt + (this.options.scanDelayMs ?? 0));
    const rate = this.options.ratePps;
    if (rate !== undefined && this.tokens < 1) at = Math.max(at, this.tokensAt + ((1 - this.tokens) * 1000) / rate);
    return at;
  }

  private refill(now: number): void {
    const rate = this.options.ratePps;
    if (rate === undefined) return;
    // Capped at the burst: an idle spell earns no catch-up flood.
    this.tokens = Math.min(this.burst(), this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
  }

  private sendReady(now: number): void {
    // A send that fails at once settles its target, which sends again: the outer loop does that.
    if (this.sending) return;
    this.sending = true;
    try {
      this.sendLoop(now);
    } finally {
      this.sending = false;
    }
  }

  private sendLoop(now: number): void {
    this.refill(now);
    while (this.flying.size < this.window && this.hasQueued() && this.sendTime() <= now) {
      const target = this.retransmit.length > 0 ? this.retransmit.shift()! : this.fresh[this.freshHead++]!;
      if (this.freshHead > 1024 && this.freshHead * 2 > this.fresh.length) this.fresh.splice(0, this.freshHead), (this.freshHead = 0);
      if (target.state === 'done') continue;
      const probe: Probe<P> = {
        target,
        tryno: target.tries++,
        sentAt: now,
        id: this.nextId++,
        departed: !this.options.awaitDeparture,
        timeoutMs: this.timeoutFor(target.host),
      };
      target.state = 'flying';
      target.current = probe;
      this.flying.set(probe.id, probe);
      const host = this.hostOf(target.host);
      host.flying.set(probe.id, probe);
      if (host.rtt.samples > 0) this.sampledFlying.add(host);
      if (probe.tryno > 0) this.flyingRetransmissions++;
      this.stats.sent++;
      this.lastSendAt = now;
      if (this.options.ratePps !== undefined) this.tokens--;
      this.backend.send(probe);
    }
  }

  private hasOwnEstimate(probe: Probe<P>): boolean {
    return (this.hosts.get(probe.target.host)?.rtt.samples ?? 0) > 0;
  }

  /** Judge the tries due by `readAt` (see wake). */
  private expire(now: number, readAt: number): void {
    // The backstop first: a backend that never gave its verdict on a try it was asked to judge.
    const slack = this.options.threadClock?.slackMs ?? 0;
    for (const probe of this.judging.values()) {
      if (probe.timeUpAt! + slack > readAt) break;
      this.timedOut(probe, now);
    }
    const group = this.timeoutFor('');
    for (const probe of this.flying.values()) {
      if (this.hasOwnEstimate(probe) || probe.timeUpAt !== undefined) continue;
      if (!probe.departed || probe.sentAt + group > readAt) break;
      this.timeUp(probe, group, now);
    }
    for (const host of [...this.sampledFlying]) {
      const timeout = this.timeoutFor(host.name);
      for (const probe of host.flying.values()) {
        if (probe.timeUpAt !== undefined) continue;
        if (!probe.departed || probe.sentAt + timeout > readAt) break;
        this.timeUp(probe, timeout, now);
      }
    }
  }

  /** The core's wait for a try ran out: it is lost, or under threadClock the backend is asked. */
  private timeUp(probe: Probe<P>, timeoutMs: number, now: number): void {
    if (!this.options.threadClock) return this.timedOut(probe, now);
    probe.timeUpAt = now;
    this.judging.set(probe.id, probe);
    this.backend.timeUp?.(probe, timeoutMs);
  }

  private timedOut(probe: Probe<P>, now: number): void {
    this.stats.timeouts++;
    this.land(probe);
    this.backend.expire(probe);
    const { target } = probe;
    if (target.tries < this.allowedTries(target)) {
      target.state = 'queued';
      this.retransmit.push(target);
    } else {
      target.state = 'benched';
      target.benchedAt = now;
      this.bench.add(target);
    }
  }

  /** Remove a try from the in-flight books. */
  private land(probe: Probe<P>): void {
    if (!this.flying.delete(probe.id)) return;
    if (probe.timeUpAt !== undefined) this.judging.delete(probe.id);
    if (probe.tryno > 0) this.flyingRetransmissions--;
    const host = this.hosts.get(probe.target.host);
    if (!host) return;
    host.flying.delete(probe.id);
    // Only a host with samples of its own is ever in sampledFlying.
    if (host.flying.size === 0 && host.rtt.samples > 0) this.sampledFlying.delete(host);
  }

  /**
   * How long a target that ran out of tries waits on the bench for loss to show: only answers to
   * retransmissions can raise the tries allowed, so with none in flight or queued there is nothing to
   * wait for; otherwise at most twice the current timeout, and the bench holds at most maxInFlight.
   */
  private benchHold(): number {
    if (this.flyingRetransmissions === 0 && this.retransmit.length === 0) return 0;
    return 2 * this.timeoutFor('');
  }

  /** Settle as silent the benched targets whose hold ran out by `readAt` (see wake): an answer read later may still raise their tries. */
  private releaseBench(readAt: number): void {
    const hold = this.benchHold();
    for (const target of this.bench) {
      if (target.benchedAt + hold > readAt && this.bench.size <= this.options.maxInFlight) break;
      this.bench.delete(target);
      this.finish(target, { kind: 'silent', tries: target.tries });
    }
  }

  /** An answer to try `tryno` > 0: the first try (at least) was lost somewhere. */
  private sawLoss(tryno: number, now: number): void {
    this.stats.lateAnswers++;
    if (tryno > this.stats.maxAnsweredTry) {
      this.stats.maxAnsweredTry = tryno;
      // More tries are allowed now: whoever ran out of them gets another.
      for (const target of this.bench) {
        if (target.tries < this.allowedTries(target)) {
          this.bench.delete(target);
          target.state = 'queued';
          this.retransmit.push(target);
        }
      }
    }
    // A drop: halve the window, once per round (nmap); a round here is one timeout, since tries
    // sent within one timeout of the last cut were sent before the cut could show.
    if (now - this.lastDropAt >= this.timeoutFor('')) {
      this.lastDropAt = now;
      // Not below nmap's starting window of 10: the silent addresses of a sweep never answer, so a
      // window cut further would never grow back.
      this.ssthresh = Math.max(Math.min(MIN_WINDOW, this.options.maxInFlight), Math.floor(this.window / 2));
      this.window = this.ssthresh;
      this.stats.window = this.window;
    }
  }

  private grow(): void {
    const cap = this.options.maxInFlight;
    if (this.window >= cap) return;
    this.window = Math.min(cap, this.window + (this.window < this.ssthresh ? 1 : 1 / this.window));
    this.stats.window = this.window;
  }

  private finish(target: Target<P>, verdict: Verdict<D>): void {
    // A late answer to an earlier try settles the target: its retransmission in flight is moot.
    const current = target.current;
    if (current && this.flying.has(current.id)) {
      this.land(current);
      this.backend.expire(current);
    }
    target.current = undefined;
    target.state = 'done';
    this.stats.maxTriesUsed = Math.max(this.stats.maxTriesUsed, target.tries);
    this.release(target);
    this.backend.settle(target, verdict);
  }

  private release(target: Target<P>): void {
    const host = this.hosts.get(target.host);
    if (!host || --host.targets > 0 || host.flying.size > 0) return;
    this.hosts.delete(target.host);
    // Nothing else holds it now: sampledFlying lets a host go when its last try lands.
    if (this.spare.length < MAX_SPARE_HOSTS) {
      host.rtt.reset();
      host.targets = 0;
      this.spare.push(host);
    }
  }
}

/** A one-line account of the timing a scan ended with, for -v. */
export function timingSummary(core: TimingCore<unknown, unknown>): string {
  const { stats, group } = core;
  const estimate = group.samples > 0 ? `srtt ${group.srtt.toFixed(3)} ms, rttvar ${group.rttvar.toFixed(3)} ms` : 'no RTT sample';
  const loss = stats.answers > 0 ? ((100 * stats.lateAnswers) / stats.answers).toFixed(1) : '0.0';
  return (
    `timing: ${estimate}, timeout ${core.timeoutFor('').toFixed(1)} ms; ${stats.sent} tries sent, up to ${stats.maxTriesUsed} per target; ` +
    `${stats.lateAnswers} of ${stats.answers} answers came to a retransmission (${loss}% loss seen), window ${Math.floor(stats.window)}`
  );
}
