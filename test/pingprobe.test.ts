// The real pingprobe command on loopback (127.0.0.0/8 and ::1 only), through real pipes.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, collect } from './lab.js';

// The engine under test: ours (the default) here; pingprobe-native.test.ts runs this file again on raw-socket.
const ENGINE = process.env.PMAP_TEST_PING_ENGINE ?? 'native';
// In the test process (test/harness.ts); the process itself (pipes, SIGINT, another user) is tested with the real bin below.
const runPing = (args: string[], input?: string): ReturnType<typeof runIn> => runIn('pingprobe', ['--engine', ENGINE, ...args], input);

const records = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .sort((a, b) => (String(a.ip) < String(b.ip) ? -1 : 1));

const isRoot = process.getuid?.() === 0;

/** Why we cannot run the command as an ordinary user here, or null. */
function unprivilegedUnavailable(): string | null {
  if (!isRoot) return 'changing to another user needs root';
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', 'require("fs").accessSync(process.argv[1], 4)', binPath('pingprobe')], { stdio: 'ignore' });
    return null;
  } catch {
    return 'setpriv is missing, or bin/ is not readable by user 65534';
  }
}

// As user nobody, without coverage (tap's hook or ours, fixtures/child-coverage.ts; NODE_V8_COVERAGE too): writing to root's .tap/ would fail at exit.
const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

t.test('answering hosts from the arguments, IPv4 and IPv6', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const run = await runPing(['127.0.0.1-127.0.0.3', '::1']);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr, '');
  const out = records(run.stdout);
  t.same(out.map((r) => r.ip), ['127.0.0.1', '127.0.0.2', '127.0.0.3', '::1']);
  for (const record of out) {
    const v6 = String(record.ip).includes(':');
    t.same(Object.keys(record), v6 ? ['ip', 'alive', 'rtt', 'method'] : ['ip', 'alive', 'rtt', 'ttl', 'method'], `${record.ip} fields`);
    t.equal(record.alive, true);
    t.ok(typeof record.rtt === 'number' && record.rtt >= 0 && record.rtt < 1000, `rtt ${record.rtt}`);
    if (!v6) t.equal(record.ttl, 64, 'loopback replies leave with TTL 64');
  }
});

t.test('stdin records: fields pass through, bad lines are reported and skipped', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const input = ['{"ip":"127.0.0.2","name":"b","alive":false}', 'not_an_ip!', '127.0.0.3', '{"ip":"999.1.1.1"}', '', '{"ip":"0:0::1","n":[1]}'].join('\n');
  const run = await runPing(['--all'], `${input}\n`);
  t.equal(run.code, 2, 'input errors make status 2');
  // Not a plain word: that is a host name now, and resolving it would ask a real DNS server.
  t.match(run.stderr, /^pingprobe: stdin:2: bad target "not_an_ip!": not an IP address, range, CIDR or host name$/m);
  t.match(run.stderr, /^pingprobe: stdin:4: bad IP address "999\.1\.1\.1"$/m);
  t.equal(run.stderr.trim().split('\n').length, 2);
  const out = records(run.stdout);
  t.same(out.map((r) => ({ ...r, rtt: typeof r.rtt })), [
    // An earlier stage's "alive" is never overwritten: this sweep's answer is ping_alive (README).
    { ip: '127.0.0.2', name: 'b', alive: false, rtt: 'number', ttl: 64, method: 'icmp', ping_alive: true },
    { ip: '127.0.0.3', alive: true, rtt: 'number', ttl: 64, method: 'icmp' },
    { ip: '::1', n: [1], alive: true, rtt: 'number', method: 'icmp' },
  ]);
});

t.test('-c sends several echoes and reports loss and min/avg/max', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const run = await runPing(['-c', '4', '127.0.0.1', '::1']);
  t.equal(run.code, 0, run.stderr);
  for (const record of records(run.stdout)) {
    t.match(record, { alive: true, sent: 4, received: 4, loss: 0 });
    const [min, avg, max] = [record.rttMin, record.rttAvg, record.rttMax] as number[];
    t.ok(min! <= avg! && avg! <= max!, `${min} <= ${avg} <= ${max}`);
    t.equal(record.rtt, avg);
  }
});

t.test('a sweep of a /22 on loopback finds every address', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  // A timeout floor far above loopback's answer: a starved CPU must not turn a late answer into a retry.
  const run = await runPing(['-v', '--min-rtt', '2000', '127.0.4.0/22']);
  t.equal(run.code, 0);
  const out = records(run.stdout);
  t.equal(out.length, 1024);
  t.equal(new Set(out.map((r) => r.ip)).size, 1024);
  // Both engines run under the timing core: -v gives its summary.
  t.match(run.stderr, new RegExp(`1024 hosts, 1024 alive \\(1024 by icmp\\), 1024 echoes sent \\(${ENGINE} ICMP\\); timing: srtt [\\d.]+ ms, rttvar [\\d.]+ ms, timeout [\\d.]+ ms; 1024 tries sent, up to 1 per target; 0 of 1024 answers came to a retransmission \\(0\\.0% loss seen\\), window 256, elapsed`));
});

t.test('usage errors exit 2 naming the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [['-n', '0', '127.0.0.1'], /-n must be a whole number >= 1, not "0"/],
    [['-n', '70000', '127.0.0.1'], /-n must be at most 65535/],
    [['-t', 'x', '127.0.0.1'], /-t must be a number of milliseconds >= 1, not "x"/],
    [['-r', '-1', '127.0.0.1'], /-r must be a whole number 0-1000, not "-1"/],
    // Beyond setTimeout's 2^31-1 ms Node fires at once: refused, never a 1 ms timeout (#10 item 13).
    [['-t', '2147483648', '127.0.0.1'], /-t must be at most 2147483647 ms/],
    [['-T6', '127.0.0.1'], /-T must be 0, 1, 2, 3, 4 or 5 \(nmap's timing presets\), not "6"/],
    [['-T', 'x', '127.0.0.1'], /-T must be 0, 1, 2, 3, 4 or 5 .*, not "x"/],
    [['--rate', '0', '127.0.0.1'], /--rate must be a number of probes per second above 0, not "0"/],
    [['--rate', '-5', '127.0.0.1'], /--rate must be a number of probes per second above 0, not "-5"/],
    [['--min-rtt', '500', '--max-rtt', '100', '127.0.0.1'], /--min-rtt \(500\) must not be above --max-rtt \(100\)/],
    [['--max-rtt', 'abc', '127.0.0.1'], /--max-rtt must be a number of milliseconds >= 1, not "abc"/],
    [['--bogus', '127.0.0.1'], /unknown option --bogus/],
    [['300.1.1.1'], /bad target "300\.1\.1\.1"/],
  ];
  for (const [args, message] of cases) {
    const run = await runPing(args);
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message);
    t.equal(run.stdout, '');
  }
  const help = await runPing(['-h']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: pingprobe .*-c COUNT/s);
  t.match((await runPing(['--version'])).stdout, /^pingprobe \d+\.\d+\.\d+\n$/);
});

t.test('a closed stdout (| head -1) ends it quietly with status 0', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const script = `"${binPath('pingprobe')}" --engine ${ENGINE} 127.0.16.0/20 | head -1; echo "status \${PIPESTATUS[0]}"`;
  const run = await collect(spawn('bash', ['-c', script]));
  const lines = run.stdout.trim().split('\n');
  t.equal(lines.length, 2);
  t.match(JSON.parse(lines[0]!), { alive: true });
  t.equal(lines[1], 'status 0');
  t.equal(run.stderr, '');
});

t.test('records stream out as they come, and SIGINT exits 130', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const child = spawn(binPath('pingprobe'), ['--engine', ENGINE], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.write('127.0.0.7\n');
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  t.match(JSON.parse(chunk.toString()), { ip: '127.0.0.7', alive: true }, 'answered while stdin is still open');
  child.kill('SIGINT');
  const [code] = (await once(child, 'close')) as [number | null];
  t.equal(code, 130);
});

const unprivileged = { skip: unprivilegedUnavailable() ?? false };

t.test('as an ordinary user it says so once and pings through ping(8): same records', unprivileged, async (t) => {
  const run = await collect(spawn('setpriv', [...AS_NOBODY, binPath('pingprobe'), '--engine', ENGINE, '-c', '2', '127.0.0.1-127.0.0.2', '::1']));
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr.trim().split('\n').length, 1, 'one notice');
  t.match(run.stderr, /^pingprobe: no permission for raw ICMP sockets \(Operation not permitted\): pinging through the system ping binary/);
  const out = records(run.stdout);
  t.same(out.map((r) => Object.keys(r)), [
    ['ip', 'alive', 'rtt', 'ttl', 'sent', 'received', 'loss', 'rttMin', 'rttAvg', 'rttMax', 'method'],
    ['ip', 'alive', 'rtt', 'ttl', 'sent', 'received', 'loss', 'rttMin', 'rttAvg', 'rttMax', 'method'],
    ['ip', 'alive', 'rtt', 'sent', 'received', 'loss', 'rttMin', 'rttAvg', 'rttMax', 'method'],
  ]);
  t.match(out, [{ ip: '127.0.0.1', alive: true, ttl: 64, sent: 2 }, { ip: '127.0.0.2', alive: true, ttl: 64, sent: 2 }, { ip: '::1', alive: true, sent: 2 }]);
  // Loss is ping(8)'s count: after its last echo it waits max(2 x RTT, -i) = 200 ms for the reply
  // (iputils' schedule_exit), and a ping held up longer on a loaded machine exits with the reply
  // unread (seen once in a full suite run: 127.0.0.2 'received 1', loss 50).
  for (const record of out) t.ok(record.received === 2 ? record.loss === 0 : record.received === 1 && record.loss === 50, `${record.ip}: ${record.received} of 2, loss ${record.loss}`);
});

t.test('as an ordinary user without ping(8) it exits 1 saying how to grant the capability', unprivileged, async (t) => {
  const child = spawn('/usr/bin/setpriv', [...AS_NOBODY, process.execPath, binPath('pingprobe'), '--engine', ENGINE, '127.0.0.1'], { env: { PATH: '/nonexistent' } });
  const run = await collect(child);
  t.equal(run.code, 1);
  t.equal(run.stdout, '');
  t.match(run.stderr, /no permission for raw ICMP sockets \(Operation not permitted\), and the ping binary cannot send either/);
  t.match(run.stderr, /setcap cap_net_raw\+ep/);
});
