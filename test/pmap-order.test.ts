// pmap's order flags (#12): --shuffle/--seed/--shard/--resume-at as iprange takes them, and an
// interrupted scan that says where to resume; a rerun from there continues exactly.
import { spawn } from 'node:child_process';
import t from 'tap';
import { Permutation } from '../lib/targets/permutation.js';
import { ResumePoint } from '../lib/targets/resume.js';
import { binPath, collect, has, runBin } from './lab.js';

t.test('ResumePoint: the first position not finished, whatever order results come in', async (t) => {
  const resume = new ResumePoint(10);
  t.equal(resume.position, 10, 'nothing handed out: where it starts');
  resume.handOut(10, 'a', 13);
  resume.handOut(13, 'b', 16);
  resume.handOut(16, 'a', 19);
  t.equal(resume.position, 10);
  resume.finish('b');
  t.equal(resume.position, 10, 'a later target finishing does not move it');
  resume.finish('a');
  t.equal(resume.position, 16, 'the earliest position of an address given twice finishes first');
  resume.finish('a');
  t.equal(resume.position, 19, 'all finished: the next one to hand out');
  resume.finish('never handed out');
  t.equal(resume.position, 19);
});

const SEED = 424242;
const HOSTS = 16;
const PORTS = 1000;
// The order iprange --shuffle --seed SEED 127.0.0.0/28 gives: position -> address.
const permutation = new Permutation(HOSTS, SEED);
const order = Array.from({ length: HOSTS }, (_, position) => `127.0.0.${permutation.at(position)}`);

/** Port records per host of an NDJSON run. */
function perHost(stdout: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const record = JSON.parse(line) as { ip: string; port?: number };
    if (record.port !== undefined) counts.set(record.ip, (counts.get(record.ip) ?? 0) + 1);
  }
  return counts;
}

t.test('Ctrl-C says where to resume; a rerun from there finishes the rest, nothing lost', async (t) => {
  const args = ['-f', 'tcp', '-Pn', '-p', `1-${PORTS}`, '--json', '--all', '-n', '50', '--seed', String(SEED), '-ip', '127.0.0.0/28'];
  const child = spawn(binPath('pmap'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let lines = 0;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    lines += chunk.split('\n').length - 1;
    // Some hosts done, most not: interrupt.
    if (lines >= 3 * PORTS && child.exitCode === null && !child.killed) child.kill('SIGINT');
  });
  const [code] = (await Promise.all([new Promise((resolve) => child.on('close', resolve))])) as [number];
  t.equal(code, 130, stderr);
  const match = /^pmap: interrupted: resume with --seed 424242 --resume-at (\d+)$/m.exec(stderr);
  t.ok(match, `resume hint in: ${stderr}`);
  const at = Number(match?.[1]);
  const first = perHost(stdout);
  t.ok(at >= 1 && at < HOSTS, `resume position ${at} inside the scan`);
  for (const [position, ip] of order.entries()) {
    if (position < at) t.equal(first.get(ip), PORTS, `position ${position} (${ip}) done before the resume point`);
  }
  t.not(first.get(order[at] as string), PORTS, 'the target at the resume point was not finished');
  const touchedBeyond = order.slice(at).filter((ip) => first.has(ip)).length;
  t.ok(touchedBeyond <= 8, `${touchedBeyond} targets past the resume point were in flight`);

  const rest = await runBin('pmap', [...args, '--resume-at', String(at)]);
  t.equal(rest.code, 0, rest.stderr);
  const second = perHost(rest.stdout);
  t.same([...second.keys()].sort(), order.slice(at).sort(), 'exactly the targets from the resume point on');
  for (const count of second.values()) t.equal(count, PORTS);
});

t.test('--shard K/N with one seed: disjoint parts that cover every host; a shard without a seed is refused', async (t) => {
  const shard = (k: number): Promise<string[]> =>
    runBin('pmap', ['-f', 'ping', '--json', '--all', '-t', '500', '--seed', '7', '--shard', `${k}/2`, '-ip', '127.0.0.0/28']).then((run) => {
      t.equal(run.code, 0, run.stderr);
      return run.stdout.split('\n').filter(Boolean).map((line) => String((JSON.parse(line) as { ip: string }).ip));
    });
  const [one, two] = await Promise.all([shard(1), shard(2)]);
  t.equal(one!.length, 8);
  t.equal(two!.length, 8);
  t.same([...one!, ...two!].sort(), Array.from({ length: 16 }, (_, i) => `127.0.0.${i}`).sort());
  const refused = await collect(spawn(binPath('pmap'), ['-f', 'ping', '--shard', '1/2', '-ip', '127.0.0.0/28']));
  t.equal(refused.code, 2);
  t.match(refused.stderr, /--shard 1\/2 needs --seed N/);
});

t.test('on a terminal the progress line ends with the resume position', { skip: has('script') ? false : 'script(1) is not installed (util-linux)' }, async (t) => {
  // stdin, stdout and stderr on a pseudo-terminal: read until the line shows, then stop it.
  const child = spawn('script', ['-qfec', `${binPath('pmap')} -n 1 -f tcp -Pn --seed 3 -p 1-65535 -ip 127.0.0.0/31`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  const line = /\r\x1b\[Kpmap: \d+\/131070 ports \([\d.]+%\).*, resume at ([01])/;
  const seen = new Promise<RegExpExecArray | null>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      const match = line.exec(text);
      if (match) resolve(match);
    });
    child.on('close', () => resolve(null));
  });
  const match = await seen;
  child.kill('SIGTERM');
  t.ok(match, `a progress line with the resume position in: ${JSON.stringify(text.slice(0, 300))}`);
});
