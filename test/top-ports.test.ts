import t from 'tap';
import { TOP_TCP_PORTS, topPorts } from '../lib/targets/top-ports.js';
import { runIn } from './harness.js';
import { } from './lab.js';

t.test('the ranked table: 1000 distinct ports, the usual suspects first', async (t) => {
  t.equal(TOP_TCP_PORTS.length, 1000);
  t.equal(new Set(TOP_TCP_PORTS).size, 1000);
  t.ok(TOP_TCP_PORTS.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535));
  t.same(topPorts(3), [80, 23, 443]);
  // The ports the issue missed in 1-1024 are in the top 100.
  for (const port of [3306, 8080, 3389, 5900]) t.ok(topPorts(100).includes(port), `${port} in the top 100`);
  for (const bad of [0, 1001, 1.5]) t.throws(() => topPorts(bad), /--top-ports must be 1-1000/);
});

t.test('tcpprobe --top-ports: tried most popular first; bad counts exit 2', async (t) => {
  // One connect at a time, so the output order is the order tried.
  const run = await runIn('tcpprobe', ['--top-ports', '12', '-n', '1', '--all', '-t', '300', '127.0.0.1']);
  const ports = run.stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { port: number }).port);
  t.same(ports, TOP_TCP_PORTS.slice(0, 12));
  for (const [args, message] of [
    [['--top-ports', '0'], 'tcpprobe: --top-ports must be 1-1000 (the ranked table\'s size), not "0"'],
    [['--top-ports', '1001'], 'tcpprobe: --top-ports must be 1-1000 (the ranked table\'s size), not "1001"'],
    [['--top-ports', 'x'], 'tcpprobe: --top-ports must be 1-1000 (the ranked table\'s size), not "x"'],
    [['--top-ports', '5', '-p', '22'], 'tcpprobe: -p 22 and --top-ports 5: give one'],
  ] as const) {
    const result = await runIn('tcpprobe', [...args, '127.0.0.1']);
    t.equal(result.stderr.split('\n')[0], message);
    t.equal(result.code, 2);
  }
});

t.test('pmap -F scans the top 100, in every mode', async (t) => {
  for (const mode of ['async', 'proc']) {
    const run = await runIn('pmap', ['-f', 'tcp', '-F', '-ip', '127.0.0.1', '--json', '--all', '-t', '300', '-m', mode]);
    const ports = run.stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { port: number }).port);
    t.same([...ports].sort((a, b) => a - b), topPorts(100).sort((a, b) => a - b), mode);
  }
});
