import { runMain } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { targetsFromArgs, untilAborted } from '../lib/records.js';
import { TCP_FLAGS, tcpOptionsFromArgs, tcpScan, tcpTargets } from '../lib/tcpprobe.js';
import { help } from '../lib/help/tcpprobe.js';
import { addressCount, scanProgress } from '../lib/progress.js';

runMain({
  name: 'tcpprobe',
  help,
  errorsAreResults: true,
  flags: { ...TCP_FLAGS, boolean: [...TCP_FLAGS.boolean, 'v', 'fail'] },
  async run(args, io) {
    const options = tcpOptionsFromArgs(args);
    const targets = args._.length > 0 ? targetsFromArgs(args._.map(String)) : untilAborted(tcpTargets(io.stdin, io.lineError), io.signal);
    const verbose = io.verbose ? { onNotice: io.log, onUnreachable: (ip: string, why: string, skipped: number) => io.log(`${ip}: ${why}, ${skipped} ports not tried`) } : {};
    const { records, stats } = tcpScan(targets, { ...options, ...verbose }, () => io.records.ready());
    io.summary = () => stats.summary();
    const total = args._.length > 0 ? (addressCount(args._.map(String)) ?? 0) * options.ports.length : undefined;
    const stop = scanProgress(io.progress, 'tcp', total, () => ({ done: stats.portsTried, found: stats.open }));
    await writeAll(records, io.records, io.signal).finally(stop);
    return args.fail && stats.open === 0 ? 1 : 0; // --fail: nothing found is 1, as grep
  },
});
