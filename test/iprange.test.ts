import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath } from './lab.js';

const lines = (ips: string[]): string => ips.map((ip) => `{"ip":"${ip}"}\n`).join('');

interface Case {
  args: string[];
  input?: string;
  stdout: string;
  stderr: string | RegExp;
  code: number;
}

const cases: Record<string, Case> = {
  'a range and a short range': {
    args: ['127.0.0.1-127.0.0.2', '127.0.1.9-10'],
    stdout: lines(['127.0.0.1', '127.0.0.2', '127.0.1.9', '127.0.1.10']),
    stderr: '',
    code: 0,
  },
  'CIDR and comma list with IPv6': {
    args: ['127.0.0.0/31,::1-::2'],
    stdout: lines(['127.0.0.0', '127.0.0.1', '::1', '::2']),
    stderr: '',
    code: 0,
  },
  'exclusions, repeated': {
    args: ['--exclude', '127.0.0.1', '-x', '127.0.0.3/32', '127.0.0.0/30'],
    stdout: lines(['127.0.0.0', '127.0.0.2']),
    stderr: '',
    code: 0,
  },
  'specs on stdin, a bad line reported and skipped': {
    args: [],
    input: '127.0.0.1\r\n1.2.3.4/33\n\n127.0.0.5-6\n',
    stdout: lines(['127.0.0.1', '127.0.0.5', '127.0.0.6']),
    stderr: 'iprange: stdin:2: bad target "1.2.3.4/33": prefix length must be 0-32\n',
    code: 2,
  },
  'a bad argument writes nothing': {
    args: ['127.0.0.1', '1.2.3.4-1.2.3.1'],
    stdout: '',
    stderr: 'iprange: bad target "1.2.3.4-1.2.3.1": the range ends before it starts\niprange: Try \'iprange --help\' for more information.\n',
    code: 2,
  },
  'each malformed form exits 2': { args: ['1.2.3.256'], stdout: '', stderr: /bad target "1\.2\.3\.256"/, code: 2 },
  'empty spec': { args: [''], stdout: '', stderr: /empty target/, code: 2 },
  // Never a plain word here: it would be a host name, and resolving it would ask a real DNS server.
  'neither a spec nor a name': { args: ['a_b!c'], stdout: '', stderr: /bad target "a_b!c": not an IP address, range, CIDR or host name/, code: 2 },
  'unknown flag': { args: ['-q', '127.0.0.1'], stdout: '', stderr: /^iprange: unknown option -q\niprange: Try 'iprange --help'/, code: 2 },
  'bad exclusion': { args: ['-x', 'no!pe', '127.0.0.1'], stdout: '', stderr: /bad target "no!pe"/, code: 2 },
  'help': { args: ['--help'], stdout: '', stderr: '', code: 0 },
  'version': { args: ['--version'], stdout: 'iprange 0.1.0\n', stderr: '', code: 0 },
};

for (const [name, c] of Object.entries(cases)) {
  t.test(name, async (t) => {
    const result = await runIn('iprange', c.args, c.input);
    if (name === 'help') t.match(result.stdout, /^Usage: iprange/);
    else t.equal(result.stdout, c.stdout);
    if (typeof c.stderr === 'string') t.equal(result.stderr, c.stderr);
    else t.match(result.stderr, c.stderr);
    t.equal(result.code, c.code);
  });
}

t.test('-v reports the count on stderr, records stay on stdout', async (t) => {
  const result = await runIn('iprange', ['-v', '127.0.0.0/24']);
  t.equal(result.stdout.split('\n').length - 1, 256);
  t.match(result.stderr, /^iprange: 256 addresses, elapsed \d+\.\d{3} s\n$/);
});

t.test('a million addresses stream through a pipe without loss', async (t) => {
  const child = spawn(binPath('iprange'), ['127.0.0.0/12']);
  let count = 0;
  let last = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) count++;
    last = (last + chunk).slice(-40);
  });
  const [code] = await once(child, 'close');
  t.equal(code, 0);
  t.equal(count, 1 << 20);
  t.match(last, /\{"ip":"127\.15\.255\.255"\}\n$/);
});

t.test('a closed stdout ends the command quietly with 0 (| head)', async (t) => {
  const child = spawn(binPath('iprange'), ['0.0.0.0/0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await once(child.stdout, 'data');
  child.stdout.destroy();
  const [code] = await once(child, 'close');
  t.equal(code, 0);
  t.equal(stderr, '');
});

t.test('Ctrl-C stops at once with 130; SIGTERM with 143', async (t) => {
  for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const child = spawn(binPath('iprange'), ['0.0.0.0/0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Read slowly so the writer is waiting on backpressure when the signal comes.
    await once(child.stdout, 'readable');
    child.stdout.pause();
    child.kill(signal);
    child.stdout.resume();
    const [code] = await once(child, 'close');
    t.equal(code, status, signal);
  }
});
