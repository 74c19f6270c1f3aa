// The native ICMP prober's decisions, driven through a scripted engine (no addon, no sockets): what
// it asks of the thread, replies with C's RTT and TTL, ICMP errors, loss, full send buffers, -c,
// cancel; and, for both native probers, that a completion crossing a slow hop to this thread is
// judged by the thread's clock (the core's option threadClock), not taken for a timeout here.
import { constants } from 'node:os';
import { lastValueFrom } from 'rxjs';
import t from 'tap';
import type { EchoResult } from '../lib/icmp-engine.js';
import { Done } from '../lib/native/addon.js';
import { NativeIcmpProber, type EchoEngine } from '../lib/native/icmp.js';
import { NativeConnectProber, type ConnectEngine } from '../lib/native/tcp.js';
import type { Family } from '../lib/targets.js';

/**
 * What the thread says about one try: a completion; silence (it times the try out itself); or
 * nothing ever (a thread gone wrong: only the core's backstop ends the try).
 */
type Answer = { kind: Done; detail?: number; errno?: string; rttUs?: number } | 'silent' | 'mute';
type Script = (ip: string, tryIndex: number) => Answer;

const errno = (name: string): number => (constants.errno as Record<string, number>)[name]!;

/**
 * The addon's thread as the probers see it: each request's completion comes `hopMs` later (the batch
 * crossing to JavaScript); a silent try times out `words[3]` ms after it left, or sooner if retimed,
 * as native/icmp.c and native/tcp.c do on their own clock.
 */
class ScriptedThread implements EchoEngine, ConnectEngine {
  readonly requests: number[][] = [];
  readonly retimes: [number, number][] = [];
  readonly cancelled: number[] = [];
  closed = false;
  private token = 0;
  private readonly tries = new Map<string, number>();
  private readonly live = new Map<number, { onDone: (kind: number, detail: number, rttUs: number) => void; timer?: NodeJS.Timeout; sentAt: number }>();

  constructor(
    private readonly script: Script,
    private readonly hopMs = 0,
  ) {}

  get inFlight(): number {
    return this.live.size;
  }

  submit(fill: (words: Int32Array, at: number) => void, onDone: (kind: number, detail: number, rttUs: number) => void): number {
    const words = new Int32Array(8);
    const token = ++this.token;
    words[0] = token;
    fill(words, 0);
    this.requests.push([...words]);
    const ip = addressOf(words);
    const tryIndex = this.tries.get(ip) ?? 0;
    this.tries.set(ip, tryIndex + 1);
    const answer = this.script(ip, tryIndex);
    const entry: { onDone: typeof onDone; timer?: NodeJS.Timeout; sentAt: number } = { onDone, sentAt: performance.now() };
    this.live.set(token, entry);
    if (answer === 'silent') entry.timer = setTimeout(() => this.complete(token, Done.Timeout, 0, 0), words[3]);
    else if (answer !== 'mute') {
      const detail = answer.errno ? errno(answer.errno) : (answer.detail ?? 0);
      // Judged at once on the thread: the verdict is fixed now, the hop only delays its delivery.
      this.live.delete(token);
      setTimeout(() => onDone(answer.kind, detail, answer.rttUs ?? 250), this.hopMs);
    }
    return token;
  }

  retime(token: number, timeoutMs: number): void {
    this.retimes.push([token, timeoutMs]);
    const entry = this.live.get(token);
    if (!entry?.timer) return; // answered (its completion is crossing), or mute
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.complete(token, Done.Timeout, 0, 0), Math.max(0, entry.sentAt + timeoutMs - performance.now()));
  }

  cancel(token: number): void {
    const entry = this.live.get(token);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.live.delete(token);
    this.cancelled.push(token);
  }

  close(): void {
    this.closed = true;
    for (const entry of this.live.values()) clearTimeout(entry.timer);
  }

  private complete(token: number, kind: Done, detail: number, rttUs: number): void {
    const entry = this.live.get(token);
    if (!entry) return;
    this.live.delete(token);
    setTimeout(() => entry.onDone(kind, detail, rttUs), this.hopMs);
  }
}

/** The address a request names (family at word 2, bytes from word 4). */
function addressOf(words: Int32Array): string {
  const bytes = new Uint8Array(words.buffer, 16, 16);
  if (words[2] === 4) return [...bytes.slice(0, 4)].join('.');
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const TIMING = { initialTimeoutMs: 200, minRttMs: 50, maxRttMs: 400, maxRetries: 2, maxInFlight: 64 };
const prober = (thread: ScriptedThread, timing = {}): NativeIcmpProber =>
  new NativeIcmpProber(thread, (n) => `strerror ${n}`, { ...TIMING, ...timing });
const ping = (p: NativeIcmpProber, ip: string, count = 1, family: Family = 4): Promise<EchoResult> => lastValueFrom(p.probe(ip, family, { count }));

t.test('requests carry the family, the core timeout and the address bytes', async (t) => {
  const thread = new ScriptedThread(() => ({ kind: Done.Reply, detail: 64 }));
  const p = prober(thread);
  await ping(p, '127.1.2.3');
  await ping(p, '::1', 1, 6);
  const [v4, v6] = thread.requests;
  t.same(v4!.slice(2, 4), [4, 200], 'family 4, the initial timeout (no RTT sample yet)');
  t.equal(addressOf(Int32Array.from(v4!)), '127.1.2.3');
  t.same(v6!.slice(2, 4), [6, 50], 'family 6, the floor once an RTT was measured');
  t.equal(addressOf(Int32Array.from(v6!)), '0'.repeat(31) + '1');
  p.close();
  t.ok(thread.closed, 'close stops the engine');
});

t.test('a reply: the RTT and TTL the thread measured, and the RTT feeds the core', async (t) => {
  const thread = new ScriptedThread(() => ({ kind: Done.Reply, detail: 63, rttUs: 1234 }));
  const p = prober(thread);
  t.same(await ping(p, '127.0.0.1'), { rtts: [1.234], sent: 1, ttl: 63 });
  t.equal(p.timing.core.group.srtt, 1.234, "the core's estimate is C's RTT, not the time this thread saw");
  // IPv6 raw sockets give no hop limit: detail -1, no ttl.
  const v6 = new ScriptedThread(() => ({ kind: Done.Reply, detail: -1, rttUs: 500 }));
  t.same(await ping(prober(v6), '::1', 1, 6), { rtts: [0.5], sent: 1 });
  t.match(p.counts, { sent: 1, replies: 1, errors: 0 });
});

t.test('ICMP errors settle the host with their reason, retried never', async (t) => {
  const thread = new ScriptedThread((ip) =>
    ip === '198.18.0.1' ? { kind: Done.IcmpError, detail: (3 << 8) | 1 } : ip === '198.18.0.2' ? { kind: Done.IcmpError, detail: (11 << 8) | 0 } : { kind: Done.IcmpError, detail: (1 << 8) | 3 },
  );
  const p = prober(thread);
  t.same(await ping(p, '198.18.0.1'), { rtts: [], sent: 1, reason: 'host-unreachable' });
  t.same(await ping(p, '198.18.0.2'), { rtts: [], sent: 1, reason: 'time-exceeded' });
  // ICMPv6 destination unreachable, code 3: address unreachable (a failed neighbour discovery).
  t.same(await ping(p, 'fd00:198:18::9', 1, 6), { rtts: [], sent: 1, reason: 'host-unreachable' });
  t.equal(thread.requests.length, 3);
  t.match(p.counts, { errors: 3 });
});

t.test('loss: a silent try is timed out by the thread and sent again; a silent host is not alive', async (t) => {
  const thread = new ScriptedThread((ip, tryIndex) => (ip === '127.0.0.2' && tryIndex === 1 ? { kind: Done.Reply, detail: 64 } : 'silent'));
  const p = prober(thread);
  t.same(await ping(p, '127.0.0.3'), { rtts: [], sent: 2 }, 'no loss seen yet: one retransmission');
  t.match(await ping(p, '127.0.0.2'), { rtts: [0.25], sent: 2, ttl: 64 }, 'answered on the retransmission');
  t.same(await ping(p, '127.0.0.4'), { rtts: [], sent: 3 }, 'loss seen: -r 2 retransmissions');
  t.equal(thread.cancelled.length, 0, 'every silent try ended on the thread clock, none cancelled here');
  t.equal(thread.inFlight, 0);
});

t.test('full send buffers: unsent tries, sent again, until 20 refusals make a send failure', async (t) => {
  const flaky = new ScriptedThread((_ip, tryIndex) => (tryIndex < 3 ? { kind: Done.Error, errno: tryIndex % 2 ? 'ENOBUFS' : 'EAGAIN' } : { kind: Done.Reply, detail: 64 }));
  t.match(await ping(prober(flaky, { localBackoffMs: 0 }), '127.0.0.1'), { rtts: [0.25], sent: 1 }, 'three refusals are not tries');
  const full = new ScriptedThread(() => ({ kind: Done.Error, errno: 'ENOBUFS' }));
  t.same(await ping(prober(full, { localBackoffMs: 0 }), '127.0.0.1'), { rtts: [], sent: 1, reason: `send failed: strerror ${errno('ENOBUFS')}` });
  t.equal(full.requests.length, 21, 'the 21st refusal is the verdict (and the one try counted)');
  const firewalled = new ScriptedThread(() => ({ kind: Done.Error, errno: 'EPERM' }));
  t.same(await ping(prober(firewalled), '127.0.0.1'), { rtts: [], sent: 1, reason: `send failed: strerror ${errno('EPERM')}` }, 'EPERM (a firewall) at once');
});

t.test('-c 3: three echoes of one try each, every answer counted', async (t) => {
  const thread = new ScriptedThread((_ip, i) => (i === 1 ? 'silent' : { kind: Done.Reply, detail: 64, rttUs: 1000 * (i + 1) }));
  const result = await ping(prober(thread), '127.0.0.1', 3);
  t.same(result, { rtts: [1, 3], sent: 3, ttl: 64 });
});

t.test('unsubscribing cancels the echo in flight on the thread; nothing reaches the probe after', async (t) => {
  const thread = new ScriptedThread(() => 'silent');
  const p = prober(thread, { initialTimeoutMs: 300, maxRttMs: 300 });
  let said = 0;
  const subscription = p.probe('127.0.0.1', 4, { count: 1 }).subscribe(() => said++);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(thread.requests.length, 1);
  subscription.unsubscribe();
  t.same(thread.cancelled, [1], 'the try was cancelled on the thread');
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.equal(said, 0);
  t.equal(thread.requests.length, 1, 'no retransmission after the cancel');
  t.equal(p.timing.core.pending, 0);
  p.close();
});

t.test('a shrunk estimate shortens tries in flight on the thread (retime), never lengthens them', async (t) => {
  // The first echo to .1 answers at once; .9 is silent and was sent with the initial 200 ms.
  const thread = new ScriptedThread((ip) => (ip === '127.0.0.1' ? { kind: Done.Reply, detail: 64, rttUs: 100 } : 'silent'));
  const p = prober(thread);
  const silent = ping(p, '127.0.0.9');
  await ping(p, '127.0.0.1');
  t.same(await silent, { rtts: [], sent: 2 });
  t.same(thread.retimes, [[1, 50]], 'the first try (sent with 200 ms) retimed to the 50 ms floor; its retransmission was sent with 50 ms');
  t.same(thread.requests.map((words) => words[3]), [200, 200, 50]);
});

t.test('a slow hop: answers the thread judged in time count, though they reach this thread after the core timeout', async (t) => {
  // Every completion takes 150 ms to cross, three times the 50 ms timeout: without the thread's
  // clock every first try would expire here and be sent again.
  const thread = new ScriptedThread(() => ({ kind: Done.Reply, detail: 64, rttUs: 80 }), 150);
  const p = prober(thread, { initialTimeoutMs: 50, minRttMs: 50, maxRttMs: 50 });
  const results = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((ip) => ping(p, ip)));
  t.same(results, Array(3).fill({ rtts: [0.08], sent: 1, ttl: 64 }));
  t.equal(thread.requests.length, 3, 'no retransmission');
  t.match(p.timing.core.stats, { timeouts: 0, answers: 3, lateAnswers: 0 }, "the thread's answers counted, no try taken for lost");

  const tcp = new ScriptedThread(() => ({ kind: Done.Closed, rttUs: 40 }), 150);
  const connect = new NativeConnectProber(tcp, { timeoutMs: 50, minRttMs: 50, maxRttMs: 50, retries: 2, maxSockets: 10 });
  const outcomes = await Promise.all([1, 2, 3].map((port) => lastValueFrom(connect.probe('127.0.0.1', port))));
  t.same(outcomes, Array(3).fill({ state: 'closed', rtt: 0.04, tries: 1 }));
  t.equal(tcp.requests.length, 3, 'no connect sent twice');
});

t.test('a thread gone mute: the core expires the try itself after its slack (the backstop) and cancels it there', async (t) => {
  const mute = new ScriptedThread(() => 'mute');
  const p = prober(mute, { initialTimeoutMs: 20, minRttMs: 20, maxRetries: 0 });
  t.same(await ping(p, '127.0.0.1'), { rtts: [], sent: 1 }, 'the try ended by the backstop, 2 s after the core asked');
  t.same(mute.cancelled, [1]);
  t.match(p.timing.core.stats, { timeouts: 1 });
  p.close();
});
