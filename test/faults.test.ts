// Faults and signals with the real binaries (issue 10): signals while writing to a device, closed
// and failing stdout and stderr, slow readers. Loopback only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { binPath, collect, waitForText } from './lab.js';

const dir = mkdtempSync(join(tmpdir(), 'pmap-faults-'));

/** Wait for a child to end, SIGKILLing it after `ms` (so a hang fails the test instead of the run). */
async function ended(child: ReturnType<typeof spawn>, ms = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
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
