import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath } from './lab.js';

t.test('an array of the records in order, fields untouched', async (t) => {
  const input = '{"ip":"127.0.0.1","port":22,"state":"open","rtt":0.2}\n127.0.0.2\n{"any":"thing"}\n';
  const result = await runIn('tojson', [], input);
  t.equal(result.code, 0);
  t.same(JSON.parse(result.stdout), [{ ip: '127.0.0.1', port: 22, state: 'open', rtt: 0.2 }, { ip: '127.0.0.2' }, { any: 'thing' }]);
});

t.test('no input is an empty array', async (t) => {
  const result = await runIn('tojson', [], '');
  t.equal(result.stdout, '[]\n');
  t.equal(result.code, 0);
});

t.test('--by-host groups ports under their host, sorted', async (t) => {
  const input = [
    '{"ip":"127.0.0.1","alive":true,"ttl":64}',
    '{"ip":"127.0.0.1","port":8080,"state":"open","rtt":0.3}',
    '{"ip":"::1","port":22,"state":"closed","rtt":0.1,"tag":"x"}',
    '{"ip":"127.0.0.1","port":22,"state":"open","rtt":0.2}',
  ].join('\n');
  const result = await runIn('tojson', ['--by-host'], input);
  t.equal(result.code, 0);
  t.same(JSON.parse(result.stdout), {
    '127.0.0.1': {
      ip: '127.0.0.1',
      alive: true,
      ttl: 64,
      ports: [{ port: 22, state: 'open', rtt: 0.2 }, { port: 8080, state: 'open', rtt: 0.3 }],
    },
    '::1': { ip: '::1', tag: 'x', ports: [{ port: 22, state: 'closed', rtt: 0.1 }] },
  });
  t.same(Object.keys(JSON.parse(result.stdout)), ['127.0.0.1', '::1'], 'hosts in order of appearance');
});

t.test('bad lines and a truncated last line: reported, skipped, the document still valid', async (t) => {
  const result = await runIn('tojson', [], '127.0.0.1\nnot json\n{"ip":"127.0.0.2"}\n{"ip":"127.0.');
  t.same(JSON.parse(result.stdout), [{ ip: '127.0.0.1' }, { ip: '127.0.0.2' }]);
  t.equal(
    result.stderr,
    'tojson: stdin:2: not a JSON record or IP address: "not json"\n' +
      'tojson: stdin:4: invalid JSON (Unterminated string in JSON at position 13): "{\\"ip\\":\\"127.0."\n',
  );
  t.equal(result.code, 2);
});

t.test('--by-host needs an ip on each record', async (t) => {
  const result = await runIn('tojson', ['--by-host'], '{"port":1}\n127.0.0.1\n');
  t.same(JSON.parse(result.stdout), { '127.0.0.1': { ip: '127.0.0.1' } });
  t.match(result.stderr, /stdin:1: record has no "ip" field/);
  t.equal(result.code, 2);
});

for (const byHost of [false, true]) {
  t.test(`Ctrl-C mid-stream still yields valid JSON of everything read${byHost ? ' (--by-host)' : ''}`, async (t) => {
    const child = spawn(binPath('tojson'), byHost ? ['--by-host'] : []);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // The bad first line is reported as soon as tojson reads it, which proves its handlers are in
    // place; the two records came in the same chunk and are read before any further input.
    child.stdin.write('oops\n{"ip":"127.0.0.1","port":1}\n{"ip":"127.0.0.2"}\n');
    while (!stderr.includes('stdin:1')) await once(child.stderr, 'data');
    child.kill('SIGINT');
    const [code] = await once(child, 'close');
    t.equal(code, 130);
    const document = JSON.parse(stdout) as unknown;
    if (byHost) t.same(document, { '127.0.0.1': { ip: '127.0.0.1', ports: [{ port: 1 }] }, '127.0.0.2': { ip: '127.0.0.2' } });
    else t.same(document, [{ ip: '127.0.0.1', port: 1 }, { ip: '127.0.0.2' }]);
  });
}

t.test('iprange | tojson carries all 262144 records of a /14: the count and both ends', async (t) => {
  // 262144 records through two processes and a pipe: counted and the ends read by awk. (This was a
  // /12, a million records, and read only the last 40 bytes: 12 s of a loaded run for a check that
  // a lost record in the middle would have passed.)
  const awk = `awk '{ n++; if (n == 2) first = $0; before = last; last = $0 } END { print n; print first; print before; print last }'`;
  const child = spawn('sh', ['-c', `"${binPath('iprange')}" 127.0.0.0/14 | "${binPath('tojson')}" | ${awk}`]);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const [code] = await once(child, 'close');
  t.equal(code, 0);
  t.same(out.split('\n'), ['262146', '{"ip":"127.0.0.0"},', '{"ip":"127.3.255.255"}', ']', ''], '[, 262144 records, ]');
});
