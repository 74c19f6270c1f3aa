// svcprobe against real daemons from Debian's packages (sshd, nginx over HTTP and TLS, Redis,
// PostgreSQL, Exim, vsftpd, memcached) and two misbehaving ports, all inside the test lab's
// target namespace on a lab address. Daemons start once, in parallel; a missing one is skipped
// with the reason.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { binPath, buildLab, collect, labUnavailable } from './lab.js';
import { startDaemons, type Daemon } from './svc-daemons.js';

const FAULTS = fileURLToPath(new URL('./fixtures/svc-servers.js', import.meta.url));
const SILENT = 7100;
const FLOOD = 7101;

type Service = { name: string; product?: string; version?: string; method: string; reason?: string; banner?: string; tls?: Record<string, unknown> };
type Row = { ip: string; port: number; state?: string; service?: Service };
const rows = (stdout: string): Row[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Row);

const why = labUnavailable();
if (why) {
  t.plan(0, `no lab: ${why}`);
} else {
  const lab = await buildLab({ hosts: 1 });
  const ip = lab.hosts[0]!;
  const faults = spawn('ip', ['netns', 'exec', lab.targetNs, process.execPath, FAULTS, ip, String(SILENT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const waitOpen = async (ports: number[]): Promise<number[]> => {
    // Poll with tcpprobe from the scanner side until every port listens or 20 s pass.
    const deadline = Date.now() + 20000;
    let open: number[] = [];
    while (Date.now() < deadline) {
      const result = await lab.runIn('tcpprobe', ['-t', '200', '-r', '0', '-p', ports.join(','), ip]);
      open = rows(result.stdout).map((row) => row.port);
      if (open.length === ports.length) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return open;
  };
  const [daemons] = await Promise.all([startDaemons(lab.targetNs, ip, waitOpen), once(faults.stdout!, 'data')]);
  t.teardown(() => {
    faults.kill('SIGKILL');
    daemons.stop();
    lab.close();
  });
  for (const reason of daemons.skipped) t.comment(`skipped: ${reason}`);

  const ports = [...daemons.running.map((daemon) => daemon.port), SILENT, FLOOD];
  const input = ports.map((port) => JSON.stringify({ ip, port, state: 'open' })).join('\n');
  const result = await collect(lab.spawn(binPath('svcprobe'), ['-t', '800', '--wait', '300', '--ordered']), input);
  const found = new Map(rows(result.stdout).map((row) => [row.port, row]));

  t.test('svcprobe exits 0 with one record per port, in order', async (t) => {
    t.equal(result.code, 0, result.stderr);
    t.same(rows(result.stdout).map((row) => row.port), ports);
  });

  for (const daemon of daemons.running) {
    t.test(`${daemon.name}${daemon.tls ? ' over TLS' : ''} on ${daemon.port}: name, product, version`, async (t) => {
      const service = found.get(daemon.port)?.service;
      t.ok(service, 'has a service object');
      t.equal(service?.name, daemon.name);
      t.equal(service?.product, daemon.product);
      if (daemon.version !== undefined) t.equal(service?.version, expectedVersion(daemon));
      t.not(service?.method, 'table', 'identified by its answer');
      t.equal(service?.reason, undefined, 'nothing amiss');
      if (daemon.tls) {
        t.equal(service?.method, 'tls');
        t.equal(service?.tls?.subject, 'svc.test');
        t.same(service?.tls?.san, ['svc.test', ip]);
        t.equal(service?.tls?.issuer, 'svc.test');
        t.equal(service?.tls?.self_signed, true);
        t.equal(service?.tls?.alpn, 'http/1.1');
        t.match(String(service?.tls?.protocol), /^TLSv1\.[23]$/);
        t.ok(Date.parse(String(service?.tls?.not_after)) > Date.now(), 'valid until after now');
      }
    });
  }

  t.test('a port that says nothing: a guess by port number, and why', async (t) => {
    const service = found.get(SILENT)?.service;
    t.equal(service?.method, 'table');
    t.match(service?.reason, /banner: no answer; http: no answer/);
  });

  t.test('a port that floods: read up to the cap, and said so', async (t) => {
    const service = found.get(FLOOD)?.service;
    t.match(service?.reason, /more than 16384 bytes/);
    t.match(service?.banner, /^flood flood /);
  });

  t.test('a pipeline: tcpprobe | svcprobe finds the same services', async (t) => {
    const pipe = await lab.run('sh', ['-c', `"${binPath('tcpprobe')}" -t 300 -p ${daemons.running.map((d) => d.port).join(',')} ${ip} | "${binPath('svcprobe')}" -t 800 --wait 300`]);
    t.equal(pipe.code, 0, pipe.stderr);
    const names = rows(pipe.stdout).map((row) => `${row.port} ${row.service?.name}`).sort();
    t.same(names, daemons.running.map((daemon) => `${daemon.port} ${daemon.name}`).sort());
  });

  t.test('pmap -sV: a VERSION column, and the -w document keeps the service objects', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'svc-pmap-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'scan.json');
    const open = daemons.running.map((daemon) => daemon.port);
    const scan = await lab.runIn('pmap', ['-f', 'tcp', '-ip', ip, '-p', [...open, 9].join(','), '-t', '800', '-sV', '-w', file]);
    t.equal(scan.code, 0, scan.stderr);
    const lines = scan.stdout.split('\n');
    t.match(lines[0], /^HOST +PORT +STATE +SERVICE +RTT +VERSION$/);
    for (const daemon of daemons.running) {
      const line = lines.find((text) => text.includes(` ${daemon.port}/tcp `)) ?? '';
      const shown = [daemon.product, daemon.version].filter(Boolean).join(' ');
      t.match(line, new RegExp(`open +${daemon.tls ? 'ssl/' : ''}${daemon.name} +[\\d.]+ ms +${shown.replace(/[.]/g, '\\.')}`), `${daemon.port}: ${line}`);
    }
    const document = JSON.parse(readFileSync(file, 'utf8')) as { scan: Record<string, unknown>; hosts: Record<string, { ports: Row[] }> };
    t.equal(document.scan.service_detection, true);
    const ports = document.hosts[ip]?.ports ?? [];
    t.same(ports.map((port) => `${port.port} ${port.service?.name}`), daemons.running.map((d) => `${d.port} ${d.name}`).sort((a, b) => parseInt(a) - parseInt(b)));
    const refused = await lab.runIn('pmap', ['-f', 'ping', '-ip', ip, '-sV']);
    t.equal(refused.code, 2);
    t.match(refused.stderr, /-sV needs -f tcp/);
  });
}

/** OpenSSH says 9.2p1 as the package does; the others print the upstream version as is. */
function expectedVersion(daemon: Daemon): string | undefined {
  return daemon.version;
}
