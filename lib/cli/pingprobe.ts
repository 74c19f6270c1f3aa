import { setFlagsFromString } from 'node:v8';
import { positiveInt, UsageError, type Command } from '../frame.js';
import { writeAll } from '../output.js';
import { discoveryFlags, discoverySweep, MAX_PINGS_IN_FLIGHT } from '../discovery/sweep.js';
import { pingEngine } from '../pingprobe.js';
import { stopOnAbort } from '../records.js';
import { commandTargetSource, withTargetFlags } from '../targets/input.js';
import { help } from '../help/pingprobe.js';
import { addressCount, scanProgress } from '../progress.js';
import { concurrencyFromArgs, TIMING_FLAGS, timingFromArgs } from '../timing/flags.js';

/** pingprobe: the flag table and the work, handed to runMain by bin/pingprobe.ts (and by test/harness.ts in the tests). */
export const command: Command = {
  name: 'pingprobe',
  help,
  flags: withTargetFlags({ string: ['n', 'c', 'tcp', 'engine', ...TIMING_FLAGS.string], boolean: ['all', 'ordered', 'v', 'fail', 'neighbour'], default: { neighbour: true, c: '1' } }),
  async run(args, io) {
    // The young generation grows to its full size 8x at a time, not 2x: a sweep keeps ~1000 hosts'
    // objects in flight, and while the semi-space was small they outlived its scavenges, were
    // promoted and dead in old space, and 4 mark-compacts followed (--trace-gc on a 65536-host
    // loopback sweep: 216-296 ms of pauses; with this 65-98 ms and no mark-compact). Read by V8
    // whenever the semi-space grows, so setting it now takes effect (node's other heap flags do not).
    setFlagsFromString('--semi-space-growth-factor=8');
    const [timing, count] = [timingFromArgs(args), positiveInt(args, 'c')];
    const concurrency = concurrencyFromArgs(args, 256, timing);
    if (concurrency > MAX_PINGS_IN_FLIGHT) throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} (16-bit ICMP sequence numbers)`);
    const targets = stopOnAbort(await commandTargetSource(args, io.stdin, io.lineError), io.signal);
    const options = { ...timing.timing, concurrency, count, all: Boolean(args.all), ordered: Boolean(args.ordered), log: io.log, engine: pingEngine(args.engine), ...discoveryFlags(args), ...(io.verbose ? { onEngine: io.log } : {}) };
    const { records, stats } = discoverySweep(targets, options, () => io.records.ready());
    io.summary = () => stats.summary();
    const total = args._.length > 0 ? addressCount(args._.map(String)) : undefined;
    const stop = scanProgress(io.progress, 'ping', total, () => ({ done: stats.hosts, found: stats.alive }));
    await writeAll(records, io.records, io.signal).finally(stop);
    // --fail: fping's convention, exit 1 when some target did not answer.
    return args.fail && stats.alive < stats.hosts ? 1 : 0;
  },
};
