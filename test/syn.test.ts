// The SYN scan (tcpprobe --syn, pmap -sS): the prober's rules on a scripted engine (no network), the
// real backend on a namespace's own loopback (exact records, IPv4 and ::1, the same answers as the
// connect scan), the fallback without CAP_NET_RAW, and bad input.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadAddon } from '../lib/native/addon.js';
import { icmpAnswer, SynProber, synProber, synScanPossible, type SynEngine } from '../lib/native/syn.js';
import { normalizeArgv, pmapOptions } from '../lib/pmap.js';
import type { ProbeOutcome } from '../lib/tcp-engine.js';
import minimist from 'minimist';
import { binPath, has, labUnavailable, loopbackNamespace, runBin } from './lab.js';

type Answer = [kind: number, detail: number, rttUs: number];

/**
 * The addon's engine as a script: `answer` says what each SYN gets (null: nothing, and the try times
 * out `words[3]` ms after it left, or sooner if retimed, on the thread's clock as native/syn.c does).
 */
class ScriptedEngine implements SynEngine {
  readonly sent: { token: number; port: number; family: number; timeoutMs: number }[] = [];
  readonly cancelled: number[] = [];
  readonly retimes: [number, number][] = [];
  timedOut = 0;
  closed = false;
  private next = 1;
  private readonly silent = new Map<number, { timer: NodeJS.Timeout; sentAt: number; onDone: (kind: number, detail: number, rttUs: number) => void }>();

  constructor(private readonly answer: (port: number, family: number, tryno: number) => Answer | null) {}

  submit(fill: (words: Int32Array, at: number) => void, onDone: (kind: number, detail: number, rttUs: number) => void): number {
    const words = new Int32Array(8);
    const token = this.next++;
    words[0] = token;
    fill(words, 0);
    const port = words[1]!;
    const family = words[2]!;
    const tryno = this.sent.filter((sent) => sent.port === port).length;
    this.sent.push({ token, port, family, timeoutMs: words[3]! });
    const answer = this.answer(port, family, tryno);
    if (answer) setImmediate(() => onDone(...answer));
    else this.silent.set(token, { timer: this.timeout(token, words[3]!), sentAt: performance.now(), onDone });
    return token;
  }

  retime(token: number, timeoutMs: number): void {
    this.retimes.push([token, timeoutMs]);
    const entry = this.silent.get(token);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.timer = this.timeout(token, Math.max(0, entry.sentAt + timeoutMs - performance.now()));
  }

  cancel(token: number): void {
    this.cancelled.push(token);
    clearTimeout(this.silent.get(token)?.timer);
    this.silent.delete(token);
  }

  close(): void {
    this.closed = true;
    for (const entry of this.silent.values()) clearTimeout(entry.timer);
  }

  private timeout(token: number, ms: number): NodeJS.Timeout {
    return setTimeout(() => {
      const entry = this.silent.get(token);
      this.silent.delete(token);
      this.timedOut++;
      entry?.onDone(TIMEOUT, 0, 0);
    }, ms);
  }
}

async function scan(engine: ScriptedEngine, host: string, ports: number[], options: { retries?: number; maxLocalErrors?: number; onThrottle?: (m: string) => void } = {}): Promise<Map<number, ProbeOutcome>> {
  const prober = new SynProber(engine, { timeoutMs: 30, retries: options.retries ?? 1, maxSockets: 4, backoffMs: 1, ...options });
  const outcomes = new Map<number, ProbeOutcome>();
  await Promise.all(ports.map((port) => new Promise<void>((resolve) => prober.start(host, port, (outcome) => (outcomes.set(port, outcome), resolve())))));
  prober.close();
  return outcomes;
}

// Completion kinds of native/engine.h.
const OPEN = 0;
const CLOSED = 1;
const TIMEOUT = 2;
const ERROR = 3;
const ICMP_ERROR = 6;
const ENOBUFS = 105;
const EPERM = 1;
const ENETUNREACH = 101;

t.test('the prober: SYN-ACK open, RST closed with the thread\'s rtt, silence filtered after the tries', async (t) => {
  const engine = new ScriptedEngine((port, _family, tryno) => {
    if (port === 1) return [OPEN, 0, 1234];
    if (port === 2) return [CLOSED, 0, 50];
    if (port === 3) return tryno === 0 ? null : [OPEN, 0, 10]; // the first SYN lost
    if (port === 4) return [TIMEOUT, 0, 0]; // the thread's backstop fired
    return null;
  });
  const found = await scan(engine, '127.0.0.1', [1, 2, 3, 4, 5]);
  t.same(found.get(1), { state: 'open', rtt: 1.23, tries: 1 });
  t.same(found.get(2), { state: 'closed', rtt: 0.05, tries: 1 });
  t.same(found.get(3), { state: 'open', rtt: 0.01, tries: 2 });
  t.same(found.get(4), { state: 'filtered', tries: 2 });
  t.same(found.get(5), { state: 'filtered', tries: 2 });
  t.ok(engine.sent.every((sent) => sent.family === 4), 'IPv4 requests');
  t.equal(engine.timedOut, 3, "the silent tries (port 3's first, port 5's two) timed out on the thread's clock");
  t.same(engine.cancelled, [], 'no try expired by the core (its own expiry is only a backstop)');
  t.equal(engine.sent[0]!.timeoutMs, 30, "each request carries the core's wait (-t 30), not a backstop");
  t.ok(engine.closed, 'close() stops the engine');
});

t.test('a shrunk estimate shortens tries in flight on the thread (retime), never lengthens them', async (t) => {
  // Port 1 answers in 1 ms (measured on the thread): the estimate falls to the 5 ms floor while port
  // 2's first try, sent with the initial 200 ms, still waits; its wait is cut on the thread.
  const engine = new ScriptedEngine((port) => (port === 1 ? [CLOSED, 0, 1000] : null));
  const prober = new SynProber(engine, { timeoutMs: 200, minRttMs: 5, retries: 0, maxSockets: 2 });
  const outcome = (port: number): Promise<ProbeOutcome> => new Promise((resolve) => prober.start('127.0.0.1', port, resolve));
  const silent = outcome(2);
  t.same(await outcome(1), { state: 'closed', rtt: 1, tries: 1 });
  const started = performance.now();
  t.same(await silent, { state: 'filtered', tries: 1 });
  t.ok(performance.now() - started < 150, 'not the 200 ms it was sent with');
  t.same(engine.retimes.map(([token]) => token), [1], 'the silent try was retimed');
  t.ok(engine.retimes[0]![1] < 200, `to less than its 200 ms (${engine.retimes[0]![1]} ms)`);
  prober.close();
});

t.test('the prober: ICMP errors, send errors and local errors', async (t) => {
  const throttled: string[] = [];
  const engine = new ScriptedEngine((port, _family, tryno) => {
    if (port === 1) return [ICMP_ERROR, (1 << 8) | 4, 5]; // ICMPv6 port unreachable
    if (port === 2) return [ICMP_ERROR, (1 << 8) | 0, 5]; // ICMPv6 no route
    if (port === 3) return tryno < 2 ? [ERROR, ENOBUFS, 0] : [CLOSED, 0, 5]; // a full buffer twice, then sent
    if (port === 4) return [ERROR, ENOBUFS, 0]; // for ever
    if (port === 5) return [ERROR, EPERM, 0]; // a local firewall: no answer
    if (port === 6) return [ERROR, ENETUNREACH, 0];
    return null;
  });
  const found = await scan(engine, '::1', [1, 2, 3, 4, 5, 6], { maxLocalErrors: 3, onThrottle: (m) => throttled.push(m) });
  t.same(found.get(1), { state: 'filtered', reason: 'port-unreachable', tries: 1 });
  t.same(found.get(2), { state: 'unreachable', reason: 'ENETUNREACH', tries: 1 });
  t.same(found.get(3), { state: 'closed', rtt: 0.01, tries: 1 }, 'unsent tries are not counted');
  t.same(found.get(4), { state: 'error', reason: 'ENOBUFS', tries: 0 });
  t.same(found.get(5), { state: 'filtered', tries: 2 });
  t.same(found.get(6), { state: 'unreachable', reason: 'ENETUNREACH', tries: 1 });
  t.ok(engine.sent.every((sent) => sent.family === 6), 'IPv6 requests');
  t.match(throttled, [/^out of local resources, lowering SYNs in flight from \d+ to \d+$/]);
});

t.test('the prober: a host found gone, a word that is not an address', async (t) => {
  const engine = new ScriptedEngine(() => [CLOSED, 0, 1]);
  const prober = new SynProber(engine, { timeoutMs: 30, retries: 0, maxSockets: 1 });
  prober.hostGone('127.0.0.9', 'no-arp-reply');
  const outcome = (host: string): Promise<ProbeOutcome> => new Promise((resolve) => prober.start(host, 80, resolve));
  t.same(await outcome('127.0.0.9'), { state: 'unreachable', reason: 'no-arp-reply', tries: 1 });
  t.same(await outcome('not-an-ip'), { state: 'unreachable', reason: 'EINVAL', tries: 1 });
  t.equal(engine.sent.length, 1, 'only the word reached the engine, and was withdrawn');
  prober.close();
});

t.test('ICMP unreachable codes as nmap -sS and the connect scan read them', async (t) => {
  t.same(icmpAnswer(4, (3 << 8) | 3), { state: 'filtered', reason: 'port-unreachable' });
  t.same(icmpAnswer(4, (3 << 8) | 0), { state: 'unreachable', reason: 'ENETUNREACH' });
  t.same(icmpAnswer(4, (3 << 8) | 1), { state: 'unreachable', reason: 'EHOSTUNREACH' });
  t.same(icmpAnswer(4, (3 << 8) | 13), { state: 'unreachable', reason: 'EHOSTUNREACH' });
  t.same(icmpAnswer(6, (1 << 8) | 4), { state: 'filtered', reason: 'port-unreachable' });
  t.same(icmpAnswer(6, (1 << 8) | 1), { state: 'unreachable', reason: 'EHOSTUNREACH' });
});

t.test('whether a SYN scan can run: CapEff of /proc/self/status, bit 13 (CAP_NET_RAW)', async (t) => {
  const status = (capEff: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;
  const loaded = !('error' in loadAddon());
  t.equal(synScanPossible(status('000001ffffffffff')), loaded, 'every capability: where the addon loads');
  t.equal(synScanPossible(status('000001ffffffdfff')), false, 'all but CAP_NET_RAW');
  t.equal(synScanPossible(status('0000000000002000')), loaded, 'CAP_NET_RAW alone');
  t.equal(synScanPossible(''), loaded, 'no /proc: the probes find out');
});

t.test('an injected socket layer means node:net, said as a fallback', async (t) => {
  const chosen = synProber(undefined, { timeoutMs: 30, retries: 0, maxSockets: 1 }, { create: () => { throw new Error('unused'); } });
  t.equal(chosen.fallback, '--syn: a test socket layer was given; running a connect scan instead');
  t.equal(chosen.said, '');
});

t.test('pmap -sS: flags', async (t) => {
  const parse = (...argv: string[]): ReturnType<typeof pmapOptions> =>
    pmapOptions(minimist(normalizeArgv(argv), { boolean: ['sS', 'v'], string: ['f', 'p', 'c'], default: { c: '1' } }), 1);
  t.equal(parse('-f', 'tcp', '-sS', '127.0.0.1').syn, true);
  t.equal(parse('-f', 'tcp', '127.0.0.1').syn, undefined);
  t.equal(parse('-f', 'tcp', '-sS', '-v', '127.0.0.1').verbose, true);
  t.throws(() => parse('-f', 'ping', '-sS', '127.0.0.1'), { message: '-sS needs -f tcp (it is a port scan)' });
});

t.test('tcpprobe --syn: bad input exits 2 naming it, as the connect scan', async (t) => {
  const bad = await runBin('tcpprobe', ['--syn', '-p', '0', '127.0.0.1']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /bad port "0"/);
  t.equal(bad.stdout, '');
  // Bad lines are reported with their numbers, exit 2 as without --syn.
  const lines = await runBin('tcpprobe', ['--syn', '-t', '200', '-r', '0'], '{"ip":"127.0.0.1","port":70000}\n{"port":1}\n');
  t.equal(lines.code, 2, lines.stderr);
  t.match(lines.stderr, /stdin:1/);
  t.match(lines.stderr, /stdin:2/);
});

const isRoot = process.getuid?.() === 0;
const addon = loadAddon();
const noLoopback = labUnavailable() ?? ('error' in addon ? addon.error : null);

t.test('loopback: exact records on 127.0.0.1, ::1 and ::ffff:127.0.0.1, the same as the connect scan', { skip: noLoopback ?? false }, async (t) => {
  const ns = loopbackNamespace();
  t.teardown(() => ns.close());
  await ns.listen(['127.0.0.1:7001', '127.0.0.1:7004', '[::1]:7002', '[::1]:7004']);
  const ports = ['-p', '7000-7005'];
  // ::ffff:127.0.0.1 is IPv4 on the wire (a raw IPv6 socket cannot reach it).
  const hosts = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];
  const syn = await ns.runIn('tcpprobe', ['--syn', '-v', '--all', '--ordered', '-t', '500', ...ports, ...hosts]);
  t.equal(syn.code, 0, syn.stderr);
  t.match(syn.stderr, /engine: native syn/);
  const records = syn.stdout.trim().split('\n').map((line) => JSON.parse(line) as { ip: string; port: number; state: string; rtt: number });
  const open = new Set(['127.0.0.1 7001', '127.0.0.1 7004', '::1 7002', '::1 7004', '::ffff:127.0.0.1 7001', '::ffff:127.0.0.1 7004']);
  const expected = hosts.flatMap((ip) => [7000, 7001, 7002, 7003, 7004, 7005].map((port) => ({ ip, port, state: open.has(`${ip} ${port}`) ? 'open' : 'closed' })));
  t.same(records.map(({ ip, port, state }) => ({ ip, port, state })), expected);
  t.ok(records.every((record) => typeof record.rtt === 'number' && record.rtt >= 0), 'every answer has an rtt');
  const connect = await ns.runIn('tcpprobe', ['--all', '--ordered', '-t', '500', ...ports, ...hosts]);
  t.equal(connect.code, 0, connect.stderr);
  t.same(
    connect.stdout.trim().split('\n').map((line) => JSON.parse(line) as { ip: string; port: number; state: string }).map(({ ip, port, state }) => ({ ip, port, state })),
    expected,
    'the connect scan agrees',
  );
  // pmap -sS: the same scan through the front end (its records with --json), the engine named by -v,
  // and -oX names it a SYN scan as nmap -sS does.
  const dir = mkdtempSync(join(tmpdir(), 'syn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const xml = join(dir, 'scan.xml');
  const pmap = await ns.runIn('pmap', ['-f', 'tcp', '-sS', '-v', '--json', '--all', '-t', '500', '-oX', xml, ...ports, '::1']);
  t.equal(pmap.code, 0, pmap.stderr);
  t.match(pmap.stderr, /pmap: engine: native syn/);
  t.match(readFileSync(xml, 'utf8'), '<scaninfo type="syn" protocol="tcp" numservices="6" services="7000-7005"/>');
  // -m proc: the shards are tcpprobe --syn processes; -v has them name their engine, said once.
  const shards = await ns.runIn('pmap', ['-f', 'tcp', '-sS', '-v', '-m', 'proc', '-n', '2', '--json', '--all', '-t', '500', ...ports, '127.0.0.1', '::1']);
  t.equal(shards.code, 0, shards.stderr);
  t.equal(shards.stderr.match(/^pmap: tcpprobe: engine: native syn /gm)?.length, 1, shards.stderr);
  t.equal(shards.stdout.trim().split('\n').length, 12, 'every port of both hosts');
  t.same(
    pmap.stdout.trim().split('\n').map((line) => JSON.parse(line) as { ip: string; port: number; state: string }).map(({ ip, port, state }) => ({ ip, port, state })).sort((x, y) => x.port - y.port),
    expected.filter((record) => record.ip === '::1'),
  );
});

// setpriv drops CAP_NET_RAW from root's bounding set (and so from what the bin can use).
const noSetpriv = !isRoot ? 'needs root to drop a capability' : !has('setpriv') ? 'setpriv is not installed' : noLoopback;
const DROP = ['--bounding-set=-net_raw', '--inh-caps=-net_raw'];

t.test('without CAP_NET_RAW: said once, then the connect scan gives the same records', { skip: noSetpriv ?? false }, async (t) => {
  // The capability really is gone: bit 13 (CAP_NET_RAW) of CapEff in the dropped process.
  const status = execFileSync('setpriv', [...DROP, 'cat', '/proc/self/status'], { encoding: 'utf8' });
  const effective = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(status)?.[1] ?? '0'}`);
  t.equal(effective & (1n << 13n), 0n, 'CAP_NET_RAW dropped');
  t.not(effective, 0n, 'other capabilities kept (namespaces still work)');
  const ns = loopbackNamespace();
  t.teardown(() => ns.close());
  await ns.listen(['127.0.0.1:7001']);
  const run = await ns.run('setpriv', [...DROP, binPath('tcpprobe'), '--syn', '--all', '--ordered', '-t', '500', '-p', '7000-7002', '127.0.0.1']);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr, 'tcpprobe: --syn: raw sockets need root or CAP_NET_RAW (Operation not permitted); running a connect scan instead\n');
  t.same(
    run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { port: number; state: string }).map(({ port, state }) => `${port} ${state}`),
    ['7000 closed', '7001 open', '7002 closed'],
  );
  // pmap -sS -oX without the capability: the header names the connect scan that ran.
  const dir = mkdtempSync(join(tmpdir(), 'syn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const xml = join(dir, 'scan.xml');
  const pmap = await ns.run('setpriv', [...DROP, binPath('pmap'), '-f', 'tcp', '-sS', '-t', '500', '-p', '7000-7002', '-oX', xml, '127.0.0.1']);
  t.equal(pmap.code, 0, pmap.stderr);
  t.match(readFileSync(xml, 'utf8'), '<scaninfo type="connect" protocol="tcp" numservices="3" services="7000-7002"/>');
  // Exit status as for a connect scan: --fail with nothing open is 1.
  const none = await ns.run('setpriv', [...DROP, binPath('tcpprobe'), '--syn', '--fail', '-t', '500', '-p', '7002', '127.0.0.1']);
  t.equal(none.code, 1, none.stderr);
  t.equal(none.stdout, '');
  t.equal(none.stderr.match(/--syn: raw sockets need root/g)?.length, 1);
});
