// The timing core on a simulated network under a simulated clock: no sockets, no sleeping. Each
// case asserts the answers (nothing alive is lost) and the cost (tries sent, simulated time).
import t from 'tap';
import { RttEstimate, TimingCore, type Probe, type TimingOptions, type Verdict } from '../lib/timing/core.js';

/** mulberry32: a small seeded PRNG, so every "random" loss pattern is repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimHost {
  /** Round trip in ms, and how much it may vary either way. */
  rtt: number;
  jitter?: number;
  /** Tries before this one go unanswered (a host that answers only the 2nd try: 1). */
  deafTries?: number;
  /** Answers with an ICMP error instead of a reply. */
  error?: boolean;
}

interface SimOptions {
  hosts: Map<string, SimHost | null>;
  timing: TimingOptions;
  /** Chance that a packet is lost, each way. */
  loss?: number;
  seed?: number;
  /** Targets handed to the core at once at most (the engines' pullMerge slots); default all. */
  slots?: number;
}

interface SimResult {
  verdicts: Map<string, Verdict<null>>;
  alive: string[];
  sent: number;
  /** Simulated ms until the last verdict. */
  elapsed: number;
  core: TimingCore<null, null>;
  sendTimes: number[];
}

/** Runs a scan of every host to its end, as the driver would: wake at nextWake, answers as events. */
function simulate(options: SimOptions): SimResult {
  const random = prng(options.seed ?? 1);
  const loss = options.loss ?? 0;
  const events: { at: number; run: () => void }[] = [];
  const verdicts = new Map<string, Verdict<null>>();
  const sendTimes: number[] = [];
  let now = 0;
  const core: TimingCore<null, null> = new TimingCore<null, null>(options.timing, {
    send(probe: Probe<null>) {
      sendTimes.push(now);
      const host = options.hosts.get(probe.target.host);
      if (!host || probe.tryno < (host.deafTries ?? 0)) return;
      if (random() < loss || random() < loss) return;
      const rtt = Math.max(0.001, host.rtt + (host.jitter ?? 0) * (2 * random() - 1));
      const at = now + rtt;
      // Kept sorted by time (binary insertion): a scan has thousands of answers on the way.
      let low = 0;
      for (let high = events.length; low < high; ) {
        const mid = (low + high) >> 1;
        if (events[mid]!.at <= at) low = mid + 1;
        else high = mid;
      }
      events.splice(low, 0, { at, run: () => (host.error ? core.error(probe, at, null) : core.answer(probe, at, null)) });
    },
    expire: () => undefined,
    settle: (target, verdict) => verdicts.set(target.host, verdict),
  });
  const queue = [...options.hosts.keys()];
  const slots = options.slots ?? Infinity;
  let added = 0;
  const refill = (): void => {
    while (added < queue.length && added - verdicts.size < slots) core.add(queue[added++]!, null, now);
  };
  refill();
  for (let steps = 0; verdicts.size < queue.length; steps++) {
    if (steps > 1e6) throw new Error('the scan does not end');
    const wake = core.nextWake() ?? Infinity;
    const event = events[0];
    if (event && event.at <= wake) {
      events.shift();
      now = event.at;
      event.run();
    } else {
      if (wake === Infinity) throw new Error(`stuck with ${queue.length - verdicts.size} targets unsettled`);
      now = wake;
    }
    core.wake(now);
    refill();
  }
  const alive = [...verdicts].filter(([, verdict]) => verdict.kind === 'answer').map(([host]) => host);
  return { verdicts, alive: alive.sort(), sent: core.stats.sent, elapsed: now, core, sendTimes };
}

const T3 = { initialTimeoutMs: 1000, minRttMs: 100, maxRttMs: 10_000, maxRetries: 10 };

/** `count` addresses, `live` of them answering (every 2nd one first, then the rest), RTT and jitter as given. */
function network(count: number, live: number, rtt: number, jitter = 0): Map<string, SimHost | null> {
  const hosts = new Map<string, SimHost | null>();
  const order = [...Array(count).keys()].sort((a, b) => (a % 2) - (b % 2) || a - b);
  const liveSet = new Set(order.slice(0, live));
  for (let i = 0; i < count; i++) hosts.set(`198.18.0.${i + 1}`, liveSet.has(i) ? { rtt, jitter } : null);
  return hosts;
}

const liveOf = (hosts: Map<string, SimHost | null>): string[] => [...hosts].filter(([, host]) => host).map(([ip]) => ip).sort();

t.test('RTT estimate: RFC 6298 smoothing with nmap\'s first-variance clamp', async (t) => {
  const estimate = new RttEstimate();
  estimate.add(0.05);
  t.same([estimate.srtt, estimate.rttvar], [0.05, 5], 'a tiny first sample gets rttvar 5 ms');
  t.equal(estimate.timeout(100, 10_000), 100, 'and the floor');
  estimate.add(8000);
  t.equal(estimate.samples, 1, 'a sample of 8 s or more is dropped');
  const slow = new RttEstimate();
  slow.add(300);
  slow.add(340);
  t.equal(slow.srtt, 305, 'srtt += e/8');
  t.equal(slow.rttvar, 235, 'rttvar += (|e| - rttvar)/4');
  t.equal(slow.timeout(100, 1245), 1245, 'srtt + 4 rttvar');
  t.equal(slow.timeout(100, 1000), 1000, 'clamped to the maximum');
});

t.test('the homework sweep: 100 addresses, 45 live, 0.05 ms: dead hosts cost two floors each', async (t) => {
  const hosts = network(100, 45, 0.05, 0.02);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 256 } });
  t.same(result.alive, liveOf(hosts));
  t.equal(result.sent, 45 + 55 * 2, 'one retransmission per silent host, none for live ones');
  t.ok(result.elapsed <= 201, `the first answers cut every timeout to 100 ms: done at ${result.elapsed.toFixed(1)} ms`);
  const four = simulate({ hosts, timing: { ...T3, maxInFlight: 4 }, slots: 8 });
  t.same(four.alive, liveOf(hosts), '-n 4 finds the same hosts');
  t.ok(four.elapsed < 3000, `-n 4 took ${four.elapsed.toFixed(0)} ms (nmap --max-parallelism 4: 4.7 s in the lab)`);
});

t.test('timeouts already running shrink when the first answer comes', async (t) => {
  const hosts = new Map<string, SimHost | null>([['dead', null], ['live', { rtt: 5 }]]);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 10 } });
  t.same(result.sendTimes, [0, 0, 100], 'the dead host\'s first try timed out at 100 ms, not 1000');
  t.equal(result.elapsed, 200);
});

t.test('a try due after the last read of the answers is not judged yet (wake\'s readAt)', async (t) => {
  // The driver says when it last read every answer that had come; a try whose wait ran out after
  // that may have its answer waiting unread (lib/timing/driver.ts "Read, then judge").
  const sent: number[] = [];
  const expired: number[] = [];
  const core = new TimingCore<null, null>({ ...T3, maxInFlight: 10, maxRetries: 0 }, {
    send: (probe) => void sent.push(probe.sentAt),
    expire: (probe) => void expired.push(probe.sentAt),
    settle: () => undefined,
  });
  core.add('a', null, 0);
  core.wake(0);
  core.add('b', null, 500);
  core.wake(500);
  t.same(sent, [0, 500]);
  // Both waits (1000 ms) have run out by 1600, but the answers were last read at 900, then 1200.
  core.wake(1600, 900);
  t.same(expired, [], 'nothing due by the read at 900');
  core.wake(1600, 1200);
  t.same(expired, [0], 'the try due at 1000 is judged; the one due at 1500 waits for a later read');
  core.wake(1600);
  t.same(expired, [0, 500], 'read at 1600: both judged');
});

t.test('a benched target is not settled before the answers that came meanwhile are read', async (t) => {
  // A runs out of tries (2, no loss seen yet) at 200 and waits on the bench while B's retransmission
  // is in flight. B's answer comes at 230 but is read only at 420 (the process was held up): read
  // first, it shows loss and gives A a third try; judged first, A was settled silent (filtered).
  const probes = new Map<string, Probe<null>>();
  const settled: string[] = [];
  const core = new TimingCore<null, null>({ initialTimeoutMs: 100, minRttMs: 100, maxRttMs: 10_000, maxRetries: 10, maxInFlight: 10 }, {
    send: (probe) => void probes.set(`${probe.target.host}${probe.tryno}`, probe),
    expire: () => undefined,
    settle: (target, verdict) => void settled.push(`${target.host} ${verdict.kind}`),
  });
  core.add('A', null, 0);
  core.wake(0);
  core.add('B', null, 50);
  for (const now of [50, 100, 150, 200]) core.wake(now);
  t.same([...probes.keys()].sort(), ['A0', 'A1', 'B0', 'B1']);
  core.wake(420, 200);
  t.same(settled, [], 'A waits on the bench: its hold runs out at 400, after the last read');
  core.answer(probes.get('B1')!, 230, null);
  core.wake(420);
  t.same(settled, ['B answer'], 'A is not settled silent');
  t.ok(probes.has('A2'), 'A gets a third try');
});

for (const [rtt, jitter] of [[0.05, 0.02], [30, 10], [300, 100]] as const) {
  for (const loss of [0, 0.05, 0.2]) {
    t.test(`RTT ${rtt} ms ±${jitter}, ${loss * 100}% loss each way: every live host over 20 seeded runs`, async (t) => {
      const hosts = network(200, 60, rtt, jitter);
      const live = liveOf(hosts);
      let worst = 0;
      let sent = 0;
      let lost = 0;
      for (let seed = 1; seed <= 20; seed++) {
        const result = simulate({ hosts, timing: { ...T3, maxInFlight: 64 }, loss, seed, slots: 128 });
        if (result.alive.join() !== live.join()) lost += live.length - result.alive.length;
        worst = Math.max(worst, result.elapsed);
        sent += result.sent;
      }
      // Tries rise only as far as the loss seen (nmap's rule): at 20% each way (36% of tries lost)
      // an unlucky host now and then runs out of them; at 5% none may.
      if (loss <= 0.05) t.equal(lost, 0, 'no live host lost');
      else t.ok(lost <= live.length * 20 * 0.02, `${lost} of ${live.length * 20} live hosts lost (at most 2%)`);
      const perRun = sent / 20;
      t.comment(`mean tries sent ${perRun.toFixed(0)} for 200 addresses, slowest run ${(worst / 1000).toFixed(2)} s simulated`);
      if (loss === 0) t.equal(perRun, 60 + 140 * 2, 'no loss: one retransmission for the silent ones only');
      else t.ok(perRun > 340 && perRun < 200 * 11, 'loss seen: more tries, below the cap');
      // Silent hosts bound the time: each waits out its tries, at first 64 at a time; with loss, drops
      // cut the window (to 10 at least) and silent hosts get more tries. Measured: 0.6 s without loss,
      // ~7-11 s at 5-20% (0.05 and 30 ms), ~45-56 s at 300 ms.
      const bound = loss === 0 ? (rtt < 100 ? 1000 : 5000) : rtt < 100 ? 15_000 : 90_000;
      t.ok(worst < bound, `slowest run ${worst.toFixed(0)} ms (bound ${bound})`);
    });
  }
}

// Loss is learnt from answers only: on a host where every port but the open ones drops, there is
// none to learn it from (nmap is no different). Here 200 ports drop and the rest answer (RST).
t.test('5% loss, one host, 1024 ports, 5 open and 200 dropped: no open port lost over 25 runs', async (t) => {
  const ports = new Map<string, SimHost | null>();
  for (let port = 1; port <= 1024; port++) ports.set(`p${port}`, port % 5 === 4 && port > 24 ? null : { rtt: 0.1, jitter: 0.05 });
  const open = ['p1000', 'p22', 'p443', 'p631', 'p80'];
  let worst = 0;
  let closedLost = 0;
  for (let seed = 1; seed <= 25; seed++) {
    // The same host for every port: its estimate, not the group's, times the tries.
    const result = simulate({ hosts: ports, timing: { ...T3, initialTimeoutMs: 500, maxRttMs: 1250, maxRetries: 6, maxInFlight: 500 }, loss: 0.05, seed, slots: 1000 });
    const lost = open.filter((port) => result.verdicts.get(port)?.kind !== 'answer');
    if (lost.length > 0) t.fail(`seed ${seed}: lost ${lost.join()}`);
    closedLost += 1024 - 200 - result.alive.length;
    worst = Math.max(worst, result.elapsed);
  }
  t.pass('every open port answered in every run');
  // Measured: 1 closed port in 41200 ran out (50 runs) of tries (seed 23).
  t.ok(closedLost <= 4, `${closedLost} of ${819 * 25} closed ports lost`);
  t.ok(worst < 5000, `slowest ${worst.toFixed(0)} ms simulated`);
});

t.test('a host that answers only its second try is found, and raises the tries of the rest', async (t) => {
  const hosts = new Map<string, SimHost | null>([['late', { rtt: 1, deafTries: 1 }], ['a', null], ['b', null]]);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 10 } });
  t.match(result.verdicts.get('late'), { kind: 'answer', tries: 2 });
  t.equal(result.core.stats.maxAnsweredTry, 1);
  t.same([result.verdicts.get('a')?.tries, result.verdicts.get('b')?.tries], [4, 4], 'the silent ones got three retransmissions');
});

t.test('many dead hosts: two tries each at the initial timeout, -n at a time', async (t) => {
  const hosts = network(10_000, 0, 0);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 256 }, slots: 512 });
  t.equal(result.alive.length, 0);
  t.equal(result.sent, 20_000);
  t.ok(result.elapsed <= 81_000, `${(result.elapsed / 1000).toFixed(1)} s simulated: 20000 tries of 1 s, 256 at a time`);
  t.equal(result.core.pending, 0);
});

t.test('ICMP errors settle a probe but feed neither the RTT nor the loss estimate', async (t) => {
  const hosts = new Map<string, SimHost | null>([['refused', { rtt: 2, error: true, deafTries: 1 }], ['dead', null]]);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 10 } });
  t.match(result.verdicts.get('refused'), { kind: 'error', tries: 2 });
  t.equal(result.core.group.samples, 0, 'no RTT sample');
  t.equal(result.core.stats.maxAnsweredTry, 0, 'no loss seen');
  t.equal(result.verdicts.get('dead')?.tries, 2);
  t.equal(result.elapsed, 2000, 'the dead host still waited the initial timeout');
});

t.test('--rate: a token bucket with a small burst and no catch-up after idle', async (t) => {
  const hosts = network(500, 500, 1);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 1000, ratePps: 1000 } });
  t.equal(result.alive.length, 500);
  t.ok(result.elapsed >= 480 && result.elapsed < 520, `500 probes at 1000/s took ${result.elapsed.toFixed(1)} ms`);
  let burst = 0;
  for (let i = 0; i < result.sendTimes.length; i++) {
    let j = i;
    while (j < result.sendTimes.length && result.sendTimes[j]! - result.sendTimes[i]! < 1) j++;
    burst = Math.max(burst, j - i);
  }
  t.ok(burst <= 10, `at most ${burst} sends within 1 ms`);
  // An idle spell earns no flood: a target added after 5 s of nothing goes at once, the next ones paced.
  const core = new TimingCore<null, null>({ ...T3, maxInFlight: 100, ratePps: 100 }, { send: () => undefined, expire: () => undefined, settle: () => undefined });
  const sent = (): number => core.stats.sent;
  for (let i = 0; i < 3; i++) core.add(`x${i}`, null, 5000);
  t.equal(sent(), 1, 'burst 1 at 100 pps: one send at once');
  t.equal(core.nextWake(), 5010, 'the next after 10 ms');
});

t.test('a drop (an answer to a retransmission) halves the window, answers grow it back', async (t) => {
  const hosts = network(400, 400, 10);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 100 }, loss: 0.2, seed: 3 });
  t.equal(result.alive.length, 400);
  t.ok(result.core.stats.lateAnswers > 0, `${result.core.stats.lateAnswers} answers to retransmissions`);
  t.ok(result.core.stats.window <= 100, `window ended at ${result.core.stats.window.toFixed(1)} of 100`);
});

t.test('-T0..-T2: one probe at a time, spaced by the scan delay', async (t) => {
  const hosts = network(5, 5, 1);
  const result = simulate({ hosts, timing: { ...T3, maxInFlight: 1, scanDelayMs: 400 } });
  t.same(result.sendTimes, [0, 400, 800, 1200, 1600]);
});

t.test('unsent tries (EMFILE) are not counted, lower the window and back off', async (t) => {
  let refuse = 3;
  const probes: Probe<null>[] = [];
  const core: TimingCore<null, null> = new TimingCore<null, null>({ ...T3, maxInFlight: 8 }, {
    send: (probe) => probes.push(probe),
    expire: () => undefined,
    settle: () => undefined,
  });
  for (let i = 0; i < 8; i++) core.add(`h${i}`, null, 0);
  t.equal(core.inFlight, 8);
  while (refuse-- > 0) core.unsent(probes.shift()!, 0);
  t.equal(core.stats.sent, 5, 'three sends taken back');
  t.ok(core.stats.window < 8, `window lowered to ${core.stats.window}`);
  t.ok((core.nextWake() ?? 0) > 0, 'no resend before the back-off');
});

t.test('flags: presets, explicit flags over them, and one table for every command', async (t) => {
  const { timingFromArgs, concurrencyFromArgs, coreOptions } = await import('../lib/timing/flags.js');
  const args = (flags: Record<string, string>) => ({ _: [], ...flags });
  t.match(timingFromArgs(args({})).timing, { timeoutMs: 1000, minRttMs: 100, maxRttMs: 10_000, retries: 10 }, '-T3 by default');
  t.match(timingFromArgs(args({ T: '4' })).timing, { timeoutMs: 500, minRttMs: 100, maxRttMs: 1250, retries: 6 });
  t.match(timingFromArgs(args({ T: '5', t: '900' })).timing, { timeoutMs: 900, minRttMs: 50, maxRttMs: 900, retries: 2 }, 'an explicit -t wins and lifts the maximum');
  const polite = timingFromArgs(args({ T: '2' }));
  t.match(polite, { parallelism: 1, timing: { scanDelayMs: 400 } });
  t.equal(concurrencyFromArgs(args({ T: '2' }), 256, polite), 1, '-T2: one probe at a time');
  t.equal(concurrencyFromArgs(args({ T: '2', n: '8' }), 256, timingFromArgs(args({ T: '2', n: '8' }))), 8, 'an explicit -n wins');
  t.match(coreOptions({ timeoutMs: 20, retries: 1 }, 4), { initialTimeoutMs: 20, minRttMs: 20, maxRttMs: 10_000, maxInFlight: 4 }, '-t below the floor lowers it');
});
