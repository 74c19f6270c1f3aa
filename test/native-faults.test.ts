// Faults of issue 11 with the addon as the default engine, on loopback: an addon that does not load
// (simulated: a preload makes loading pmap_native.node throw, as a missing build or a bad binary
// does) gives the fallback engines, named under -v, with the same answers; `--engine native` then
// fails saying why; pmap -m thread pings through the addon in its workers; Ctrl-C mid-sweep.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import t from 'tap';
import { loadAddon } from '../lib/native/addon.js';
import { binPath, collect, runBin } from './lab.js';

const loaded = loadAddon();
const isRoot = process.getuid?.() === 0;
if ('error' in loaded) t.plan(0, loaded.error);

const dir = mkdtempSync(join(tmpdir(), 'pmap-no-addon-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const preload = join(dir, 'no-addon.cjs');
writeFileSync(
  preload,
  `const Module = require('node:module');
const load = Module._extensions['.node'];
Module._extensions['.node'] = (module, filename) => {
  if (filename.endsWith('pmap_native.node')) throw new Error('simulated: the build failed');
  return load(module, filename);
};
`,
);
const NO_ADDON = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}` };
const WHY = 'the native addon is not built or does not load (simulated: the build failed)';

const sorted = (stdout: string, strip: string[] = []): string[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      for (const key of strip) delete record[key];
      return JSON.stringify(record);
    })
    .sort();

t.test('tcpprobe without a loadable addon: node:net, said under -v, the same answers', async (t) => {
  const server = createServer((socket) => socket.destroy()).listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const args = ['-v', '--all', '-p', `${port - 20}-${port + 20}`, '127.0.0.1'];
  const [native, fallback] = await Promise.all([runBin('tcpprobe', args), runBin('tcpprobe', args, undefined, NO_ADDON)]);
  t.equal(native.code, 0, native.stderr);
  t.equal(fallback.code, 0, fallback.stderr);
  t.match(native.stderr, /^tcpprobe: engine: native \(the addon, connects on an epoll thread\)\n/);
  t.match(fallback.stderr, new RegExp(`^tcpprobe: engine: net \\(node:net\\): ${WHY.replace(/[()]/g, '\\$&')}\\n`));
  t.same(sorted(fallback.stdout, ['rtt']), sorted(native.stdout, ['rtt']), 'the same 41 records');
  t.equal(sorted(native.stdout).length, 41);
  t.match(native.stdout, `"port":${port},"state":"open"`);
  // Said only under -v: without it the fallback is silent and the output the same.
  const quiet = await runBin('tcpprobe', ['-p', String(port), '127.0.0.1'], undefined, NO_ADDON);
  t.equal(quiet.stderr, '');
  t.same(sorted(quiet.stdout, ['rtt']), [`{"ip":"127.0.0.1","port":${port},"state":"open"}`]);
});

t.test('--engine native without a loadable addon fails, saying why', async (t) => {
  const tcp = await runBin('tcpprobe', ['--engine', 'native', '-p', '1', '127.0.0.1'], undefined, NO_ADDON);
  t.equal(tcp.code, 1);
  t.equal(tcp.stderr, `tcpprobe: --engine native: ${WHY}\n`);
  t.equal(tcp.stdout, '');
  const ping = await runBin('pingprobe', ['--engine', 'native', '127.0.0.1'], undefined, NO_ADDON);
  t.equal(ping.code, 1);
  t.equal(ping.stderr, `pingprobe: --engine native: ${WHY}\n`);
});

t.test('pingprobe without a loadable addon: the raw-socket engine, said under -v, the same hosts', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const args = ['-v', '--all', '-t', '300', '127.0.0.1-127.0.0.9', '::1'];
  const [native, fallback] = await Promise.all([runBin('pingprobe', args), runBin('pingprobe', args, undefined, NO_ADDON)]);
  t.equal(native.code, 0, native.stderr);
  t.equal(fallback.code, 0, fallback.stderr);
  t.match(native.stderr, /^pingprobe: engine: native \(the addon, raw ICMP sockets on its thread\)\n.*\(native ICMP\)/s);
  t.match(fallback.stderr, /^pingprobe: engine: raw \(@neuralegion\/raw-socket\): the native addon is not built or does not load \(simulated: the build failed\)\n.*\(raw ICMP\)/s);
  t.same(sorted(fallback.stdout, ['rtt']), sorted(native.stdout, ['rtt']));
  t.equal(sorted(native.stdout).length, 10);
});

t.test('pmap -m thread -f ping: the sweep runs in the workers, each on its own addon engine', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const args = ['-f', 'ping', '-ip', '127.0.0.1-127.0.0.40', '-n', '8', '--json', '--all'];
  const [threads, async] = await Promise.all([runBin('pmap', [...args, '-m', 'thread']), runBin('pmap', [...args, '-m', 'async'])]);
  t.equal(threads.code, 0, threads.stderr);
  t.equal(threads.stderr, '', 'no "runs on the main thread" notice');
  t.same(sorted(threads.stdout, ['rtt']), sorted(async.stdout, ['rtt']));
  t.equal(sorted(threads.stdout).filter((line) => line.includes('"alive":true')).length, 40);
  // Where the addon does not load, the raw-socket engine cannot go to workers: said, and the same hosts.
  const fallback = await runBin('pmap', [...args, '-m', 'thread'], undefined, NO_ADDON);
  t.equal(fallback.code, 0, fallback.stderr);
  t.match(fallback.stderr, /-m thread: the raw ICMP socket cannot run in worker threads; the sweep runs on the main thread/);
  t.same(sorted(fallback.stdout, ['rtt']), sorted(async.stdout, ['rtt']));
});

t.test('SIGINT mid-sweep on the addon: 130 soon, every line written is a whole record', { skip: isRoot ? false : 'raw sockets need root here' }, async (t) => {
  const child = spawn(binPath('pingprobe'), ['-n', '16', '127.0.0.0/16']);
  const done = collect(child);
  await once(child.stdout!, 'data');
  child.kill('SIGINT');
  const result = await done;
  t.equal(result.code, 130, result.stderr);
  t.equal(result.stderr, '');
  const lines = result.stdout.split('\n');
  t.equal(lines.pop(), '', 'ends with a whole line');
  t.ok(lines.length > 0 && lines.length < 65536, `${lines.length} records before the interrupt`);
  const bad = lines.filter((line) => !/^\{"ip":"127\.0\.\d+\.\d+","alive":true,"rtt":[\d.]+,"ttl":64,"method":"icmp"\}$/.test(line));
  t.same(bad, [], 'no partial or odd line');
});
