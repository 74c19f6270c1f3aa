// svcprobe on loopback against misbehaving servers (test/fixtures/svc-servers.ts): every record
// comes out, with what was learned and a reason; pass-through, input errors, usage and Ctrl-C.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, collect, has } from './lab.js';

const FAULTS = fileURLToPath(new URL('./fixtures/svc-servers.js', import.meta.url));
// An address of 127/8 of our own, so nothing else on the machine listens there.
const HOST = `127.${50 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
const BASE = 30000 + Math.floor(Math.random() * 3000) * 10;

type Service = { name: string; product?: string; version?: string; method: string; reason?: string; banner?: string; tls?: Record<string, unknown> };
type Row = { ip?: string; port?: number; state?: string; service?: Service; [key: string]: unknown };
const rows = (stdout: string): Row[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Row);

/** A self-signed certificate with its signature bytes flipped: broken, but a server still sends it. */
function brokenCertificate(dir: string): { cert: string; key: string } | null {
  if (!has('openssl')) return null;
  const key = join(dir, 'key.pem');
  const good = join(dir, 'good.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', good, '-days', '2', '-subj', '/CN=broken.test'], { stdio: 'ignore' });
  const der = Buffer.from(readFileSync(good, 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 3] = (der[der.length - 3] as number) ^ 0xff;
  const cert = join(dir, 'cert.pem');
  writeFileSync(cert, `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
  return { cert, key };
}

const dir = mkdtempSync(join(tmpdir(), 'svcprobe-test-'));
const certificate = brokenCertificate(dir);
const faults = spawn(process.execPath, [FAULTS, HOST, String(BASE), ...(certificate ? [certificate.cert, certificate.key] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
await once(faults.stdout!, 'data');
t.teardown(() => {
  faults.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const FAST = ['-t', '400', '--wait', '200', '--ordered'];
const record = (offset: number, extra: object = {}): string => JSON.stringify({ ip: HOST, port: BASE + offset, state: 'open', ...extra });

t.test('every fault still yields a record, with what was learned and why', async (t) => {
  const input = [0, 1, 2, 3, 4, 5, 6].map((offset) => record(offset)).join('\n');
  const result = await runIn('svcprobe', [...FAST, '-v'], input);
  t.equal(result.code, 0, result.stderr);
  const out = rows(result.stdout);
  t.same(out.map((row) => row.port), [0, 1, 2, 3, 4, 5, 6].map((offset) => BASE + offset), 'one record per port, in order');
  const by = (offset: number): Service => out[offset]?.service as Service;

  t.match(by(0), { method: 'table', reason: 'banner: no answer; http: no answer; tls: no handshake in 400 ms' }, 'silent');
  t.equal(by(0).banner, undefined);

  t.match(by(1), { method: 'table', reason: 'banner: more than 16384 bytes, read no further' }, 'flood: no more questions after a flood');
  t.match(by(1).banner, /^(flood ){26}/);

  t.match(by(2), { method: 'table', banner: '\\x00\\xff\\x137\\x80\\x01\\xfe\\x7f' }, 'garbage, escaped');
  t.match(by(2).reason, /^banner: unrecognised answer; /);

  t.match(by(3), { name: 'tcpwrapped', method: 'probed' }, 'closes at once');
  // The request may meet the close (EOF) or, when the peer is gone before it is written, EPIPE/ECONNRESET.
  t.match(by(3).reason, /^banner: closed without a word; http: (?:closed without a word|EPIPE|ECONNRESET); tls: /);

  t.match(by(4).reason, /http: ECONNRESET; tls: ECONNRESET/, 'reset on the first byte, in TLS mid-handshake');

  if (certificate) {
    t.match(by(5), { name: 'http', product: 'broken-cert', version: '0.1', method: 'tls' }, 'a broken certificate is read, not refused');
    t.match(by(5).tls, { subject: 'broken.test', issuer: 'broken.test', protocol: 'TLSv1.3' });
  }

  t.match(by(6), { method: 'table' }, 'a trickle that never closes');
  t.match(by(6).banner, /^\.+$/);
  t.match(result.stderr, new RegExp(`7 records, 7 ports probed, ${certificate ? 2 : 1} identified by their answers`), 'tcpwrapped and TLS told');
});

t.test('other records pass through untouched, in place; a bad line is reported and skipped', async (t) => {
  const input = [
    JSON.stringify({ ip: HOST, port: BASE + 7, state: 'closed' }),
    JSON.stringify({ ip: HOST, alive: true }),
    '{"ip": oops',
    record(3, { host: 'fault.test' }),
    JSON.stringify({ ip: HOST, port: BASE, state: 'open', service: { name: 'kept' } }),
    JSON.stringify({ note: 'no address' }),
  ].join('\n');
  const result = await runIn('svcprobe', FAST, input);
  t.equal(result.code, 2, 'a bad input line makes the exit status 2');
  t.match(result.stderr, /svcprobe: stdin:3: invalid JSON/);
  const out = rows(result.stdout);
  t.same(out[0], { ip: HOST, port: BASE + 7, state: 'closed' });
  t.same(out[1], { ip: HOST, alive: true });
  t.match(out[2], { ip: HOST, port: BASE + 3, host: 'fault.test', service: { name: 'tcpwrapped' } }, 'fields of the input kept');
  t.same(out[3], { ip: HOST, port: BASE, state: 'open', service: { name: 'kept' } }, 'an earlier service is never overwritten');
  t.same(out[4], { note: 'no address' });
  t.equal(out.length, 5);
});

t.test('a refused port: a guess by port and the reason', async (t) => {
  const result = await runIn('svcprobe', FAST, JSON.stringify({ ip: HOST, port: BASE + 9 }));
  t.same(rows(result.stdout)[0]?.service, { name: 'unknown', method: 'table', reason: 'connect: ECONNREFUSED' });
});

t.test('usage errors exit 2 and name the flag', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--probes', 'http,gopher'], /--probes: unknown probe "gopher"/],
    [['-n', '0'], /-n must be a whole number >= 1/],
    [['--wait', 'soon'], /--wait must be a whole number/],
    [['127.0.0.1'], /unexpected argument "127.0.0.1": records come on stdin/],
    [['--frobnicate'], /unknown option --frobnicate/],
  ];
  for (const [args, message] of cases) {
    const result = await runIn('svcprobe', args, '');
    t.equal(result.code, 2, args.join(' '));
    t.match(result.stderr, message);
  }
  const help = await runIn('svcprobe', ['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: svcprobe/);
});

t.test('Ctrl-C with ports in flight ends at once with 130', async (t) => {
  const child = spawn(binPath('svcprobe'), ['-t', '5000', '--wait', '5000']);
  child.stdin.write(`${record(3)}\n${record(0)}\n${record(6)}\n`);
  // The port that closes at once answers first: then the command is surely running.
  await once(child.stdout, 'data');
  const started = Date.now();
  child.kill('SIGINT');
  const result = await collect(child);
  t.equal(result.code, 130);
  t.ok(Date.now() - started < 5000, 'before any wait ran out');
});

t.test('--probes limits what is sent: without http, nothing asks the silent port', async (t) => {
  const result = await runIn('svcprobe', [...FAST, '--probes', 'redis'], record(0));
  t.match(rows(result.stdout)[0]?.service, { method: 'table', reason: 'banner: no answer' });
});
