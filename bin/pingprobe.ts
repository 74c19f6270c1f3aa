import { positiveInt, runMain, UsageError } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { MAX_PINGS_IN_FLIGHT, pingSweep } from '../lib/pingprobe.js';
import { readRecords, targetsFromArgs, untilAborted, type Target } from '../lib/records.js';
import { concurrencyFromArgs, TIMING_FLAGS, TIMING_HELP, timingFromArgs } from '../lib/timing/flags.js';

const help = `Usage: pingprobe [-n N] [-t MS] [-r N] [-T0..5] [-c COUNT] [--all] [--ordered] [IP|SPEC...]
ICMP echo sweep. Targets from the arguments (iprange specs) or stdin (records or bare IPs).
Writes {...input fields, "ip", "alive":true, "rtt":MS, "ttl":N} for each host that answers.
  -n N        probes in flight (default 256, at most 65535);  -c COUNT  echoes per host (default 1)
              (-c above 1 adds sent, received, loss (%), rttMin/rttAvg/rttMax)
${TIMING_HELP}
  --all       also {"alive":false} for silent hosts, with a "reason" when an ICMP error said why
  --ordered   results in input order;  -v  counts, timing, elapsed time;  -h, --help;  --version
Needs root or CAP_NET_RAW; without, it says so and runs the system ping per host. IPv6 records have no ttl.`;

runMain({
  name: 'pingprobe',
  help,
  flags: { string: ['n', 'c', ...TIMING_FLAGS.string], boolean: ['all', 'ordered', 'v'], default: { c: '1' } },
  async run(args, io) {
    const [timing, count] = [timingFromArgs(args), positiveInt(args, 'c')];
    const concurrency = concurrencyFromArgs(args, 256, timing);
    if (concurrency > MAX_PINGS_IN_FLIGHT) throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} (16-bit ICMP sequence numbers)`);
    const targets = args._.length > 0 ? targetsFromArgs(args._.map(String)) : (untilAborted(readRecords(io.stdin, io.lineError), io.signal) as AsyncIterable<Target>);
    const options = { ...timing.timing, concurrency, count, all: Boolean(args.all), ordered: Boolean(args.ordered), log: io.log };
    const { records, stats } = pingSweep(targets, options, () => io.records.ready());
    io.summary = () => `${stats.hosts} hosts, ${stats.alive} alive, ${stats.sent} echoes sent (${stats.method ?? 'no'} ICMP)${stats.timing ? `; ${stats.timing()}` : ''}`;
    await writeAll(records, io.records, io.signal);
  },
});
