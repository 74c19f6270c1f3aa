// Test files that tap runs several to a process. tap's fixed cost per test file is a node start-up
// with its loaders (mock, source maps, processinfo), the TAP stream it parses, and a coverage file
// for the report: measured here (tap 21, --disable-coverage, load 3-5 of 2 cores) the 22 files of
// `units` cost 38.4 s of CPU as 22 processes and 16.6 s as one, with the same 893 passing tests.
// Each file below stays a test file of its own (run it alone with `tap dist/test/NAME.test.js`);
// .taprc excludes it from tap's own list and a group file imports it instead. Its top-level
// t.test calls then queue on the group's root test, in the order listed, one after another.
// Only files without process-wide state belong here: no t.plan at the top level (a skip would
// skip the whole group), no process.env read at import that another file sets (pingprobe and
// pingprobe-native import the same module, which a process loads once), no lab built at import.
import { readFileSync } from 'node:fs';
import t from 'tap';

export const GROUPS = {
  // In-process tests, under 2 s each.
  units: [
    'discovery', 'icmp', 'iprange', 'permutation', 'ping-command', 'pmap-targets', 'pool', 'ports', 'report',
    'svc-signatures', 'tally', 'targets', 'tcp-scan', 'timing-core', 'top-ports', 'tcp-engine', 'icmp-engine',
    'records', 'native-tcp', 'names', 'closed-stdio', 'ping-privilege',
  ],
  // The commands end to end on loopback (spawned where the test is about the process), 2-3.5 s each.
  commands: ['epipe-exit', 'exit-status', 'help', 'svcprobe', 'toxml', 'xml-consumers', 'pingprobe', 'shuffle-memory'],
  // Engines and pipelines on loopback, 4-7 s each.
  loopback: ['parallel-shards', 'native-icmp', 'tojson', 'syn'],
  // Terminals, scan order and the addon under valgrind: 2-6 s each.
  native: ['progress', 'pmap-order', 'native-memory'],
  // Lab files whose skips are per test (no t.plan at the top level): 5-10 s each.
  labs: ['syn-lab', 'syn-memory', 'ping-lab'],
} satisfies Record<string, string[]>;

/** Imports the group's files in turn; also checks that .taprc leaves out exactly the grouped files. */
export async function runGroup(name: keyof typeof GROUPS): Promise<void> {
  t.test(`group ${name}: .taprc leaves out exactly the files the groups run`, async (t) => {
    const taprc = readFileSync(new URL('../../../.taprc', import.meta.url), 'utf8');
    const excluded = [...taprc.matchAll(/^\s*-\s*"dist\/test\/([\w-]+)\.test\.js"\s*$/gm)].map((match) => match[1]);
    t.same(excluded.sort(), Object.values(GROUPS).flat().sort(), 'each grouped file runs once: in its group, not again on its own');
  });
  for (const file of GROUPS[name]) await import(`../${file}.test.js`);
}
