// tcpprobe on loopback: the real bin through real pipes, against listeners this test opens. It runs
// in a namespace of its own with only a loopback, so exact counts hold whatever else listens on
// this machine's loopback (other test files run in parallel).
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, collect, labUnavailable, loopbackNamespace } from './lab.js';

// The engine under test: the addon (the default) here; tcpprobe-native.test.ts runs this file again on node:net.
const ENGINE = process.env.PMAP_TEST_TCP_ENGINE ?? 'native';
const ENGINE_SAID = `tcpprobe: engine: ${ENGINE} (`;

const noNamespace = labUnavailable();
if (noNamespace) {
  t.plan(0, `skipped: ${noNamespace}`);
  process.exit(0);
}
const ns = loopbackNamespace();
t.teardown(ns.close);
// What the scan finds runs in-process in the namespace's runner (test/harness.ts); the process
// itself (terminal, fd limits, pipes, signals) is spawned below.
const runBin = (name: 'tcpprobe', args: string[], input?: string): ReturnType<typeof collect> => ns.runIn(name, ['--engine', ENGINE, ...args], input);
const spawn = (command: string, args: string[]): ChildProcessWithoutNullStreams => ns.spawn(command, args) as ChildProcessWithoutNullStreams;

// Any address of 127/8 is loopback; one other than 127.0.0.1 shows the whole range is scanned.
const V4 = '127.77.0.1';
const base = 20000;

const lines = (text: string): unknown[] => text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
const withoutRtt = (records: unknown[]): unknown[] =>
  records.map((record) => {
    const { rtt, ...fields } = record as Record<string, unknown>;
    return { ...fields, rtt: typeof rtt, ...(fields.tcp_rtt === undefined ? {} : { tcp_rtt: typeof fields.tcp_rtt }) };
  });

const offsets = [3, 5, 1000];
await ns.listen(offsets.flatMap((offset) => [`${V4}:${base + offset}`, `[::1]:${base + offset}`]));
const open = offsets.map((offset) => base + offset);

t.test('finds exactly the open ports, on IPv4 and IPv6', async (t) => {
  const result = await runBin('tcpprobe', ['-p', `${base}-${base + 10}`, '--ordered', V4, '::1']);
  t.equal(result.code, 0, result.stderr);
  t.same(withoutRtt(lines(result.stdout)), [
    { ip: V4, port: base + 3, state: 'open', rtt: 'number' },
    { ip: V4, port: base + 5, state: 'open', rtt: 'number' },
    { ip: '::1', port: base + 3, state: 'open', rtt: 'number' },
    { ip: '::1', port: base + 5, state: 'open', rtt: 'number' },
  ]);
  t.equal(result.stderr, '');
});

t.test('--all adds closed ports, every port once', async (t) => {
  const result = await runBin('tcpprobe', ['-p', `${base + 2}-${base + 6}`, '--all', V4]);
  t.equal(result.code, 0);
  const found = (lines(result.stdout) as { port: number; state: string }[]).sort((a, b) => a.port - b.port);
  t.same(
    found.map(({ port, state }) => `${port - base} ${state}`),
    ['2 closed', '3 open', '4 closed', '5 open', '6 closed'],
  );
});

t.test('records in, records out: fields kept, own port only, alive:false skipped, bad lines reported', async (t) => {
  const input = [
    JSON.stringify({ ip: V4, alive: true, rtt: 0.25, ttl: 64, name: 'a' }),
    'not an ip',
    JSON.stringify({ ip: '0:0:0:0:0:0:0:1', port: base + 1000, state: 'open', note: 'recheck' }),
    JSON.stringify({ ip: V4, port: 70000 }),
    JSON.stringify({ ip: '127.0.0.9', alive: false }),
    '',
    '::1',
  ].join('\n');
  const result = await runBin('tcpprobe', ['-p', `${base + 3},${base + 4}`, '--ordered', '--all'], input);
  t.equal(result.code, 2, 'bad input lines make the exit status 2');
  t.same(result.stderr.split('\n').filter(Boolean), [
    'tcpprobe: stdin:2: bad target "not an ip": not an IP address, range or CIDR',
    'tcpprobe: stdin:4: "port" must be a whole number 1-65535, not 70000',
  ]);
  t.same(withoutRtt(lines(result.stdout)), [
    // The ping's rtt stays; the port's own is tcp_rtt (README "Fields through a pipeline").
    { ip: V4, alive: true, ttl: 64, name: 'a', port: base + 3, state: 'open', rtt: 'number', tcp_rtt: 'number' },
    { ip: V4, alive: true, ttl: 64, name: 'a', port: base + 4, state: 'closed', rtt: 'number', tcp_rtt: 'number' },
    { ip: '::1', port: base + 1000, state: 'open', note: 'recheck', rtt: 'number' },
    { ip: '::1', port: base + 3, state: 'open', rtt: 'number' },
    { ip: '::1', port: base + 4, state: 'closed', rtt: 'number' },
  ]);
});

// Flag errors need no namespace and no process: in the test process (test/harness.ts).
t.test('bad port specs exit 2 naming the spec', async (t) => {
  const cases: [string, string][] = [
    ['0', 'bad port "0": port must be 1-65535'],
    ['65536', 'bad port "65536": port must be 1-65535'],
    ['80-20', 'bad port "80-20": the range ends before it starts'],
    ['abc', 'bad port "abc": not a port number'],
    ['22,x', 'bad port "x": not a port number'],
  ];
  for (const [spec, message] of cases) {
    const result = await runIn('tcpprobe', ['--engine', ENGINE, '-p', spec, V4]);
    t.equal(result.code, 2, spec);
    t.equal(result.stdout, '', `${spec}: nothing scanned`);
    t.equal(result.stderr.split('\n')[0], `tcpprobe: ${message}`, spec);
  }
});

t.test('usage errors exit 2', async (t) => {
  for (const args of [['-n', '0', V4], ['-t', 'x', V4], ['--bogus', V4], ['999.1.1.1']]) {
    const result = await runIn('tcpprobe', ['--engine', ENGINE, ...args]);
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, /^tcpprobe: /);
  }
  t.equal((await runIn('tcpprobe', ['--engine', ENGINE, '-r', '0', '-p', String(base + 3), V4])).code, 0, '-r 0 is allowed');
});

t.test('-v: counts on stderr', async (t) => {
  const result = await runBin('tcpprobe', ['-v', '-p', `${base}-${base + 9}`, V4]);
  t.equal(result.code, 0);
  t.ok(result.stderr.startsWith(ENGINE_SAID), result.stderr);
  const counts = 'tcpprobe: 1 hosts, 10 ports tried, 2 open, 8 closed, 0 filtered, 0 hosts unreachable, \\d+ ports\\/s; ';
  // Both engines run under the timing core: -v gives its summary.
  const timing = 'timing: srtt [\\d.]+ ms, rttvar [\\d.]+ ms, timeout [\\d.]+ ms; 10 tries sent, up to 1 per target; 0 of 10 answers came to a retransmission \\(0\\.0% loss seen\\), window 500';
  t.match(result.stderr, new RegExp(`\\n${counts}${timing}, elapsed [\\d.]+ s\\n$`));
});

t.test('a terminal on stderr gets a progress line, cleared before the -v summary', async (t) => {
  const hasScript = await collect(spawn('sh', ['-c', 'command -v script']));
  if (hasScript.code !== 0) return t.plan(0, 'script(1) is not installed');
  // 20000-22999 holds our three listeners; --rate 6000 keeps the scan on for at least 0.5 s, two of
  // the 250 ms redraws (lib/progress.ts), however fast the engine (-n 1 alone once took 0.23 s).
  const command = `"${binPath('tcpprobe')}" --engine ${ENGINE} -v -n 1 --rate 6000 -p 20000-22999 ${V4} >/dev/null`;
  const result = await collect(spawn('script', ['-qec', command, '/dev/null']));
  t.equal(result.code, 0);
  t.match(result.stdout, /^tcpprobe: engine: [^\r\n]*\r?\n\r\x1b\[Ktcpprobe: \d+\/3000 ports \(\d+\.\d%\), [\d.]+\/s, \d+:\d\d left, \d open/, 'progress drawn (lib/progress.ts)');
  t.match(result.stdout, /\r\x1b\[Ktcpprobe: 1 hosts, 3000 ports tried, 3 open, 2997 closed, .* elapsed [\d.]+ s\r?\n$/, 'wiped before the summary');
});

t.test('-n far above ulimit -n finishes with the right answer, and says so', async (t) => {
  const child = spawn('sh', ['-c', `ulimit -n 128 && exec "$0" "$@"`, binPath('tcpprobe'), '--engine', ENGINE, '-v', '-n', '50000', '-p', `${base}-${base + 3000}`, V4, '::1']);
  const result = await collect(child);
  t.equal(result.code, 0, result.stderr);
  const found = (lines(result.stdout) as { ip: string; port: number }[]).map(({ ip, port }) => `${ip} ${port}`).sort();
  t.same(found, [V4, '::1'].flatMap((ip) => open.map((port) => `${ip} ${port}`)).sort());
  t.match(result.stderr, 'tcpprobe: -n 50000 is more than the open-file limit (ulimit -n 128) allows: at most 64 connects in flight\n');
  t.match(result.stderr, /2 hosts, 6002 ports tried, 6 open, 5996 closed, 0 filtered/);
});

t.test('real EMFILE storms (no clamp, 5000 in flight, ulimit -n 100) still give the right answer', async (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/tcp-scan.js', import.meta.url));
  const child = spawn('sh', ['-c', 'ulimit -n 100 && exec "$0" "$@"', process.execPath, fixture, ENGINE, '5000', `${base}-${base + 3000}`, V4, '::1']);
  const result = await collect(child);
  t.equal(result.code, 0, result.stderr);
  const found = (lines(result.stdout) as { ip: string; port: number }[]).map(({ ip, port }) => `${ip} ${port}`).sort();
  t.same(found, [V4, '::1'].flatMap((ip) => open.map((port) => `${ip} ${port}`)).sort());
  // node:net holds a descriptor per connect in flight and meets EMFILE; the addon's thread reuses
  // sockets whose answer came at once, so on loopback it may never run out (lib/native/tcp.ts is
  // driven through EMFILE by native-tcp.test.ts).
  if (ENGINE === 'net') t.match(result.stderr, /\nout of local resources, lowering sockets in flight from 5000 to \d+\n/);
  t.match(result.stderr, /2 hosts, 6002 ports tried, 6 open, 5996 closed, 0 filtered/);
});

t.test('a closed stdout (| head -1) ends quietly with status 0', async (t) => {
  const child = spawn('bash', ['-c', `"${binPath('tcpprobe')}" --engine ${ENGINE} --all -p 20000-40000 ${V4} | head -1; echo "status \${PIPESTATUS[0]}" >&2`]);
  const result = await collect(child);
  t.equal(lines(result.stdout).length, 1);
  t.equal(result.stderr, 'status 0\n');
});

t.test('SIGINT stops a scan quickly with 130', async (t) => {
  const child = spawn(binPath('tcpprobe'), ['--engine', ENGINE, '--all', '-p', '-', V4]);
  const done = collect(child);
  await once(child.stdout!, 'data');
  child.kill('SIGINT');
  const result = await done;
  t.equal(result.code, 130);
  // A SIGINT that did not stop the scan would let it write all 65535 ports (--all); the count says
  // so without a clock (a loaded machine made the old 3 s bound fail).
  const written = lines(result.stdout).length;
  t.ok(written < 65535, `stopped after ${written} of 65535 ports`);
});

t.test('SIGINT while waiting on stdin exits 130, keeping what was found', async (t) => {
  const child = spawn(binPath('tcpprobe'), ['--engine', ENGINE, '-p', String(base + 3)]);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stdin.write(`${V4}\n`);
  await once(child.stdout, 'data');
  child.kill('SIGINT');
  const [code] = (await once(child, 'close')) as [number | null];
  t.equal(code, 130);
  t.same(withoutRtt(lines(stdout)), [{ ip: V4, port: base + 3, state: 'open', rtt: 'number' }]);
});
