import { runMain } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { targetsFromArgs, untilAborted } from '../lib/records.js';
import { TCP_DEFAULTS as D, TCP_FLAGS, tcpOptionsFromArgs, tcpScan, tcpTargets } from '../lib/tcpprobe.js';
import { help } from '../lib/help/tcpprobe.js';

runMain({
  name: 'tcpprobe',
  help,
  errorsAreResults: true,
  flags: { ...TCP_FLAGS, boolean: [...TCP_FLAGS.boolean, 'v', 'fail'] },
  async run(args, io) {
    const options = tcpOptionsFromArgs(args);
    const targets = args._.length > 0 ? targetsFromArgs(args._.map(String)) : untilAborted(tcpTargets(io.stdin, io.lineError), io.signal);
    const verbose = io.verbose ? { onNotice: io.log, onUnreachable: (ip: string, why: string, skipped: number) => io.log(`${ip}: ${why}, ${skipped} ports not tried`) } : {};
    const { records, stats } = tcpScan(targets, { ...options, ...verbose, ...(io.progress ? { onProgress: io.progress } : {}) }, () => io.records.ready());
    io.summary = () => stats.summary();
    await writeAll(records, io.records, io.signal);
    return args.fail && stats.open === 0 ? 1 : 0; // --fail: nothing found is 1, as grep
  },
});
