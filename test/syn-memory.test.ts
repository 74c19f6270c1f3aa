// native/syn.c under valgrind (memcheck, every leak kind an error) and AddressSanitizer on a
// full-port SYN scan of 127.0.0.1 and a scan of ::1, driven by native/harness.c without Node (as
// test/native-memory.test.ts does for tcp.c and icmp.c; built here with -DWITH_SYN).
import { execFileSync, spawnSync } from 'node:child_process';
import t from 'tap';
import { harnessBuilder } from './fixtures/harness-build.js';
import { has, labUnavailable, loopbackNamespace } from './lab.js';

const why = process.getuid?.() !== 0 ? 'raw sockets need root' : !has('gcc') ? 'gcc is not installed' : null;
const { build, sanitized } = harnessBuilder(['tcp.c', 'icmp.c', 'syn.c'], ['-DWITH_SYN']);

// Every port answered exactly once (SYN-ACK or RST): on loopback never a timeout or an errno. The
// harness cancels 2 requests in 100 (one queued, one sent unless already answered), counted as
// completions: of the 200 ports below, 2 dropped and 1 or 2 closed ones are cancelled.
const loads: { name: string; args: string[]; expected: RegExp; ns?: string; asanOnly?: boolean }[] = [
  // valgrind takes 8 s over the full port range: it gets the first 10000 ports (enough to rebuild
  // the deadline heap a few times), ASan all of them.
  { name: 'full-port SYN scan of 127.0.0.1', args: ['syn', '127.0.0.1', '65535', '500'], expected: /^requests 65535 completions 65535 open \d+ closed \d+ timeout 0 error 0 /, asanOnly: true },
  { name: 'SYN scan of 127.0.0.1:1-10000', args: ['syn', '127.0.0.1', '10000', '500'], expected: /^requests 10000 completions 10000 open \d+ closed \d+ timeout 0 error 0 / },
  { name: 'SYN scan of ::1', args: ['syn', '::1', '2000', '100'], expected: /^requests 2000 completions 2000 open \d+ closed \d+ timeout 0 error 0 / },
];
// Each load on a namespace's own loopback where one can be made (no other session's listeners or
// traffic there; ours stays out of theirs). Timeouts too: a namespace whose loopback drops the SYNs
// to ports 1-100 (the 1 s backstop fires).
if (why === null && labUnavailable({ loss: 1 }) === null) {
  const quiet = loopbackNamespace();
  const dropping = loopbackNamespace();
  t.teardown(() => (quiet.close(), dropping.close()));
  for (const load of loads) load.ns = quiet.name;
  execFileSync('ip', ['netns', 'exec', dropping.name, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--syn', '--dport', '1:100', '-j', 'DROP']);
  loads.push({ name: 'SYN scan with timeouts', args: ['syn', '127.0.0.1', '200', '100'], expected: /^requests 200 completions 200 open 0 closed 9[89] timeout 98 error 0 /, ns: dropping.name });
}
const inNs = (ns: string | undefined, command: string, args: string[]): [string, string[]] => (ns ? ['ip', ['netns', 'exec', ns, command, ...args]] : [command, args]);

t.test('valgrind: no invalid access, no leak of any kind', { skip: why ?? (has('valgrind') ? false : 'valgrind is not installed') }, async (t) => {
  const harness = build('harness', []);
  for (const load of loads.filter((load) => !load.asanOnly)) {
    const run = spawnSync(...inNs(load.ns, 'valgrind', ['-q', '--leak-check=full', '--show-leak-kinds=all', '--errors-for-leak-kinds=all', '--error-exitcode=99', harness, ...load.args]), { encoding: 'utf8' });
    t.equal(run.status, 0, `${load.name}: ${run.stderr}`);
    t.equal(run.stderr, '', `${load.name}: valgrind silent`);
    t.match(run.stdout, load.expected, load.name);
  }
});

t.test('ThreadSanitizer: the engine thread and its second sender share nothing unguarded', { skip: why ?? false }, async (t) => {
  const harness = sanitized(t, 'harness-tsan', ['-fsanitize=thread']);
  if (harness === null) return;
  // The sender's hand-offs are the same for either family: the two small loads (timeouts included).
  for (const load of loads.filter((load) => load.name === 'SYN scan of ::1' || load.name === 'SYN scan with timeouts')) {
    const run = spawnSync(...inNs(load.ns, harness, load.args), { encoding: 'utf8', env: { ...process.env, TSAN_OPTIONS: 'halt_on_error=1 exitcode=66' } });
    t.equal(run.status, 0, `${load.name}: ${run.stderr}`);
    t.equal(run.stderr, '', `${load.name}: no report`);
    t.match(run.stdout, load.expected, load.name);
  }
  // A sender held up past the SYNs' wait costs them nothing: each wait starts when its SYN leaves.
  // The sender sleeps 1.2 s before its fourth batch; the harness waits 1 s per SYN. Timed from when
  // the batch was handed over, those 256 SYNs timed out unanswered (measured: 256 timeouts).
  const load = loads.find((load) => load.name === 'SYN scan of 127.0.0.1:1-10000')!;
  const run = spawnSync(...inNs(load.ns, harness, ['syn', '127.0.0.1', '3000', '500']), { encoding: 'utf8', env: { ...process.env, HARNESS_SENDER_STALL_MS: '1200' } });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /^requests 3000 completions 3000 open \d+ closed \d+ timeout 0 error 0 /, 'a held-up sender: no timeout');
});

t.test('AddressSanitizer and UBSan: the same loads', { skip: why ?? false }, async (t) => {
  const harness = sanitized(t, 'harness-asan', ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all']);
  if (harness === null) return;
  for (const load of loads.filter((load) => load.name !== 'SYN scan of 127.0.0.1:1-10000')) {
    const run = spawnSync(...inNs(load.ns, harness, load.args), { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    t.equal(run.status, 0, `${load.name}: ${run.stderr}`);
    t.match(run.stdout, load.expected, load.name);
  }
});
