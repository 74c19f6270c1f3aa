import t from 'tap';
import { lastValueFrom, toArray } from 'rxjs';
import { parsePingOutput, pingCommandProbe, type PingRun, type RunPing } from '../lib/ping-command.js';
import { hostRecord, PrivilegeError } from '../lib/pingprobe.js';
import { discoverySweep } from '../lib/discovery/sweep.js';
import type { OpenIcmpSocket } from '../lib/icmp-engine.js';

const REPLY = `PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.085 ms

--- 127.0.0.1 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
rtt min/avg/max/mdev = 0.085/0.085/0.085/0.000 ms
`;

const ok = (stdout: string): PingRun => ({ code: 0, stdout, stderr: '' });

t.test('reads ping(8) output', async (t) => {
  t.same(parsePingOutput(ok(REPLY)), { rtts: [0.085], ttl: 64 });
  const three = [1, 2, 3].map((seq) => `64 bytes from ::1: icmp_seq=${seq} ttl=64 time=0.0${seq}5 ms`).join('\n');
  t.same(parsePingOutput(ok(`${three}\n64 bytes from ::1: icmp_seq=3 ttl=64 time=9.9 ms (DUP!)\n`)), { rtts: [0.015, 0.025, 0.035], ttl: 64 });
  t.same(parsePingOutput(ok('64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=1,5 ms\n')), { rtts: [1.5], ttl: 64 }, 'decimal comma');
  const unreachable = 'PING 198.18.0.200 (198.18.0.200) 56(84) bytes of data.\nFrom 198.18.0.1 icmp_seq=1 Destination Host Unreachable\n';
  t.same(parsePingOutput({ code: 1, stdout: unreachable, stderr: '' }), { rtts: [], reason: 'host-unreachable' });
  const v6 = 'From fd00:198:18::1 icmp_seq=1 Destination unreachable: Address unreachable\n';
  t.same(parsePingOutput({ code: 1, stdout: v6, stderr: '' }), { rtts: [], reason: 'host-unreachable' });
  t.same(parsePingOutput({ code: 1, stdout: 'From 198.18.0.1 icmp_seq=1 Time to live exceeded\n', stderr: '' }), { rtts: [], reason: 'time-exceeded' });
  t.same(parsePingOutput({ code: 1, stdout: 'From 198.18.0.1 icmp_seq=1 Frag needed and DF set\n', stderr: '' }), { rtts: [], reason: 'frag-needed-and-df-set' });
  t.same(parsePingOutput({ code: 1, stdout: 'PING x\n', stderr: '' }), { rtts: [] }, 'silence has no reason');
  t.same(parsePingOutput({ code: 2, stdout: '', stderr: 'ping: connect: Network is unreachable\n' }), { rtts: [], reason: 'send failed: Network is unreachable' });
  t.same(parsePingOutput({ code: null, stdout: '', stderr: '' }), { rtts: [], reason: 'send failed: ping exited with null' });
});

/** A fake ping: answers from a script keyed by call number, recording the arguments. */
function fakePing(script: (args: string[], call: number) => PingRun): RunPing & { calls: string[][] } {
  const calls: string[][] = [];
  const run = async (args: string[]): Promise<PingRun> => {
    calls.push(args);
    return script(args, calls.length);
  };
  return Object.assign(run, { calls });
}

const ONE = { timeoutMs: 500, retries: 2, backoff: 1.5, count: 1 };

t.test('the fallback tries like the engine: -W grows by the backoff, an answer stops it', async (t) => {
  const ping = fakePing((_args, call) => (call < 3 ? { code: 1, stdout: '', stderr: '' } : ok(REPLY)));
  const result = await lastValueFrom(pingCommandProbe(ping, '127.0.0.1', 4, ONE));
  t.same(result, { rtts: [0.085], sent: 3, ttl: 64 });
  t.same(ping.calls.map((args) => args.join(' ')), [
    '-4 -n -c 1 -W 0.500 127.0.0.1',
    '-4 -n -c 1 -W 0.750 127.0.0.1',
    '-4 -n -c 1 -W 1.125 127.0.0.1',
  ]);
  const silent = fakePing(() => ({ code: 1, stdout: '', stderr: '' }));
  t.same(await lastValueFrom(pingCommandProbe(silent, '::1', 6, ONE)), { rtts: [], sent: 3 });
  const refused = fakePing(() => ({ code: 1, stdout: 'From ::1 icmp_seq=1 Destination unreachable: No route\n', stderr: '' }));
  t.same(await lastValueFrom(pingCommandProbe(refused, '::1', 6, ONE)), { rtts: [], sent: 1, reason: 'net-unreachable' });
  const counted = fakePing(() => ok(REPLY.replace('time=0.085', 'time=0.5')));
  t.same(await lastValueFrom(pingCommandProbe(counted, '::1', 6, { ...ONE, count: 3 })), { rtts: [0.5], sent: 3 }, 'no IPv6 ttl');
  t.same(counted.calls, [['-6', '-n', '-c', '3', '-W', '0.500', '-i', '0.2', '::1']]);
});

t.test('unsubscribing kills the ping in flight', async (t) => {
  let signal: AbortSignal | undefined;
  const hanging: RunPing = (_args, given) => {
    signal = given;
    return new Promise(() => undefined);
  };
  pingCommandProbe(hanging, '127.0.0.1', 4, ONE).subscribe().unsubscribe();
  t.equal(signal?.aborted, true);
});

const denied: () => Promise<OpenIcmpSocket> = async () => () => {
  throw new Error('Operation not permitted');
};

t.test('without raw socket privilege the sweep says so once and uses ping, same records', async (t) => {
  const logs: string[] = [];
  const ping = fakePing((args) => (args.includes('127.0.0.3') ? { code: 1, stdout: '', stderr: '' } : ok(REPLY)));
  const targets = ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((ip) => ({ ip, tag: ip.slice(-1) }));
  const sweep = discoverySweep(targets, { neighbours: false, concurrency: 2, timeoutMs: 100, retries: 0, count: 1, all: true, loadSocket: denied, runPing: ping, log: (m) => logs.push(m) });
  const records = await lastValueFrom(sweep.records.pipe(toArray()));
  t.same(records.sort((a, b) => String(a.ip).localeCompare(String(b.ip))), [
    { ip: '127.0.0.1', tag: '1', alive: true, rtt: 0.085, ttl: 64, method: 'icmp' },
    { ip: '127.0.0.2', tag: '2', alive: true, rtt: 0.085, ttl: 64, method: 'icmp' },
    { ip: '127.0.0.3', tag: '3', alive: false },
  ]);
  t.equal(logs.length, 1);
  t.match(logs[0], /no permission for raw ICMP sockets \(Operation not permitted\): pinging through the system ping binary/);
  t.match(sweep.stats, { hosts: 3, alive: 2, sent: 3, method: 'ping', byMethod: { icmp: 2, tcp: 0, neighbour: 0 } });
  t.same(ping.calls[0], ['-4', '-n', '-c', '1', '-W', '1', '127.0.0.1'], 'ping is checked on loopback first');
});

t.test('with neither raw sockets nor a working ping: a PrivilegeError saying how to grant it', async (t) => {
  const broken = fakePing(() => ({ code: 2, stdout: '', stderr: 'ping: socket: Operation not permitted\n' }));
  const sweep = discoverySweep([{ ip: '127.0.0.9' }], { neighbours: false, concurrency: 1, timeoutMs: 100, retries: 0, count: 1, loadSocket: denied, runPing: broken });
  await t.rejects(lastValueFrom(sweep.records.pipe(toArray())), PrivilegeError);
  await t.rejects(lastValueFrom(sweep.records), /ping binary cannot send either \(ping: socket: Operation not permitted\); run as root, or .*setcap cap_net_raw\+ep/);
  t.same(broken.calls.map((args) => args[args.length - 1]), ['127.0.0.1', '127.0.0.1'], 'only the loopback check ran, no target');
  const missing = async (): Promise<OpenIcmpSocket> => {
    throw new Error('Cannot find module');
  };
  const forced = discoverySweep([{ ip: '127.0.0.1' }], { neighbours: false, concurrency: 1, timeoutMs: 100, retries: 0, count: 1, method: 'raw', loadSocket: missing });
  await t.rejects(lastValueFrom(forced.records), /cannot open a raw ICMP socket: Cannot find module/);
});

t.test('records: input fields kept, earlier findings replaced, -c stats', async (t) => {
  const target = { ip: '127.0.0.1', name: 'a', rtt: 99, reason: 'old', alive: false };
  t.same(hostRecord(target, { rtts: [0.1234], sent: 1, ttl: 64 }, 1), { ip: '127.0.0.1', name: 'a', alive: true, rtt: 0.123, ttl: 64 });
  t.same(hostRecord(target, { rtts: [], sent: 3, reason: 'host-unreachable' }, 1), { ip: '127.0.0.1', name: 'a', alive: false, reason: 'host-unreachable' });
  t.same(hostRecord({ ip: '::1' }, { rtts: [1, 2, 6], sent: 4 }, 4), {
    ip: '::1',
    alive: true,
    rtt: 3,
    sent: 4,
    received: 3,
    loss: 25,
    rttMin: 1,
    rttAvg: 3,
    rttMax: 6,
  });
  t.same(hostRecord({ ip: '::1' }, { rtts: [], sent: 3 }, 3), { ip: '::1', alive: false, sent: 3, received: 0, loss: 100 });
});
