import t from 'tap';
import { lastValueFrom, type Subscription } from 'rxjs';
import { echoRequest } from '../lib/icmp.js';
import { IcmpEngine, type Clock, type EchoOptions, type EchoResult, type IcmpSocketHandlers } from '../lib/icmp-engine.js';
import type { Family } from '../lib/targets.js';
import type { TimingOptions } from '../lib/timing/core.js';

const ID = 0x1234;

/** Timers that fire only when the test advances time. */
class FakeClock implements Clock {
  time = 0;
  private timers: { at: number; callback: () => void; id: number }[] = [];
  private ids = 0;

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.timers.push({ at: this.time + ms, callback, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** afterPoll callbacks waiting for the next poll() (a turn of the loop that read the sockets). */
  private polls: (() => void)[] | undefined;

  /** Makes this clock one that has afterPoll (as the system clock): judging waits for poll(). */
  withPolls(): this {
    this.polls = [];
    (this as Clock).afterPoll = (callback) => this.polls!.push(callback);
    return this;
  }

  /** One turn of the loop: the reads are done, the callbacks waiting for them run. */
  poll(): number {
    const waiting = this.polls!.splice(0);
    for (const callback of waiting) callback();
    return waiting.length;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (!due || due.at > end) break;
      this.timers.shift();
      this.time = due.at;
      due.callback();
    }
    this.time = end;
  }
}

interface Sent {
  family: Family;
  address: string;
  identifier: number;
  sequence: number;
  at: number;
}

/** Sockets that record what is sent and let the test deliver packets. */
class FakeNetwork {
  sent: Sent[] = [];
  opened: Family[] = [];
  closed: Family[] = [];
  handlers = new Map<Family, IcmpSocketHandlers>();
  /** Error for the next send callback, if any. */
  sendError: Error | null = null;
  /** What the sockets say of their last read: stopped at the cap, more may be waiting. */
  backlog = false;

  constructor(private readonly clock: FakeClock) {}

  open = (family: Family, handlers: IcmpSocketHandlers) => {
    this.opened.push(family);
    this.handlers.set(family, handlers);
    return {
      send: (packet: Buffer, address: string, sent: (err: Error | null) => void) => {
        this.sent.push({ family, address, identifier: packet.readUInt16BE(4), sequence: packet.readUInt16BE(6), at: this.clock.now() });
        const err = this.sendError;
        this.sendError = null;
        sent(err);
      },
      close: () => this.closed.push(family),
      backlog: () => this.backlog,
    };
  };

  deliver(family: Family, packet: Buffer, source: string): void {
    this.handlers.get(family)!.message(packet, source);
  }

  /** An echo reply to a sent request, as the socket would deliver it (IPv4 with an IP header). */
  reply(echo: Sent, changes: { source?: string; identifier?: number; sequence?: number; ttl?: number } = {}): void {
    const icmp = echoRequest(echo.family, changes.identifier ?? echo.identifier, changes.sequence ?? echo.sequence);
    icmp[0] = echo.family === 4 ? 0 : 129;
    this.deliver(echo.family, echo.family === 4 ? withIpHeader(icmp, changes.ttl ?? 64) : icmp, changes.source ?? echo.address);
  }

  /** An ICMP destination unreachable (code) quoting a sent request. */
  unreachable(echo: Sent, code: number, target = echo.address): void {
    const quoted = withIpHeader(echoRequest(4, echo.identifier, echo.sequence), 64, target);
    this.deliver(4, withIpHeader(Buffer.concat([Buffer.from([3, code, 0, 0, 0, 0, 0, 0]), quoted]), 64), '127.0.0.1');
  }
}

function withIpHeader(body: Buffer, ttl: number, target = '127.0.0.1'): Buffer {
  const header = Buffer.alloc(20);
  header[0] = 0x45;
  header[8] = ttl;
  header[9] = 1;
  Buffer.from(target.split('.').map(Number)).copy(header, 16);
  return Buffer.concat([header, body]);
}

const ONE: EchoOptions = { timeoutMs: 100, retries: 2, backoff: 1.5, count: 1 };
/** The engine's timing: 100 ms until an RTT is known, up to 2 retransmissions, no window to speak of. */
const TIMING: Partial<TimingOptions> = { initialTimeoutMs: 100, minRttMs: 100, maxRetries: 2, maxInFlight: 100_000 };

function setup(timing: Partial<TimingOptions> = {}, clock = new FakeClock()): { clock: FakeClock; network: FakeNetwork; engine: IcmpEngine } {
  const network = new FakeNetwork(clock);
  return { clock, network, engine: new IcmpEngine(network.open, ID, clock, { ...TIMING, ...timing }) };
}

/** Subscribe and keep what comes out. */
function watch(engine: IcmpEngine, ip: string, family: Family, options: EchoOptions) {
  const out: { result?: EchoResult; done: boolean; subscription?: Subscription } = { done: false };
  out.subscription = engine.probe(ip, family, options).subscribe({
    next: (result) => (out.result = result),
    complete: () => (out.done = true),
  });
  return out;
}

t.test('a reply from the target answers its probe, with rtt and ttl', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, '127.0.0.2', 4, ONE);
  t.equal(network.sent.length, 1);
  t.match(network.sent[0], { address: '127.0.0.2', identifier: ID });
  clock.advance(7);
  network.reply(network.sent[0]!, { ttl: 61 });
  t.ok(probe.done);
  t.same(probe.result, { rtts: [7], sent: 1, ttl: 61 });
  clock.advance(0);
  t.equal(clock.pending, 0, 'no timer is left');
  t.same(engine.counts, { sent: 1, replies: 1, errors: 0 });
});

t.test('replies that are not ours, or not from the target, are ignored', async (t) => {
  const { clock, network, engine } = setup({ maxRetries: 0 });
  const probe = watch(engine, '127.0.0.2', 4, ONE);
  const echo = network.sent[0]!;
  network.reply(echo, { identifier: ID + 1 });
  network.reply(echo, { source: '127.0.0.3' });
  network.reply(echo, { sequence: echo.sequence + 1 });
  // Our own request, looped back on lo where no ICMP_FILTER is set.
  network.deliver(4, withIpHeader(echoRequest(4, ID, echo.sequence), 64), '127.0.0.2');
  network.deliver(4, Buffer.from('garbage'), '127.0.0.2');
  t.notOk(probe.done, 'still waiting');
  clock.advance(100);
  t.ok(probe.done);
  t.same(probe.result, { rtts: [], sent: 1 });
  network.reply(echo);
  t.same(probe.result, { rtts: [], sent: 1 }, 'a reply after the timeout changes nothing');
});

t.test('IPv6 replies are matched by canonical source address', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, 'fd00::10', 6, ONE);
  clock.advance(2);
  network.reply(network.sent[0]!, { source: 'FD00:0:0::10' });
  t.same(probe.result, { rtts: [2], sent: 1 });
  t.same(network.opened, [6], 'only the IPv6 socket was opened');
});

t.test('with no loss seen an unanswered try gets one retransmission, then the host is silent', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, '127.0.0.9', 4, ONE);
  clock.advance(199);
  t.notOk(probe.done, 'not before 100 + 100 ms');
  t.same(network.sent.map((echo) => echo.at), [0, 100], 'the retransmission goes when the first try times out');
  clock.advance(1);
  t.ok(probe.done);
  t.same(probe.result, { rtts: [], sent: 2 });
  t.equal(new Set(network.sent.map((echo) => echo.sequence)).size, 2, 'each try has its own sequence');
});

t.test('an answer to a retransmission shows loss: silent hosts get a third try, even those done trying', async (t) => {
  const { clock, network, engine } = setup();
  const silent = watch(engine, '127.0.0.9', 4, ONE);
  clock.advance(50);
  const lossy = watch(engine, '127.0.0.8', 4, ONE);
  clock.advance(190);
  // 127.0.0.9 has had its two tries (at 0 and 100) and waits on the bench while 127.0.0.8's
  // retransmission (sent at 150) may still show loss.
  t.same(network.sent.map((echo) => [echo.address, echo.at]), [['127.0.0.9', 0], ['127.0.0.8', 50], ['127.0.0.9', 100], ['127.0.0.8', 150]]);
  t.notOk(silent.done, 'held on the bench');
  network.reply(network.sent[3]!);
  t.same(lossy.result, { rtts: [90], sent: 2, ttl: 64 });
  clock.advance(0);
  t.equal(network.sent.length, 5, 'the silent host is tried a third time');
  t.match(network.sent[4], { address: '127.0.0.9', at: 240 });
  clock.advance(1000);
  t.same(silent.result, { rtts: [], sent: 3 });
});

t.test('a try is judged lost only once the sockets have read what waited (256 packets a turn)', async (t) => {
  const { clock, network, engine } = setup({}, new FakeClock().withPolls());
  const probe = watch(engine, '127.0.0.1', 4, ONE);
  t.equal(network.sent.length, 1);
  // Held up past the 100 ms wait, with more replies queued than one turn reads.
  network.backlog = true;
  clock.advance(150);
  t.equal(clock.poll(), 1, 'the due try waits for a turn of the loop');
  t.equal(network.sent.length, 1, 'a socket still had packets waiting: not judged yet');
  // The next turn reads the rest, this reply among them.
  network.backlog = false;
  network.reply(network.sent[0]!);
  clock.poll();
  t.equal(network.sent.length, 1, 'no retransmission');
  t.match(probe.result, { rtts: [150] });
  // A socket that stays behind holds a judgement back for a bounded number of turns, not for ever.
  const silent = watch(engine, '127.0.0.2', 4, ONE);
  clock.advance(0);
  t.equal(network.sent.length, 2);
  network.backlog = true;
  clock.advance(1000);
  let turns = 0;
  while (clock.poll() > 0 && network.sent.length === 2) turns++;
  t.equal(network.sent.length, 3, 'retransmitted after the bound');
  t.equal(turns, 64, 'after 64 turns');
  t.notOk(silent.done);
});

t.test('an answer to a retry makes the host alive', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, '127.0.0.9', 4, ONE);
  clock.advance(100);
  clock.advance(3);
  network.reply(network.sent[1]!);
  t.same(probe.result, { rtts: [3], sent: 2, ttl: 64 });
  clock.advance(1000);
  t.equal(network.sent.length, 2, 'no more tries');
});

t.test('an ICMP error quoting our request ends the probe with its reason', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, '198.18.0.200', 4, ONE);
  network.unreachable(network.sent[0]!, 1, '198.18.0.201');
  t.notOk(probe.done, 'an error about another target is not ours');
  clock.advance(100);
  network.unreachable(network.sent[1]!, 1);
  t.ok(probe.done);
  t.same(probe.result, { rtts: [], sent: 2, reason: 'host-unreachable' });
  t.equal(engine.counts.errors, 1);
});

t.test('send failures: a lasting one is the reason, a full buffer costs no try (#10 item 20)', async (t) => {
  const { clock, network, engine } = setup();
  network.sendError = new Error('Network is unreachable');
  const unroutable = watch(engine, '127.0.0.9', 4, ONE);
  t.same(unroutable.result, { rtts: [], sent: 1, reason: 'send failed: Network is unreachable' });
  // No retries at all: the refused echo must still go out again, and its answer count.
  network.sendError = new Error('No buffer space available');
  const busy = watch(engine, '127.0.0.8', 4, { ...ONE, retries: 0 });
  t.notOk(busy.done);
  clock.advance(100);
  t.equal(network.sent.length, 3, 'sent again after a short back-off, though -r 0 allows no retry');
  network.reply(network.sent[2]!);
  t.same(busy.result?.sent, 1, 'the lost send is not counted as a try');
  t.equal(busy.result?.rtts.length, 1, 'the retry got through');
});

t.test('a buffer that never drains ends as a send failure, not a loop', async (t) => {
  const { clock, network, engine } = setup();
  const full = new Error('No buffer space available');
  // Every send refused, however often it is tried.
  Object.defineProperty(network, 'sendError', { get: () => full, set: () => undefined });
  const probe = watch(engine, '127.0.0.7', 4, { ...ONE, retries: 0 });
  clock.advance(60_000);
  t.same(probe.result, { rtts: [], sent: 1, reason: 'send failed: No buffer space available' });
  t.equal(network.sent.length, 21, 'the first send and 20 more');
});

t.test('-c sends echoes one after another and keeps every rtt, without retries', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, '127.0.0.2', 4, { ...ONE, count: 3 });
  clock.advance(4);
  network.reply(network.sent[0]!);
  t.equal(network.sent.length, 2, 'the next echo goes once the first is answered');
  clock.advance(100);
  t.equal(network.sent.length, 3, 'a lost echo is not retried: the next one goes');
  clock.advance(6);
  network.reply(network.sent[2]!);
  t.ok(probe.done);
  t.same(probe.result, { rtts: [4, 6], sent: 3, ttl: 64 });
});

t.test('thousands of probes share one socket per family with distinct sequences', async (t) => {
  const { clock, network, engine } = setup();
  const probes = Array.from({ length: 5000 }, (_, i) => watch(engine, `127.0.${i >> 8}.${i & 255}`, 4, ONE));
  probes.push(watch(engine, '::1', 6, ONE));
  t.same(network.opened, [4, 6]);
  const v4 = network.sent.filter((echo) => echo.family === 4);
  t.equal(new Set(v4.map((echo) => echo.sequence)).size, 5000, 'no two echoes in flight share a sequence');
  // Answer them in reverse: each reply finds its own probe.
  for (const echo of [...network.sent].reverse()) network.reply(echo);
  t.ok(probes.every((probe) => probe.done && probe.result?.rtts.length === 1));
  clock.advance(0);
  t.equal(clock.pending, 0);
});

t.test('sequences wrap around 65536 and skip those still in flight', async (t) => {
  const { clock, network, engine } = setup({ initialTimeoutMs: 1e9, maxRttMs: 1e9 });
  const slow = watch(engine, '127.0.0.1', 4, ONE);
  for (let i = 0; i < 70000; i++) {
    const quick = watch(engine, '127.0.0.2', 4, ONE);
    network.reply(network.sent[network.sent.length - 1]!);
    if (!quick.done) t.fail(`probe ${i} unanswered`);
  }
  t.notOk(slow.done);
  const reused = network.sent.filter((echo) => echo.sequence === network.sent[0]!.sequence);
  t.equal(reused.length, 1, 'the sequence of the echo in flight was never given out again');
  t.ok(network.sent.filter((echo) => echo.sequence === 1).length > 1, 'others were reused');
  network.reply(network.sent[0]!);
  t.same(slow.result?.rtts, [0]);
  clock.advance(0);
});

t.test('more than 65536 echoes in flight is refused, not mismatched', async (t) => {
  const { engine } = setup();
  for (let i = 0; i < 65536; i++) watch(engine, '127.0.0.1', 4, ONE);
  const extra = watch(engine, '127.0.0.1', 4, ONE);
  t.same(extra.result, { rtts: [], sent: 1, reason: 'more than 65536 echo requests in flight' });
});

t.test('unsubscribing forgets the echo; close closes the sockets', async (t) => {
  const { clock, network, engine } = setup();
  const probe = watch(engine, '127.0.0.2', 4, ONE);
  watch(engine, '::1', 6, ONE);
  probe.subscription!.unsubscribe();
  network.reply(network.sent[0]!);
  t.equal(probe.result, undefined);
  clock.advance(1000);
  t.equal(network.sent.filter((echo) => echo.address === '127.0.0.2').length, 1, 'it is not tried again');
  engine.close();
  t.same(network.closed.sort(), [4, 6]);
  t.equal(clock.pending, 0);
  t.throws(() => engine.open(4), /closed/);
});

t.test('a failed socket is closed, fails the echoes on it, and is reopened for the next (#10 item 20)', async (t) => {
  const { network, engine } = setup();
  const probe = watch(engine, '127.0.0.2', 4, ONE);
  const old = network.handlers.get(4)!;
  old.error(new Error('boom'));
  t.same(probe.result, { rtts: [], sent: 1, reason: 'socket failed: boom' });
  t.same(network.closed, [4], 'the failed socket closed');
  const next = watch(engine, '127.0.0.3', 4, ONE);
  t.same(network.opened, [4, 4]);
  // The old socket's late error and a packet it still delivered: neither touches the new socket.
  old.error(new Error('late'));
  t.notOk(next.done, 'an echo on the new socket is not failed by the old one');
  network.reply(network.sent[1]!);
  t.same(next.result?.rtts, [0]);
});

t.test('the real clock drives a probe to its end', async (t) => {
  const network = new FakeNetwork(new FakeClock());
  const engine = new IcmpEngine(network.open, ID, undefined, { initialTimeoutMs: 20, minRttMs: 20, maxRetries: 1 });
  const started = performance.now();
  const result = await lastValueFrom(engine.probe('127.0.0.2', 4, { count: 1 }));
  const elapsed = performance.now() - started;
  t.same(result, { rtts: [], sent: 2 });
  t.ok(elapsed >= 39, `20 + 20 ms of waiting took ${elapsed.toFixed(1)} ms`);
  engine.close();
});
