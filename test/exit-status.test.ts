// --fail: fping's exit status convention, opt-in. Without it a run that worked exits 0 whatever it
// found; with it a negative result exits 1, and usage errors and interrupts keep their codes.
import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { runIn, type CommandName } from './harness.js';
import { binPath, buildLab, labUnavailable, runBin } from './lab.js';

t.test('tcpprobe and pmap -f tcp: exit 1 with --fail when no port is open', async (t) => {
  const server = createServer((socket) => socket.on('error', () => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const open = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  // Now nothing listens on `open`: bound once, released.
  const closed = String(open);
  const listener = createServer((socket) => socket.on('error', () => undefined));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const listening = String((listener.address() as { port: number }).port);

  // The status each case ends with is the frame's (runMain): in-process (test/harness.ts) for the
  // table; one real process per command and status checks it end to end.
  const cases: Array<[CommandName, string[], number, 'spawn'?]> = [
    ['tcpprobe', ['-p', closed, '127.0.0.1'], 0, 'spawn'],
    ['tcpprobe', ['--fail', '-p', closed, '127.0.0.1'], 1, 'spawn'],
    ['tcpprobe', ['--fail', '-p', `${closed},${listening}`, '127.0.0.1'], 0],
    ['pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', closed], 0, 'spawn'],
    ['pmap', ['--fail', '-f', 'tcp', '-ip', '127.0.0.1', '-p', closed], 1, 'spawn'],
    ['pmap', ['--fail', '-f', 'tcp', '-ip', '127.0.0.1', '-p', `${closed},${listening}`], 0],
    ['pmap', ['--fail', '-f', 'tcp', '-ip', '127.0.0.1', '-p', '0'], 2, 'spawn'],
  ];
  for (const [command, args, code, spawned] of cases) {
    const result = spawned ? await runBin(command, args) : await runIn(command, args);
    t.equal(result.code, code, `${command} ${args.join(' ')}`);
  }
  const found = await runIn('tcpprobe', ['--fail', '-p', `${closed},${listening}`, '127.0.0.1']);
  t.same(JSON.parse(found.stdout), { ip: '127.0.0.1', port: Number(listening), state: 'open', rtt: JSON.parse(found.stdout).rtt }, 'the output is the same');
  const bad = await runIn('tcpprobe', ['--fail', '-p', closed], 'not an ip\n');
  t.equal(bad.code, 1, 'a negative result with a bad input line: --fail decides (1)');
  t.match(bad.stderr, /stdin:1/);
});

const noLab = labUnavailable() ?? false;

t.test('pingprobe and pmap -f ping: exit 1 with --fail when a target is down', { skip: noLab }, async (t) => {
  const lab = await buildLab({ hosts: 1 });
  t.teardown(() => lab.close());
  const up = lab.hosts[0] as string;
  const down = lab.dead[0] as string;
  const quick = ['-t', '200', '-r', '0'];
  const cases: Array<[CommandName, string[], number]> = [
    ['pingprobe', [...quick, up, down], 0],
    ['pingprobe', ['--fail', ...quick, up], 0],
    ['pingprobe', ['--fail', ...quick, up, down], 1],
    ['pmap', ['-f', 'ping', ...quick, '-ip', `${up},${down}`], 0],
    ['pmap', ['--fail', '-f', 'ping', ...quick, '-ip', up], 0],
    ['pmap', ['--fail', '-f', 'ping', ...quick, '-ip', `${up},${down}`], 1],
  ];
  // In-process in the lab's runner, but pingprobe's 1 from a real process (pmap's is in the first test).
  for (const [command, args, code] of cases) {
    const spawned = command === 'pingprobe' && code === 1;
    const result = spawned ? await lab.run(binPath(command), args) : await lab.runIn(command, args);
    t.equal(result.code, code, `${command} ${args.join(' ')}`);
    if (command === 'pingprobe') t.equal(result.stdout.trim().split('\n').length, 1, 'one live host written either way');
  }
});
