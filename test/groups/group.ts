// The suite's run list. tap runs the files of test/groups/ and nothing else (.taprc), six at a time,
// starting them in name order; each imports one or more test files (dist/test/NAME.test.js), which
// then run one after another in that process.
//
// Several files to a process: tap's fixed cost per test file is a node start-up with its loaders
// (mock, source maps, processinfo), the TAP stream it parses, and a coverage file for the report:
// measured here (tap 21, --disable-coverage, load 3-5 of 2 cores) the 22 files of `units` cost
// 38.4 s of CPU as 22 processes and 16.6 s as one, with the same 893 passing tests. Only files
// without process-wide state share a process: no t.plan at the top level (a skip would skip the
// whole group), no process.env read at import that another file sets (pingprobe and
// pingprobe-native import the same module, which a process loads once), no lab built at import.
// The others run alone, in a group of one.
//
// The numbers are the start order, longest first (as a scheduler packs jobs: the long ones must not
// be left to start last), from each group's time in a full run. With the same files started in
// alphabetical order (the labs group 4th, the tcp* and timing-lab files last), tap's # time= was
// 83.8 s; started in this order, 70.2 s on the same clone, the same hour (user+sys 140 s, 133 s).
// timing-lab waits more than it computes: it starts early, so its waits overlap the others' work.
//
// Each test file stays a test file of its own: run it alone with `tap dist/test/NAME.test.js`.
import { readdirSync } from 'node:fs';
import t from 'tap';

export const GROUPS = {
  // The SYN lab and the addon's C code under valgrind and the sanitizers (the two memory files
  // share their harness builds: test/fixtures/harness-build.ts): 5-15 s each.
  '01-labs': ['syn-lab', 'syn-memory', 'native-memory'],
  // In-process tests, under 2 s each.
  '02-units': [
    'discovery', 'icmp', 'iprange', 'permutation', 'ping-command', 'pmap-targets', 'pool', 'ports', 'report',
    'svc-signatures', 'tally', 'targets', 'tcp-scan', 'timing-core', 'top-ports', 'tcp-engine', 'icmp-engine',
    'records', 'native-tcp', 'names', 'closed-stdio', 'ping-privilege', 'pull-each',
  ],
  // Terminals, scan order, and the ping lab (its skips are per test): 2-8 s each.
  '03-native': ['progress', 'pmap-order', 'ping-lab'],
  // The commands end to end on loopback (spawned where the test is about the process), 2-3.5 s each.
  '04-commands': ['epipe-exit', 'exit-status', 'help', 'svcprobe', 'toxml', 'xml-consumers', 'pingprobe', 'shuffle-memory'],
  // Engines and pipelines on loopback, 4-7 s each.
  '05-loopback': ['parallel-shards', 'native-icmp', 'tojson', 'syn'],
  '06-timing-lab': ['timing-lab'],
  '07-discovery-lab': ['discovery-lab'],
  '08-faults': ['faults'],
  '09-pmap': ['pmap'],
  '10-tcp-lab-native': ['tcp-lab-native'],
  '11-parallel': ['parallel'],
  '12-tcp-lab': ['tcp-lab'],
  '13-tcpprobe-native': ['tcpprobe-native'],
  '14-ping-lab-native': ['ping-lab-native'],
  '15-svc-lab': ['svc-lab'],
  '16-tcpprobe': ['tcpprobe'],
  '17-native-faults': ['native-faults'],
  '18-pingprobe-native': ['pingprobe-native'],
  '19-reader-gone': ['reader-gone'],
} satisfies Record<string, string[]>;

export type GroupName = keyof typeof GROUPS;

/** Imports the group's files in turn. */
export async function runGroup(name: GroupName): Promise<void> {
  for (const file of GROUPS[name]) await import(`../${file}.test.js`);
}

/** Every test file runs in exactly one group, and every group has its file here (and no other file is here). */
export function checkRunList(): void {
  t.test('the run list: every test file in exactly one group, one file per group', async (t) => {
    const names = (dir: URL): string[] =>
      readdirSync(dir)
        .filter((file) => file.endsWith('.test.js'))
        .map((file) => file.slice(0, -'.test.js'.length))
        .sort();
    const grouped = Object.values(GROUPS).flat();
    t.same([...grouped].sort(), names(new URL('..', import.meta.url)), 'each test file in a group');
    t.equal(new Set(grouped).size, grouped.length, 'no file in two groups');
    t.same(names(new URL('.', import.meta.url)), Object.keys(GROUPS).sort(), 'a file in test/groups/ for each group, and only those');
  });
}
