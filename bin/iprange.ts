import { allValues, runMain } from '../lib/frame.js';
import { rangesOf, specsFromLines, writeRanges } from '../lib/iprange.js';
import { parseSpec } from '../lib/targets.js';
import { help } from '../lib/help/iprange.js';

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
