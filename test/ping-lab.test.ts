// pingprobe inside the test lab (test/lab.ts): every packet stays in namespaces this test creates.
import t from 'tap';
import { binPath, buildLab, collect, labUnavailable, SUBNET4, SUBNET6, type Lab } from './lab.js';

type Row = Record<string, unknown>;

const parse = (stdout: string): Map<string, Row> =>
  new Map(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Row)
      .map((row) => [String(row.ip), row]),
  );

/** Lab addresses no host holds: ARP and neighbour discovery go unanswered. */
const DEAD6 = Array.from({ length: 5 }, (_, i) => `${SUBNET6}${(0xc8 + i).toString(16)}`);

const PINGPROBE = binPath('pingprobe');
// The engine under test: ours (the default) here; ping-lab-native.test.ts runs this file again on raw-socket.
const ENGINE = process.env.PMAP_TEST_PING_ENGINE ?? 'native';
// As user nobody, without coverage (tap's hook or ours, fixtures/child-coverage.ts; NODE_V8_COVERAGE too): writing to root's .tap/ would fail at exit.
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

async function timed(lab: Lab, argv: string[], input?: string) {
  const started = performance.now();
  // pingprobe itself runs in-process in the lab's runner (test/harness.ts); as another user it is spawned.
  const run = argv[0] === PINGPROBE ? await lab.runIn('pingprobe', argv.slice(1), input) : await collect(lab.spawn(argv[0]!, argv.slice(1)), input);
  return { ...run, ms: performance.now() - started, rows: parse(run.stdout) };
}

const classify = { skip: labUnavailable({ dropIcmp: [1] }) ?? false };

t.test('live, dead and ICMP-dropping hosts are classified exactly, IPv4 and IPv6', classify, async (t) => {
  const lab = await buildLab({ hosts: 4, dropIcmp: [1] });
  t.teardown(() => lab.close());
  const live = [0, 2, 3].flatMap((i) => [lab.hosts[i]!, lab.hosts6[i]!]);
  const dropping = [lab.hosts[1]!, lab.hosts6[1]!];
  const dead = [...lab.dead, ...DEAD6];
  // An unreachable route in the scanner namespace: the kernel refuses the send, nothing leaves.
  const unroutable = [`${SUBNET4}.250`, `${SUBNET6}fa`];
  await lab.run('ip', ['route', 'add', 'unreachable', `${unroutable[0]}/32`]);
  await lab.run('ip', ['-6', 'route', 'add', 'unreachable', `${unroutable[1]}/128`]);
  const targets = [...live, ...dropping, ...dead, ...unroutable];
  const checkRows = (rows: Map<string, Row>, how: string): void => {
    t.same([...rows.keys()].sort(), [...targets].sort(), `${how}: one record per target`);
    for (const ip of live) t.match(rows.get(ip), { ip, alive: true, rtt: Number }, `${how}: ${ip} alive`);
    for (const ip of lab.hosts.filter((_, i) => i !== 1)) t.equal(rows.get(ip)?.ttl, 64, `${how}: ${ip} ttl`);
    // A host that drops echo requests still answers ARP/NDP: up by the neighbour table. An address
    // no one holds may get host-unreachable from our own stack once ARP/ND give up (about 3 s), or
    // time out first.
    for (const ip of dropping) t.same(rows.get(ip), { ip, alive: true, method: 'neighbour' }, `${how}: ${ip} up by neighbour`);
    for (const ip of unroutable) t.same(rows.get(ip), { ip, alive: false, reason: 'send failed: No route to host' }, `${how}: ${ip} unroutable`);
    for (const ip of dead) {
      const row = rows.get(ip);
      t.equal(row?.alive, false, `${how}: ${ip} not alive`);
      t.ok(row?.reason === undefined || row.reason === 'host-unreachable', `${how}: ${ip} reason ${row?.reason}`);
    }
  };

  // Defaults (-t 1000 -r 2, backoff 1.5): a silent host costs at most 1000 + 1500 + 2250 ms.
  const raw = await timed(lab, [PINGPROBE, '--engine', ENGINE, '--all', '-v', ...targets]);
  t.equal(raw.code, 0, raw.stderr);
  checkRows(raw.rows, 'raw');
  t.match(raw.stderr, `(${ENGINE} ICMP)`);
  // What a silent host costs is the bench's to measure (no wall time here): its tries are bounded
  // by -r 2, and the core's window holds every target at once, so none waits for another.
  const tries = /(\d+) tries sent, up to (\d+) per target/.exec(raw.stderr);
  t.ok(tries !== null && Number(tries[2]) <= 3, `at most 3 tries per silent host (${tries?.[0]})`);
  const window = Number(/window (\d+)/.exec(raw.stderr)?.[1] ?? 0);
  t.ok(window >= targets.length, `window ${window}: the ${targets.length} targets in flight together`);
  t.comment(`silent hosts cost ${Math.round(raw.ms)} ms in all`);

  // -t 1000: one ping(8) process per host, and on a loaded machine 300 ms did not always cover its
  // start-up and the answer (live hosts came out up by the neighbour table, without rtt).
  const fallback = await timed(lab, [...AS_NOBODY, PINGPROBE, '--engine', ENGINE, '--all', '-t', '1000', '-r', '1', ...targets]);
  t.equal(fallback.code, 0, fallback.stderr);
  t.match(fallback.stderr, /no permission for raw ICMP sockets/);
  checkRows(fallback.rows, 'ping fallback');
});

const lossy = { skip: labUnavailable({ loss: 0.05 }) ?? false };

t.test('with 5% loss the default retries find every live host, again and again', lossy, async (t) => {
  const lab = await buildLab({ hosts: 10, loss: 0.05 });
  t.teardown(() => lab.close());
  const live = [...lab.hosts, ...lab.hosts6];
  // The loss is real: 20 echoes to each host without retries lose some (expected 5%, 400 echoes).
  const counted = await timed(lab, [PINGPROBE, '--engine', ENGINE, '-c', '20', '-t', '200', ...live]);
  const received = [...counted.rows.values()].reduce((sum, row) => sum + Number(row.received), 0);
  t.ok(received < 400 && received > 300, `${received} of 400 echoes answered`);
  let retried = 0;
  for (let round = 1; round <= 3; round++) {
    const run = await timed(lab, [PINGPROBE, '--engine', ENGINE, '-v', '-t', '300', ...live]);
    t.equal(run.code, 0, run.stderr);
    t.same([...run.rows.keys()].sort(), [...live].sort(), `round ${round}: every live host found`);
    retried += Number(/(\d+) echoes sent/.exec(run.stderr)?.[1] ?? 0) - live.length;
  }
  t.comment(`${retried} retries were needed over 3 rounds`);
});

t.test('--ordered writes hosts in input order; without it, as they answer', classify, async (t) => {
  const lab = await buildLab({ hosts: 2 });
  t.teardown(() => lab.close());
  // A dead address first: it answers last, after its timeout and retries.
  const input = [lab.dead[0]!, lab.hosts[0]!, lab.hosts[1]!].join('\n');
  const order = (stdout: string): string[] => stdout.split('\n').filter(Boolean).map((line) => String((JSON.parse(line) as Row).ip));
  const ordered = await lab.runIn('pingprobe', ['--engine', ENGINE, '--all', '--ordered', '-t', '200', '-r', '1'], input);
  t.same(order(ordered.stdout), [lab.dead[0], lab.hosts[0], lab.hosts[1]]);
  const asAnswered = await lab.runIn('pingprobe', ['--engine', ENGINE, '--all', '-t', '200', '-r', '1'], input);
  t.equal(order(asAnswered.stdout).at(-1), lab.dead[0], 'the silent host comes out last');
});

t.test('a /24 of mostly dead hosts costs one timeout x tries in all, not per host', classify, async (t) => {
  const lab = await buildLab({ hosts: 8 });
  t.teardown(() => lab.close());
  // 245 silent addresses: their echoes wait in the ARP queue, which once filled the socket's send
  // buffer and stalled every send for seconds (10 s for this sweep before SO_SNDBUFFORCE).
  const run = await lab.runIn('pingprobe', ['--engine', ENGINE, '-v', '-n', '256', '-t', '300', '-r', '1', `${SUBNET4}.2-254`]);
  t.equal(run.code, 0, run.stderr);
  t.same([...parse(run.stdout).keys()].sort(), [...lab.hosts].sort());
  // Not a wall time: the stall this guards against (10 s) held the live hosts' echoes behind the
  // silent ones' in a full send buffer, past their 300 ms + 450 ms of tries, so they came out up
  // by the neighbour table or not at all. Every live host must have answered its echo.
  const n = lab.hosts.length;
  t.match(run.stderr, new RegExp(`253 hosts, ${n} alive \\(${n} by icmp\\)`), 'every live host answered an echo in time');
  for (const row of parse(run.stdout).values()) t.match(row, { alive: true, rtt: Number }, `${row.ip} has an echo rtt`);
});
