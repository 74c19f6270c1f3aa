// pingprobe with CAP_NET_RAW dropped from the bounding set (#10 item 19): no raw socket, and the
// kernel refuses to exec ping (its file capability lies outside the set), which Node reports by
// throwing EPERM from spawn. The message must say what failed and what would help.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import { grantHint } from '../lib/pingprobe.js';
import { binPath, collect } from './lab.js';

const isRoot = process.getuid?.() === 0;
// Found on our PATH: the second case takes PATH away from the child.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path)) ?? 'setpriv';

function boundingUnavailable(): string | null {
  if (!isRoot) return 'dropping a capability from the bounding set needs root';
  try {
    const status = execFileSync(SETPRIV, ['--bounding-set=-net_raw', 'grep', '^CapBnd', '/proc/self/status'], { encoding: 'utf8' });
    return grantHint(status).includes('bounding set') ? null : 'setpriv did not drop cap_net_raw';
  } catch {
    return 'setpriv is missing';
  }
}
const skip = boundingUnavailable();

t.test('the hint follows the bounding set', async (t) => {
  t.match(grantHint('CapBnd:\t000001ffffffffff\n'), /setcap cap_net_raw\+ep "\$\(readlink -f "\$\(command -v node\)"\)"/);
  t.match(grantHint('CapBnd:\t000001ffffffdfff\n'), /CAP_NET_RAW is not in this process's capability bounding set.*--cap-add NET_RAW/);
  t.match(grantHint(''), /setcap/, 'no /proc: the usual hint');
});

for (const [what, env] of [
  ['ping present (exec refused: EPERM)', {}],
  ['no ping on PATH', { PATH: '/nonexistent' }],
] as const) {
  t.test(`without net_raw in the bounding set, ${what}: exit 1 with the reason and the way out`, { skip: skip ?? false }, async (t) => {
    const child = spawn(SETPRIV, ['--bounding-set=-net_raw', process.execPath, binPath('pingprobe'), '127.0.0.1'], { env: { ...process.env, ...env } });
    const run = await collect(child);
    t.equal(run.code, 1);
    t.equal(run.stdout, '');
    t.match(run.stderr, /^pingprobe: no permission for raw ICMP sockets \(Operation not permitted\), and the ping binary cannot send either \((cannot run ping: spawn EPERM|spawn ping ENOENT)\); CAP_NET_RAW is not in this process's capability bounding set/);
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line');
  });
}
