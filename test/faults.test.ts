// Faults and signals with the real binaries (issue 10): signals while writing to a device, closed
// and failing stdout and stderr, slow readers. Loopback only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, buildLab, collect, has, labUnavailable, waitForText } from './lab.js';

const dir = mkdtempSync(join(tmpdir(), 'pmap-faults-'));

/** Wait for a child to end, SIGKILLing it after `ms` (so a hang fails the test instead of the run). */
async function ended(child: ReturnType<typeof spawn>, ms = 60000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const killer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal };
}

/** Resolves once the process has written 4 MiB (/proc/PID/io wchar): it is deep in its write loop. */
async function writing(pid: number): Promise<void> {
  for (;;) {
    const wchar = /wchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1];
    if (Number(wchar) > 1 << 22) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('item 1: iprange writing to /dev/null or a file stops on SIGINT and SIGTERM', async (t) => {
  for (const [target, signal, status] of [
    ['/dev/null', 'SIGINT', 130],
    ['/dev/null', 'SIGTERM', 143],
    [join(dir, 'addresses.ndjson'), 'SIGTERM', 143],
  ] as const) {
    const fd = openSync(target, 'w');
    const child = spawn(binPath('iprange'), ['0.0.0.0/0'], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    await writing(child.pid as number);
    child.kill(signal);
    const result = await ended(child);
    t.same(result, { code: status, signal: null }, `${target} ${signal}`);
  }
});

t.test('item 11: a closed stderr neither crashes a command nor costs it its output', async (t) => {
  const child = spawn(binPath('tojson'), [], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.destroy();
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  // Bad lines make tojson write to the closed stderr; the good ones must all come out.
  const lines = Array.from({ length: 2000 }, (_, i) => (i % 10 === 5 ? `oops ${i}` : JSON.stringify({ n: i })));
  child.stdin.end(`${lines.join('\n')}\n`);
  const result = await ended(child);
  t.same(result, { code: 2, signal: null }, 'exit 2 for the bad lines, not a crash');
  t.equal((JSON.parse(stdout) as unknown[]).length, 1800, 'every good record');
});

t.test('item 11: `tcpprobe -v ... 2>&1 | head -1` exits 0', async (t) => {
  const script = `"${binPath('tcpprobe')}" -v --all -p 1-3000 -t 200 127.0.0.1 2>&1 | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`;
  const result = await collect(spawn('bash', ['-c', script]));
  t.equal(result.stdout, '0\n');
  t.equal(result.stderr, '');
});

t.test('item 8: a stdout write error other than EPIPE still writes the -w file, then exits 1', async (t) => {
  const file = join(dir, 'full.json');
  const fd = openSync('/dev/full', 'w');
  const child = spawn(binPath('pmap'), ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1-2000', '--all', '--json', '-w', file], {
    stdio: ['ignore', fd, 'pipe'],
  });
  closeSync(fd);
  const result = await collect(child);
  t.equal(result.code, 1);
  t.match(result.stderr, /^pmap: cannot write output: .*ENOSPC/);
  const document = JSON.parse(readFileSync(file, 'utf8')) as { scan: { status: string } };
  t.equal(document.scan.status, 'interrupted');
});

t.test('item 9: tojson interrupted while its reader is slow still ends the document', async (t) => {
  const child = spawn(binPath('tojson'), [], { stdio: ['pipe', 'pipe', 'pipe'] });
  // The bad first line says tojson is reading; then 4 MiB of records, far more than the pipe holds
  // while nobody reads stdout, so tojson ends up waiting on its reader.
  child.stdin.on('error', () => undefined);
  const stderr = waitForText(child.stderr.setEncoding('utf8'), 'stdin:1');
  child.stdout.pause();
  child.stdin.write('oops\n');
  child.stdin.write(`${JSON.stringify({ ip: '127.0.0.1', pad: 'x'.repeat(200) })}\n`.repeat(20000));
  await stderr;
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill('SIGINT');
  // Longer than the frame's 1 s grace: the old forced exit cut the document here.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stdout.resume();
  const result = await ended(child);
  t.equal(result.code, 130);
  t.ok((JSON.parse(stdout) as unknown[]).length > 256, 'valid JSON of the records read, past the pipe buffer');
});

// pmap -w: what the final write does to what the path names (issue 10 items 6, 7, 19).
const isRoot = process.getuid?.() === 0;
const scan = (file: string): string[] => ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1', '-w', file];
const scanned = (file: string): boolean => (JSON.parse(readFileSync(file, 'utf8')) as { scan?: unknown }).scan !== undefined;

t.test('item 6: -w writes a device in place, follows a symlink, keeps the mode', async (t) => {
  const link = join(dir, 'link.json');
  const target = join(dir, 'target.json');
  writeFileSync(target, 'old\n');
  symlinkSync('target.json', link);
  t.equal((await runIn('pmap', scan(link))).code, 0);
  t.ok(lstatSync(link).isSymbolicLink(), 'the symlink is still a symlink');
  t.ok(scanned(target), 'its target holds the document');

  const privateFile = join(dir, 'private.json');
  writeFileSync(privateFile, 'old\n', { mode: 0o600 });
  chmodSync(privateFile, 0o600);
  t.equal((await runIn('pmap', scan(privateFile))).code, 0);
  t.equal(statSync(privateFile).mode & 0o777, 0o600, 'a 0600 file stays 0600');
  t.ok(scanned(privateFile));

  if (!isRoot || !has('mknod')) return void t.comment('skipped: mknod needs root');
  // Our own /dev/null: a character device node (1, 3) in the test directory.
  const device = join(dir, 'null');
  await collect(spawn('mknod', [device, 'c', '1', '3']));
  const result = await runIn('pmap', scan(device));
  t.equal(result.code, 0, result.stderr);
  t.ok(lstatSync(device).isCharacterDevice(), 'the device is still a device');
});

t.test('item 6: -w to a FIFO writes into it', async (t) => {
  const fifo = join(dir, 'fifo');
  if ((await collect(spawn('mkfifo', [fifo]))).code !== 0) return void t.comment('skipped: mkfifo failed');
  const reader = collect(spawn('cat', [fifo]));
  const result = await runIn('pmap', scan(fifo));
  t.equal(result.code, 0, result.stderr);
  t.ok((JSON.parse((await reader).stdout) as { scan: unknown }).scan, 'the reader got the document');
  t.ok(lstatSync(fifo).isFIFO(), 'still a FIFO');
});

const asNobody = isRoot && has('setpriv') ? false : 'changing to user 65534 needs root and setpriv';

t.test('item 7: a sticky directory: a writable file is written in place, an unwritable one refused before the scan', { skip: asNobody }, async (t) => {
  const sticky = join(dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(dir, 0o755);
  chmodSync(sticky, 0o1777);
  const nobody = (file: string): Promise<Awaited<ReturnType<typeof collect>>> =>
    collect(spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', binPath('pmap'), ...scan(file)]));
  const shared = join(sticky, 'shared.json');
  writeFileSync(shared, 'old\n', { mode: 0o666 });
  chmodSync(shared, 0o666);
  const written = await nobody(shared);
  t.equal(written.code, 0, written.stderr);
  t.ok(scanned(shared), 'root\'s writable file took the document');

  const locked = join(sticky, 'locked.json');
  writeFileSync(locked, 'old\n', { mode: 0o644 });
  const refused = await nobody(locked);
  t.equal(refused.code, 2);
  t.equal(refused.stdout, '', 'no scan');
  t.match(refused.stderr, `pmap: cannot write -w ${locked}: a sticky directory keeps its file from being replaced`);
});

t.test('item 7: an immutable file is refused before the scan', { skip: isRoot && has('chattr') ? false : 'chattr +i needs root' }, async (t) => {
  const file = join(dir, 'immutable.json');
  writeFileSync(file, 'old\n');
  if ((await collect(spawn('chattr', ['+i', file]))).code !== 0) return void t.comment('skipped: this file system has no immutable flag');
  t.teardown(() => void spawn('chattr', ['-i', file]));
  const result = await runIn('pmap', scan(file));
  t.equal(result.code, 2);
  t.equal(result.stdout, '');
  t.equal(result.stderr.split('\n')[0], `pmap: cannot write -w ${file}: operation not permitted (an immutable or append-only file, or a sticky directory) (EPERM)`);
});

t.test('item 7: when the final write fails anyway, the results are saved elsewhere and the message says where', async (t) => {
  const gone = join(dir, 'gone');
  mkdirSync(gone);
  const file = join(gone, 'result.json');
  const child = spawn(binPath('pmap'), ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1-3000', '--all', '--json', '-w', file]);
  // Once the scan runs (the check passed), its directory goes away; 3000 records fill the pipe,
  // so pmap waits on us meanwhile.
  await once(child.stdout, 'readable');
  rmSync(gone, { recursive: true });
  const result = await collect(child);
  t.equal(result.code, 1);
  const rescue = /^pmap: cannot write -w \S+: no such file or directory \(ENOENT\); the results are saved in (\S+)$/m.exec(result.stderr)?.[1];
  t.ok(rescue && existsSync(rescue), result.stderr);
  if (rescue) {
    t.equal((JSON.parse(readFileSync(rescue, 'utf8')) as { scan: { totals: { ports: number } } }).scan.totals.ports, 3000);
    rmSync(rescue);
  }
});

t.test('item 12: a line over 64 MiB is reported and skipped; the lines after it are kept', async (t) => {
  const script = `{ echo '{"a":1}'; head -c 70000000 /dev/zero; echo; echo '{"b":2}'; } | "${binPath('tojson')}"`;
  const result = await collect(spawn('sh', ['-c', script]));
  t.equal(result.code, 2);
  t.same(JSON.parse(result.stdout), [{ a: 1 }, { b: 2 }]);
  t.equal(result.stderr, 'tojson: stdin:2: line longer than 64 MiB, skipped\n');
});

t.test('item 10: tojson --by-host skips a record with a bad "ports" or a "__proto__" field, keeps the rest', async (t) => {
  const input = [
    '{"ip":"127.0.0.1","port":22,"state":"open"}',
    '{"ip":"127.0.0.1","ports":"x"}',
    '{"ip":"127.0.0.2","__proto__":{"polluted":true}}',
    '{"ip":"127.0.0.1","ports":[1]}',
    '{"ip":"127.0.0.2","name":"b"}',
    '{"ip":"127.0.0.1","port":80,"state":"open"}',
  ].join('\n');
  const result = await runIn('tojson', ['--by-host'], input);
  t.equal(result.code, 2);
  t.same(JSON.parse(result.stdout), {
    '127.0.0.1': { ip: '127.0.0.1', ports: [{ port: 22, state: 'open' }, { port: 80, state: 'open' }] },
    '127.0.0.2': { ip: '127.0.0.2', name: 'b' },
  });
  t.same(result.stderr.split('\n').filter(Boolean), [
    'tojson: stdin:2: "ports" must be a list of port objects, not "x"',
    'tojson: stdin:3: a "__proto__" field cannot be kept in a host',
    'tojson: stdin:4: "ports" must be a list of port objects, not [1]',
  ]);
});

t.test('item 15: pmap counts a ping sweep without keeping its addresses', async (t) => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  const { Tally } = await import('../lib/report.js');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const tally = new Tally(true);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 200_000; i++) tally.add({ ip: `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, alive: i % 3 === 0 });
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  t.same(tally.totals, { hosts: 200_000, up: 66_667, ports: 0, open: 0, closed: 0, filtered: 0, unreachable: 0 });
  t.ok(grown < 2 * 1024 * 1024, `heap grew ${Math.round(grown / 1024)} KiB over 200k hosts`);
});

t.test('item 17: -m thread and proc give a host to one shard: a dead host is one unreachable host', { skip: labUnavailable() ?? false }, async (t) => {
  const lab = await buildLab({ hosts: 1 });
  t.teardown(lab.close);
  const dead = lab.dead[0] as string;
  // The SYNs wait on ARP, which fails after ~3 s: EHOSTUNREACH for the ports in flight.
  const runs = ['thread', 'proc'].map((mode) =>
    lab.run(binPath('pmap'), ['-f', 'tcp', '-ip', dead, '-p', '1-40', '-n', '80', '-t', '6000', '-r', '0', '-m', mode]).then((result) => ({ mode, result })),
  );
  for (const { mode, result } of await Promise.all(runs)) {
    t.equal(result.code, 0, `${mode}: ${result.stderr}`);
    t.match(result.stdout, /pmap done: 1 IP address \(0 hosts up\), \d+ ports?: .*, 1 host unreachable,/, mode);
  }
});

t.test('item 21: ::ffff:127.0.0.1 is printed dotted (RFC 5952 section 5)', async (t) => {
  const result = await runIn('iprange', ['::ffff:127.0.0.1-::ffff:127.0.0.2']);
  t.equal(result.stdout, '{"ip":"::ffff:127.0.0.1"}\n{"ip":"::ffff:127.0.0.2"}\n');
});

t.test('item 21: `pmap ... | head -1` returns as soon as head has its line', async (t) => {
  // The shell waits for every process of a pipeline, so what is measured is how long pmap outlives
  // head: the old forced exit kept it 1 s after head returned; now it goes when its next write
  // fails. (The shell's clock, not ours: the time from head's exit to pmap's, read twice by date.)
  const script = `"${binPath('pmap')}" -f tcp -ip 127.0.0.1 -p 1-3000 --all --json | { head -1 > /dev/null; date +%s%N; }; date +%s%N`;
  const result = await collect(spawn('sh', ['-c', script]));
  const [headGone, pipelineDone] = result.stdout.trim().split('\n').map(Number);
  const lingerMs = (pipelineDone! - headGone!) / 1e6;
  t.ok(lingerMs >= 0 && lingerMs < 1000, `pmap outlived head by ${lingerMs.toFixed(0)} ms (the forced exit: 1000 ms)`);
});

t.test('item 22: a later stage keeps an earlier stage\'s field and writes its own beside it', async (t) => {
  const input = '{"ip":"127.0.0.1","alive":true,"rtt":0.25,"state":"seen"}\n';
  const result = await runIn('tcpprobe', ['-p', '1', '--all'], input);
  t.equal(result.code, 0, result.stderr);
  const record = JSON.parse(result.stdout) as Record<string, unknown>;
  t.same(Object.keys(record).sort(), ['alive', 'ip', 'port', 'rtt', 'state', 'tcp_rtt', 'tcp_state'].sort());
  t.match(record, { ip: '127.0.0.1', alive: true, rtt: 0.25, state: 'seen', port: 1, tcp_state: 'closed', tcp_rtt: Number });
  // Used alone, the stage writes its own shape: no prefixed names.
  const alone = JSON.parse((await runIn('tcpprobe', ['-p', '1', '--all', '127.0.0.1'])).stdout) as Record<string, unknown>;
  t.same(Object.keys(alone), ['ip', 'port', 'state', 'rtt']);
});

t.test('item 19: iprange quotes a bad stdin line escaped and cut, like the other commands', async (t) => {
  const result = await runIn('iprange', [], `127.0.0.1\n\x1b[31mred\x1b[0m\n${'9'.repeat(100000)}\n`);
  t.equal(result.code, 2);
  t.equal(result.stdout, '{"ip":"127.0.0.1"}\n');
  t.same(result.stderr.split('\n'), [
    'iprange: stdin:2: bad target "\\u001b[31mred\\u001b[0m": not an IP address, range, CIDR or host name',
    `iprange: stdin:3: bad target "${'9'.repeat(60)}...": not an IP address, range or CIDR`,
    '',
  ]);
});
