import { positiveInt, runMain, UsageError } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { MAX_PINGS_IN_FLIGHT, pingSweep } from '../lib/pingprobe.js';
import { untilAborted } from '../lib/records.js';
import { commandTargets, withTargetFlags } from '../lib/targets/input.js';
import { help } from '../lib/help/pingprobe.js';
import { addressCount, scanProgress } from '../lib/progress.js';

runMain({
  name: 'pingprobe',
  help,
  flags: withTargetFlags({ string: ['n', 't', 'r', 'c'], boolean: ['all', 'ordered', 'v', 'fail'], default: { n: '256', t: '1000', r: '2', c: '1' } }),
  async run(args, io) {
    const [concurrency, timeoutMs, retries, count] = [positiveInt(args, 'n'), positiveInt(args, 't'), positiveInt(args, 'r', 0), positiveInt(args, 'c')];
    if (concurrency > MAX_PINGS_IN_FLIGHT) throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} (16-bit ICMP sequence numbers)`);
    const targets = untilAborted(await commandTargets(args, io.stdin, io.lineError), io.signal);
    const options = { concurrency, timeoutMs, retries, count, all: Boolean(args.all), ordered: Boolean(args.ordered), log: io.log };
    const sweep = pingSweep(targets, options, () => io.records.ready());
    io.summary = () => `${sweep.stats.hosts} hosts, ${sweep.stats.alive} alive, ${sweep.stats.sent} echoes sent (${sweep.stats.method ?? 'no'} ICMP)`;
    const total = args._.length > 0 ? addressCount(args._.map(String)) : undefined;
    const stop = scanProgress(io.progress, 'ping', total, () => ({ done: sweep.stats.hosts, found: sweep.stats.alive }));
    await writeAll(sweep.records, io.records, io.signal).finally(stop);
    // --fail: fping's convention, exit 1 when some target did not answer.
    return args.fail && sweep.stats.alive < sweep.stats.hosts ? 1 : 0;
  },
});
