import { UsageError, type Command } from '../frame.js';
import { writeAll } from '../output.js';
import { readRecords, untilAborted } from '../records.js';
import { help } from '../help/svcprobe.js';
import { SVC_FLAGS, svcOptionsFromArgs, svcScan } from '../svc/svcprobe.js';

/** svcprobe: the flag table and the work, handed to runMain by bin/svcprobe.ts (and by test/harness.ts in the tests). */
export const command: Command = {
  name: 'svcprobe',
  help,
  errorsAreResults: true,
  flags: { ...SVC_FLAGS, boolean: [...SVC_FLAGS.boolean, 'v'] },
  async run(args, io) {
    if (args._.length > 0) throw new UsageError(`unexpected argument "${String(args._[0])}": records come on stdin`);
    const { records, stats } = svcScan(untilAborted(readRecords(io.stdin, io.lineError, false), io.signal), { ...svcOptionsFromArgs(args), ...(io.progress ? { onProgress: io.progress } : {}) }, () => io.records.ready());
    io.summary = () => stats.summary();
    await writeAll(records, io.records, io.signal);
  },
};
