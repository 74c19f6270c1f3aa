import { positiveInt, runMain, UsageError } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { MAX_PINGS_IN_FLIGHT, pingSweep } from '../lib/pingprobe.js';
import { untilAborted } from '../lib/records.js';
import { commandTargets, TARGET_HELP, withTargetFlags } from '../lib/targets/input.js';

const help = `Usage: pingprobe [-n N] [-t MS] [-r N] [-c COUNT] [--all] [--ordered] [IP|SPEC...]
ICMP echo sweep. Targets from the arguments (iprange specs) or stdin (records or bare IPs).
Writes {...input fields, "ip", "alive":true, "rtt":MS, "ttl":N} for each host that answers.
  -n N      probes in flight (default 256, at most 65535)
  -t MS     wait for a reply to the first try (default 1000); each retry waits 1.5x longer
  -r N      retries of an unanswered echo (default 2)
  -c COUNT  echoes per host (default 1); adds sent, received, loss (%), rttMin/rttAvg/rttMax
  --all     also {"alive":false} for silent hosts, with a "reason" when an ICMP error said why
  --ordered results in input order (default: as hosts answer)
  -v        counts and elapsed time on stderr;  -h, --help  this help;  --version  the version
Needs root or CAP_NET_RAW; without, it says so and runs the system ping per host. IPv6 records have no ttl.
${TARGET_HELP}`;

runMain({
  name: 'pingprobe',
  help,
  flags: withTargetFlags({ string: ['n', 't', 'r', 'c'], boolean: ['all', 'ordered', 'v'], default: { n: '256', t: '1000', r: '2', c: '1' } }),
  async run(args, io) {
    const [concurrency, timeoutMs, retries, count] = [positiveInt(args, 'n'), positiveInt(args, 't'), positiveInt(args, 'r', 0), positiveInt(args, 'c')];
    if (concurrency > MAX_PINGS_IN_FLIGHT) throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} (16-bit ICMP sequence numbers)`);
    const targets = untilAborted(await commandTargets(args, io.stdin, io.lineError), io.signal);
    const options = { concurrency, timeoutMs, retries, count, all: Boolean(args.all), ordered: Boolean(args.ordered), log: io.log };
    const sweep = pingSweep(targets, options, () => io.records.ready());
    io.summary = () => `${sweep.stats.hosts} hosts, ${sweep.stats.alive} alive, ${sweep.stats.sent} echoes sent (${sweep.stats.method ?? 'no'} ICMP)`;
    await writeAll(sweep.records, io.records, io.signal);
  },
});
