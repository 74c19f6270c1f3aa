import { runMain } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { untilAborted } from '../lib/records.js';
import { commandTargets, withTargetFlags } from '../lib/targets/input.js';
import { recordPort, TCP_FLAGS, tcpOptionsFromArgs, tcpScan } from '../lib/tcpprobe.js';
import { help } from '../lib/help/tcpprobe.js';
import { addressCount, scanProgress } from '../lib/progress.js';

runMain({
  name: 'tcpprobe',
  help,
  errorsAreResults: true,
  flags: withTargetFlags({ ...TCP_FLAGS, boolean: [...TCP_FLAGS.boolean, 'v', 'fail'] }),
  async run(args, io) {
    const options = tcpOptionsFromArgs(args);
    const targets = untilAborted(await commandTargets(args, io.stdin, io.lineError, recordPort), io.signal);
    const verbose = io.verbose ? { onNotice: io.log, onEngine: io.log, onUnreachable: (ip: string, why: string, skipped: number) => io.log(`${ip}: ${why}, ${skipped} ports not tried`) } : {};
    const { records, stats } = tcpScan(targets, { ...options, ...verbose, onFallback: io.log }, () => io.records.ready());
    io.summary = () => `${stats.summary()}; ${stats.timing()}`;
    const total = args._.length > 0 ? (addressCount(args._.map(String)) ?? 0) * options.ports.length : undefined;
    const stop = scanProgress(io.progress, 'tcp', total, () => ({ done: stats.portsTried, found: stats.open }));
    await writeAll(records, io.records, io.signal).finally(stop);
    return args.fail && stats.open === 0 ? 1 : 0; // --fail: nothing found is 1, as grep
  },
});
