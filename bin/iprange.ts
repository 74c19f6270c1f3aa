import { allValues, runMain } from '../lib/frame.js';
import { rangesOf, specsFromLines, writeRanges } from '../lib/iprange.js';
import { parseSpec } from '../lib/targets.js';

const help = `Usage: iprange [--exclude SPEC]... [SPEC...]
Print {"ip":"..."} for every address of the specs, in order (specs from stdin, one a line, without args).
SPEC: 192.168.0.1  192.168.0.1-192.168.0.100  192.168.0.1-100  192.168.0.0/24  a,b,c  2001:db8::/120
  -x, --exclude SPEC  leave these addresses out (repeatable)
  -v                  count and elapsed time on stderr
  -h, --help          this help;  --version  the version`;

runMain({
  name: 'iprange',
  help,
  flags: { string: ['exclude'], boolean: ['v'], alias: { exclude: 'x' } },
  async run(args, io) {
    const excluded = allValues(args, 'exclude').flatMap((spec) => parseSpec(spec));
    let count = 0;
    io.summary = () => `${count} addresses`;
    // Every argument is checked before the first address goes out: a bad one writes nothing.
    const fromArgs = args._.map((spec) => rangesOf(String(spec), excluded));
    const specs = args._.length > 0 ? fromArgs : specsFromLines(io.stdin, excluded, io.lineError);
    for await (const ranges of specs) {
      count += await writeRanges(ranges, io.stdout, io.signal);
      if (io.signal.aborted) break;
    }
  },
});
