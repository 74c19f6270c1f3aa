// The tools that read nmap XML, run on our scans: ndiff (what changed), xsltproc with nmap.xsl (an
// HTML report) and headless Chromium (the report as people see it, kept as a screenshot). Each
// part skips with the reason when its tool is missing. Also pmap -oX: atomic, and valid after Ctrl-C.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { runIn } from './harness.js';
import { binPath, busy, collect, has } from './lab.js';
import { checkValid } from './xml-check.js';

const dir = mkdtempSync(join(tmpdir(), 'xml-consumers-'));
/** Screenshots are kept here for people to look at (PMAP_ARTIFACTS to move them). */
const ARTIFACTS = resolve(process.env.PMAP_ARTIFACTS ?? 'artifacts');

function run(command: string, args: string[], timeout = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(command, args, { timeout, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function listen(port = 0): Promise<Server> {
  const server = createServer((socket) => socket.on('error', () => undefined));
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}
const portOf = (server: Server): number => (server.address() as { port: number }).port;
const closeServer = async (server: Server): Promise<void> => void (await new Promise((done) => server.close(done)));

/**
 * Two pmap -oX scans of the same two loopback ports: `opened` starts listening between them and
 * `shut` stops. ndiff must say exactly that.
 */
t.test('ndiff reports the port that opened and the one that closed between two of our scans', async (t) => {
  const shut = await listen();
  const closing = portOf(shut);
  const probe = await listen();
  const opened = portOf(probe);
  await closeServer(probe);
  const ports = `${closing},${opened}`;
  const old = join(dir, 'old.xml');
  const now = join(dir, 'new.xml');
  const first = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', ports, '-t', '300', '-oX', old]);
  t.equal(first.code, 0, first.stderr);
  await closeServer(shut);
  const late = await listen(opened);
  t.teardown(() => late.close());
  const second = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', ports, '-t', '300', '-oX', now]);
  t.equal(second.code, 0, second.stderr);
  await checkValid(t, readFileSync(old, 'utf8'), 'the first scan is valid');
  await checkValid(t, readFileSync(now, 'utf8'), 'the second scan is valid');
  t.same(readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file left behind');

  t.test('ndiff', { skip: has('ndiff') ? false : 'ndiff is not installed (apt-get install ndiff)' }, async (t) => {
    const diff = await run('ndiff', [old, now]);
    // ndiff(1): exit 1 when the scans differ.
    t.equal(diff.code, 1, diff.stderr);
    const changes = diff.stdout.split('\n').filter((line) => /^[-+]\d+\/tcp/.test(line)).map((line) => line.split(/\s+/).slice(0, 2).join(' '));
    t.same(changes.sort(), [`+${closing}/tcp closed`, `+${opened}/tcp open`, `-${closing}/tcp open`, `-${opened}/tcp closed`].sort());
    const same = await run('ndiff', [now, now]);
    t.equal(same.code, 0, 'a scan against itself: no difference');
  });

  t.test('xsltproc renders HTML that Chromium shows', { skip: has('xsltproc') ? false : 'xsltproc is not installed (apt-get install xsltproc)' }, async (t) => {
    const html = join(dir, 'report.html');
    const rendered = await run('xsltproc', ['-o', html, now]);
    t.equal(rendered.code, 0, rendered.stderr);
    const page = readFileSync(html, 'utf8');
    t.match(page, /127\.0\.0\.1/);
    t.match(page, new RegExp(`>${opened}<`), 'the open port is in the table');
    t.match(page, /pmap done: 1 IP address \(1 host up\)/, 'the summary line');
    const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find(has);
    t.test('headless Chromium screenshot', { skip: chromium ? false : 'chromium is not installed (apt-get install chromium)' }, async (t) => {
      mkdirSync(ARTIFACTS, { recursive: true });
      const png = join(ARTIFACTS, 'xml-report.png');
      const profile = mkdtempSync(join(dir, 'chromium-'));
      // TOOLCHAIN.md: without the networking flags Chromium stalls on this closed network.
      const shot = await run(chromium as string, [
        '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--hide-scrollbars',
        '--window-size=900,700', `--screenshot=${png}`, `file://${html}`,
      ]);
      t.equal(shot.code, 0, shot.stderr);
      const bytes = readFileSync(png);
      t.equal(bytes.subarray(1, 4).toString(), 'PNG', 'a PNG file');
      // An empty white page compresses to about 3 KB; a rendered report is several times that.
      t.ok(statSync(png).size > 10_000, `${png}: ${statSync(png).size} bytes`);
      t.comment(`screenshot: ${png}`);
    });
  });
});

t.test('pmap -oX after Ctrl-C: exit 130, a valid document that says it was interrupted', async (t) => {
  const file = join(dir, 'interrupted.xml');
  const child = spawn(binPath('pmap'), ['-n', '1', '-f', 'tcp', '-ip', '127.0.0.1', '-p', '1-65535', '-oX', file]);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  while (!stdout.includes('HOST')) await once(child.stdout, 'data');
  // More than 25 closed ports must be in (they become <extraports>): 200 ms of wall time after the
  // header was 1 port on a loaded machine. 1.5 s of the child's CPU is start-up (under 1 s, with
  // coverage) and then thousands of ports at -n 1.
  await busy(child.pid!, 1500);
  child.kill('SIGINT');
  const result = await collect(child);
  t.equal(result.code, 130);
  const xml = readFileSync(file, 'utf8');
  t.match(xml, /<finished [^>]*exit="error" errormsg="interrupted"\/><hosts up="1" down="0" total="1"\/>/);
  t.match(xml, /<extraports state="closed" count="\d+">/, 'the closed ports scanned so far, counted');
  await checkValid(t, xml);
});

t.test('pmap -oX refuses a directory or an unwritable place before scanning (exit 2)', async (t) => {
  const refused = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1', '-oX', dir]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, `pmap: cannot write -oX ${dir}: it is a directory`);
  t.equal(refused.stdout, '', 'nothing scanned');
  const missing = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1', '-oX', join(dir, 'no/such/dir/x.xml')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot write -oX .*x\.xml: ENOENT/);
  const empty = await runIn('pmap', ['-f', 'tcp', '-ip', '127.0.0.1', '-p', '1', '-oX']);
  t.equal(empty.code, 2);
  t.match(empty.stderr, 'missing FILE after -oX');
});

t.test('pmap -oX of a ping sweep: live hosts listed, the document valid', async (t) => {
  const file = join(dir, 'ping.xml');
  const result = await runIn('pmap', ['-f', 'ping', '-ip', '127.0.0.1-2', '-t', '300', '-oX', file]);
  t.equal(result.code, 0, result.stderr);
  const xml = readFileSync(file, 'utf8');
  t.notMatch(xml, /<scaninfo/, 'a ping sweep scans no ports');
  t.match(xml, /<hosts up="2" down="0" total="2"\/>/);
  await checkValid(t, xml);
  writeFileSync(join(dir, 'keep'), '');
  t.ok(existsSync(file));
});
