// The progress line: its words from a fake clock, then the real commands on a pseudo-terminal
// (script(1) gives them one), and never on a pipe.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { clock, ProgressMeter } from '../lib/progress.js';
import { binPath, collect, has } from './lab.js';

t.test('done/total, percentage, rate over the last seconds, time left, finds', async (t) => {
  let now = 0;
  const meter = new ProgressMeter({ unit: 'ports', found: 'open' }, () => now);
  t.equal(meter.line({ done: 0, total: 3000, found: 0 }), '0/3000 ports (0.0%), 0 open', 'no rate before time has passed');
  now = 1000;
  t.equal(meter.line({ done: 500, total: 3000, found: 2 }), '500/3000 ports (16.7%), 500/s, 0:05 left, 2 open');
  now = 7000;
  // The rate is measured from the newest sample at least 5 s old (1 s here): (2500-500)/6 s.
  t.equal(meter.line({ done: 2500, total: 3000, found: 3 }), '2500/3000 ports (83.3%), 333/s, 0:02 left, 3 open');
  now = 9000;
  // The base is still the sample at 1 s: (2600-500)/8 s.
  t.equal(meter.line({ done: 2600, total: 3000, found: 3 }), '2600/3000 ports (86.7%), 263/s, 0:02 left, 3 open');
  now = 13_000;
  // Now the sample at 7 s is the newest one at least 5 s old: (2700-2500)/6 s, a slowdown shown.
  t.equal(meter.line({ done: 2700, total: 3000, found: 3 }), '2700/3000 ports (90.0%), 33.3/s, 0:09 left, 3 open');
  const stdin = new ProgressMeter({ unit: 'hosts', found: 'up' }, () => now);
  now = 10_000;
  stdin.line({ done: 10, found: 1 });
  now = 12_000;
  t.equal(stdin.line({ done: 30, found: 4 }), '30 hosts, 10.0/s, 4 up', 'no total (targets on stdin): no percentage, no time left');
});

t.test('time left reads as m:ss or h:mm:ss', async (t) => {
  t.equal(clock(0), '0:00');
  t.equal(clock(59.6), '1:00');
  t.equal(clock(3599), '59:59');
  t.equal(clock(3600 * 26 + 61), '26:01:01');
});

const noScript = has('script') ? false : 'script(1) is not installed (util-linux)';
const PROGRESS = /\r\x1b\[K(\w+): (\d+)\/(\d+) (ports|hosts) \((\d+\.\d)%\), ([\d.]+)\/s, (\d+:\d\d(?::\d\d)?) left, (\d+) (open|up)/;

/** A command on a pseudo-terminal (stdin, stdout and stderr all the terminal), read until `until` matches. */
async function onTerminal(command: string, until: RegExp): Promise<{ text: string; match: RegExpExecArray | null }> {
  const child: ChildProcess = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const closed = once(child, 'close');
  let match: RegExpExecArray | null = null;
  while (!(match = until.exec(text))) {
    const step = await Promise.race([once(child.stdout!, 'data').then(() => 'data'), closed.then(() => 'closed')]);
    if (step === 'closed') break;
  }
  // SIGTERM the command inside the terminal, not script: script took 2 s to pass a SIGTERM on and
  // end (5 s for SIGHUP), while the command itself ends at once and script then follows it.
  for (const pid of descendants(child.pid!)) process.kill(pid, 'SIGTERM');
  await closed;
  return { text, match };
}

/** The processes under `pid`, children first (/proc/PID/task/TID/children, Linux 3.5+). */
function descendants(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return []; // already gone
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

t.test('pmap on a terminal: the line redrawn with every part, on stderr', { skip: noScript }, async (t) => {
  const { text, match } = await onTerminal(`${binPath('pmap')} -n 1 -f tcp -ip 127.0.0.1 -p 1-65535`, PROGRESS);
  t.ok(match, `a progress line in: ${JSON.stringify(text.slice(0, 300))}`);
  if (!match) return;
  t.equal(match[1], 'pmap');
  t.equal(match[3], '65535');
  t.equal(match[4], 'ports');
  t.ok(Number(match[2]) <= 65535 && Number(match[6]) > 0, 'a count and a rate');
});

t.test('tcpprobe and pingprobe draw it too', { skip: noScript }, async (t) => {
  const tcp = await onTerminal(`${binPath('tcpprobe')} -n 1 -p - 127.0.0.1 > /dev/null`, PROGRESS);
  t.equal(tcp.match?.[1], 'tcpprobe', JSON.stringify(tcp.text.slice(0, 300)));
  t.equal(tcp.match?.[3], '65535');
  const root = process.getuid?.() === 0;
  t.test('pingprobe', { skip: root ? false : 'raw ICMP needs root here (the system ping fallback is too slow to sweep)' }, async (t) => {
    const ping = await onTerminal(`${binPath('pingprobe')} -n 1 127.0.0.0/16 > /dev/null`, PROGRESS);
    t.equal(ping.match?.[1], 'pingprobe', JSON.stringify(ping.text.slice(0, 300)));
    t.equal(ping.match?.[3], '65536');
    t.equal(ping.match?.[4], 'hosts');
    t.equal(ping.match?.[9], 'up');
  });
});

t.test('never on a pipe: stderr not a terminal, no progress line', async (t) => {
  const child = spawn(binPath('pmap'), ['-n', '1', '-f', 'tcp', '-ip', '127.0.0.1', '-p', '1-3000']);
  const result = await collect(child);
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  t.notMatch(result.stdout, /\r|\x1b\[K/);
});
