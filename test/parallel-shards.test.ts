// The README's GNU parallel recipe, with local job slots in place of --sshlogin: the shards'
// output merged equals the plain scan.
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, has } from './lab.js';

const run = promisify(execFile);

t.test('iprange --shard K/N | tcpprobe under parallel, merged, equals the plain scan', { skip: has('parallel') ? false : 'GNU parallel not installed (apt-get install parallel)' }, async (t) => {
  const server: Server = createServer((socket) => socket.on('error', () => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const open = (server.address() as { port: number }).port;
  const ports = `${open},1,2`;
  const scanned = (stdout: string): string[] =>
    (JSON.parse(stdout) as { ip: string; port: number; state: string }[]).map((r) => `${r.ip} ${r.port} ${r.state}`).sort();

  const plainScan = await runIn('tcpprobe', ['--all', '-t', '300', '-p', ports], (await runIn('iprange', ['127.0.0.0/29'])).stdout);
  const plain = await runIn('tojson', [], plainScan.stdout);
  const recipe =
    `parallel --will-cite -j 3 '"${binPath('iprange')}" --seed 12345 --shard {}/4 --ports ${ports} 127.0.0.0/29 | "${binPath('tcpprobe')}" --all -t 300' ::: 1 2 3 4` +
    ` | "${binPath('tojson')}"`;
  const sharded = await run('sh', ['-c', recipe]);
  t.equal(scanned(plain.stdout).length, 24, '8 hosts × 3 ports');
  t.same(scanned(sharded.stdout), scanned(plain.stdout));
  t.ok(scanned(sharded.stdout).includes(`127.0.0.1 ${open} open`));
});
