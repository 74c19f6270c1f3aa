// Closed standard descriptors, as a shell gives them (#10 item 14): a closed stdout fails (exit 1,
// a message), a closed stderr fails silently, a closed stdin is an empty input; /dev/null in any
// form, including the O_RDWR one of Node's stdio 'ignore', is not "closed".
import { spawn } from 'node:child_process';
import t from 'tap';
import { binPath, collect } from './lab.js';

const shell = (script: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  collect(spawn('bash', ['-c', script], { env: { ...process.env, IPRANGE: binPath('iprange'), TOJSON: binPath('tojson') } }));

t.test('stdout closed: exit 1 and say so, before any work', async (t) => {
  const run = await shell('"$IPRANGE" 127.0.0.1 >&-');
  t.equal(run.code, 1);
  t.equal(run.stderr, 'iprange: stdout is closed: the results would be lost (send them to /dev/null to discard them)\n');
});

t.test('stderr closed: exit 1, and nothing on stdout either', async (t) => {
  const run = await shell('"$TOJSON" < /dev/null 2>&-');
  t.equal(run.code, 1);
  t.equal(run.stdout, '');
});

t.test('stdin closed: an empty input, as </dev/null', async (t) => {
  const run = await shell('"$TOJSON" <&-');
  t.match(run, { code: 0, stdout: '[]\n', stderr: '' });
});

t.test('/dev/null opened for writing, or read-write by the shell (1<>): the command runs', async (t) => {
  const run = await shell('"$IPRANGE" -v 127.0.0.1 > /dev/null && "$IPRANGE" -v 127.0.0.1 1<>/dev/null');
  t.equal(run.code, 0);
  t.match(run.stderr, /^iprange: 1 addresses, elapsed [\d.]+ s\niprange: 1 addresses, elapsed [\d.]+ s\n$/);
});

t.test("Node's stdio 'ignore' (an O_RDWR /dev/null, as Python's DEVNULL) is not a closed stdout", async (t) => {
  const child = spawn(binPath('iprange'), ['-v', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0);
  t.match(stderr, /^iprange: 1 addresses, elapsed/);
});
