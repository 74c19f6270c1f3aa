// --help of every command and the man pages made from it: 80 columns, examples, exit status, and
// pages that man(1) renders without a warning and that match the help they came from.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { HELP, manPages } from '../lib/help/man.js';
import { has, runBin } from './lab.js';

const COMMANDS = ['iprange', 'pingprobe', 'tcpprobe', 'svcprobe', 'tojson', 'toxml', 'pmap'];

t.test('every command has a help text here', async (t) => {
  t.same(Object.keys(HELP).sort(), [...COMMANDS].sort());
});

for (const command of COMMANDS) {
  t.test(`${command} --help: 80 columns, examples, exit status`, async (t) => {
    const result = await runBin(command, ['--help']);
    t.equal(result.code, 0);
    t.equal(result.stderr, '');
    t.equal(result.stdout, `${HELP[command]}\n`);
    const lines = result.stdout.trimEnd().split('\n');
    const wide = lines.filter((line) => line.length > 80);
    t.same(wide, [], 'no line wider than 80 columns');
    t.match(lines[0], new RegExp(`^Usage: ${command} `));
    t.match(result.stdout, /\nExamples[^\n]*:\n(  \S[^\n]*\n){2,}/, 'at least two examples');
    t.match(result.stdout, /\nExit status:\n  0 .*\n  1 .*\n  2 .*\n  130 /);
    t.notMatch(result.stdout, /\t/, 'no tabs (their width is the terminal\'s guess)');
  });
}

t.test('the man pages in man/ are those the help texts make (npm run man)', async (t) => {
  for (const [name, text] of manPages()) {
    t.equal(readFileSync(new URL(`../../man/${name}`, import.meta.url), 'utf8'), text, `man/${name} is up to date`);
  }
});

t.test('man renders every page at 80 columns, without warnings', { skip: has('man') ? false : 'man(1) is not installed (apt-get install man-db)' }, async (t) => {
  for (const name of manPages().keys()) {
    const path = new URL(`../../man/${name}`, import.meta.url).pathname;
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile('man', ['--warnings', '-l', path], { env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat', LANG: 'C.UTF-8' } }, (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    t.equal(code, 0, name);
    t.equal(stderr, '', `${name}: no groff warnings`);
    const text = stdout.replace(/.\x08/g, '');
    for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXAMPLES', 'EXIT STATUS', 'SEE ALSO']) t.match(text, new RegExp(`\\n${section}\\n`), `${name}: ${section}`);
    t.same(text.split('\n').filter((line) => [...line].length > 80), [], `${name}: 80 columns`);
  }
  const installed = readFileSync(new URL('../../man/pmap-toolkit.1', import.meta.url), 'utf8');
  t.match(installed, /^\.TH PMAP-TOOLKIT 1 /m, "pmap's installed page is pmap-toolkit(1), not procps' pmap(1)");
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { man: string[] };
  t.notOk(pkg.man.includes('./man/pmap.1'), 'npm does not install a pmap.1 over procps');
});
