import { type Command } from '../frame.js';
import { writeAll } from '../output.js';
import { untilAborted } from '../records.js';
import { commandTargets, withTargetFlags } from '../targets/input.js';
import { recordPort, TCP_FLAGS, tcpOptionsFromArgs, tcpScan } from '../tcpprobe.js';
import { help } from '../help/tcpprobe.js';
import { addressCount, scanProgress } from '../progress.js';

/** tcpprobe: the flag table and the work, handed to runMain by bin/tcpprobe.ts (and by test/harness.ts in the tests). */
export const command: Command = {
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
};
