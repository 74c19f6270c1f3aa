// A reader that goes away while the command has nothing to write yet (#10 item 21): the command
// must stop then, not at its next write. Here the next write never comes: the command's stdin is
// held open by the test, so without the addon's watch of fd 1 it would wait for input forever.
// What is asserted is that it ends, with status 0, while its stdin is still open.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { loadAddon } from '../lib/native/addon.js';
import { binPath } from './lab.js';

const loaded = loadAddon();
if ('error' in loaded) {
  t.plan(0, `the watch needs the addon: ${loaded.error}`);
} else {
  const server = createServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  t.teardown(() => server.close());

  // Ends the child if the test gives up on it, so a failure never leaves a process behind.
  const exitOf = async (child: ChildProcess): Promise<{ code: number | null; signal: string | null }> => {
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(guard);
    return { code, signal };
  };

  t.test('stdout a socket (spawn): the reader closes after one record, the command ends', async (t) => {
    const child = spawn(binPath('tcpprobe'), ['-p', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.write('127.0.0.1\n'); // and stdin stays open: no more input, no more output
    const [first] = (await once(child.stdout!, 'data')) as [Buffer];
    t.match(JSON.parse(first.toString().split('\n')[0]!), { ip: '127.0.0.1', port, state: 'open' });
    child.stdout!.destroy();
    const exit = await exitOf(child);
    t.same(exit, { code: 0, signal: null }, 'ended by the watch, not killed');
    child.stdin!.destroy();
  });

  t.test('stdout a pipe (| head -1): the command ends though its stdin is open', async (t) => {
    // sh waits for both sides of the pipe, so sh's own exit says tcpprobe ended too.
    const child = spawn('sh', ['-c', '"$TCPPROBE" -p "$PORT" | head -n 1; echo "status ${?}"'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TCPPROBE: binPath('tcpprobe'), PORT: String(port) },
    });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdin!.write('127.0.0.1\n');
    const exit = await exitOf(child);
    t.same(exit, { code: 0, signal: null });
    const lines = stdout.trim().split('\n');
    t.match(JSON.parse(lines[0]!), { ip: '127.0.0.1', port, state: 'open' });
    t.equal(lines[1], 'status 0');
    child.stdin!.destroy();
  });

  t.test('stdout a file: no watch, the command waits for its input as before', async (t) => {
    const child = spawn('sh', ['-c', '"$TCPPROBE" -p "$PORT" > /dev/null'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, TCPPROBE: binPath('tcpprobe'), PORT: String(port) },
    });
    child.stdin!.write('127.0.0.1\n');
    const exited = once(child, 'exit');
    const early = await Promise.race([exited.then(() => 'exited'), new Promise((resolve) => setTimeout(resolve, 1500, 'waiting'))]);
    t.equal(early, 'waiting', 'still reading its stdin');
    child.stdin!.end();
    t.same(await exitOf(child), { code: 0, signal: null });
  });
}
