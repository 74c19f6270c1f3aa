// The addon's backends under valgrind (memcheck, every leak kind an error) and AddressSanitizer on
// the two loads: a full-port connect scan of 127.0.0.1 and a 65536-host loopback sweep.
// native/harness.c drives tcp.c and icmp.c without Node (Node under valgrind is 30x slower and its
// own allocations drown ours); the N-API glue in engine.c is not covered here.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { harnessBuilder } from './fixtures/harness-build.js';
import { has } from './lab.js';

const isRoot = process.getuid?.() === 0;
const missing = ['gcc', 'valgrind'].filter((tool) => !has(tool));
// The harness syn-memory builds (syn.c compiled in, unused here): one build serves both files.
const { build, sanitized } = harnessBuilder(['tcp.c', 'icmp.c', 'syn.c'], ['-DWITH_SYN']);

const loads: { name: string; args: string[]; expected: RegExp; needsRoot: boolean }[] = [
  // Every port answered exactly once, on loopback never a timeout or an errno.
  { name: 'full-port connect scan of 127.0.0.1', args: ['tcp', '127.0.0.1', '65535', '100'], expected: /^requests 65535 completions 65535 open \d+ closed \d+ timeout 0 error 0 /, needsRoot: false },
  { name: 'connect scan of ::1', args: ['tcp', '::1', '2000', '100'], expected: /^requests 2000 completions 2000 open \d+ closed \d+ timeout 0 error 0 /, needsRoot: false },
  // 127.0.0.0/16: every address on lo answers.
  { name: '65536-host loopback sweep', args: ['icmp', '127.0.0.0', '65536', '1000'], expected: /^requests 65536 completions 65536 .* reply 65536 icmp-error 0\n$/, needsRoot: true },
];

// valgrind runs each load at an eighth of its size: memcheck costs ~30x, and every code path of
// the full load (socket reuse round after round, the queue cycling, timeouts never reached) is
// already taken within the first thousands of requests. The full sizes, with the 16-bit ICMP
// sequence wrapping past 65535, run under AddressSanitizer and UBSan below (invalid access and,
// with detect_leaks, every leak), at native speed.
const valgrindLoad = (args: string[]): string[] => {
  const [kind, address, count, inFlight] = args as [string, string, string, string];
  return [kind, address, String(Math.min(Number(count), 8192)), inFlight];
};
const valgrindExpected = (expected: RegExp): RegExp => new RegExp(expected.source.replace(/65535|65536/g, (n) => (Number(n) > 8192 ? '8192' : n)), expected.flags);

t.test('valgrind: no invalid access, no leak of any kind', { skip: missing.length ? `not installed: ${missing.join(', ')}` : false }, async (t) => {
  const harness = build('harness', []);
  for (const load of loads) {
    if (load.needsRoot && !isRoot) {
      t.comment(`${load.name}: skipped, raw sockets need root`);
      continue;
    }
    const run = spawnSync('valgrind', ['-q', '--leak-check=full', '--show-leak-kinds=all', '--errors-for-leak-kinds=all', '--error-exitcode=99', harness, ...valgrindLoad(load.args)], { encoding: 'utf8' });
    t.equal(run.status, 0, `${load.name}: ${run.stderr}`);
    t.equal(run.stderr, '', `${load.name}: valgrind silent`);
    t.match(run.stdout, valgrindExpected(load.expected), load.name);
  }
});

t.test('AddressSanitizer and UBSan: the same loads', { skip: has('gcc') ? false : 'gcc is not installed' }, async (t) => {
  const harness = sanitized(t, 'harness-asan', ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all']);
  if (harness === null) return;
  for (const load of loads) {
    if (load.needsRoot && !isRoot) continue;
    const run = spawnSync(harness, load.args, { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    t.equal(run.status, 0, `${load.name}: ${run.stderr}`);
    t.match(run.stdout, load.expected, load.name);
  }
});
