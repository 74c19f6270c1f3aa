import { positiveInt, runMain, UsageError } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { discoveryFlags, discoverySweep, MAX_PINGS_IN_FLIGHT } from '../lib/discovery/sweep.js';
import { readRecords, targetsFromArgs, untilAborted, type Target } from '../lib/records.js';

const help = `Usage: pingprobe [-n N] [-t MS] [-r N] [-c COUNT] [--tcp[=PORTS]] [--all] [--ordered] [IP|SPEC...]
Host discovery of the targets in the arguments (iprange specs) or on stdin (records or bare IPs): writes
{...input fields, "ip", "alive":true, "method", "rtt":MS, "ttl":N} once per host up, method icmp (echo
reply), tcp (a connect got SYN-ACK or RST) or neighbour (answered ARP/NDP though silent to ping).
  -n N      probes in flight (default 256, at most 65535);   -r N  retries of an unanswered echo (default 2)
  -t MS     wait for a reply to the first try (default 1000); each retry waits 1.5x longer
  -c COUNT  echoes per host (default 1); adds sent, received, loss (%), rttMin/rttAvg/rttMax
  --tcp[=PORTS]  also a TCP connect ping to PORTS (default 80,443);  --no-neighbour  no ARP/NDP table
  --all     also {"alive":false} for silent hosts, with a "reason" when an ICMP error said why
  --ordered results in input order (default: as found);  -v  counts and time on stderr;  -h, --help;  --version
Needs root or CAP_NET_RAW; without, it says so and runs the system ping per host. IPv6 records have no ttl.`;

runMain({
  name: 'pingprobe',
  help,
  flags: { string: ['n', 't', 'r', 'c', 'tcp'], boolean: ['all', 'ordered', 'v', 'neighbour'], default: { neighbour: true, n: '256', t: '1000', r: '2', c: '1' } },
  async run(args, io) {
    const [concurrency, timeoutMs, retries, count] = [positiveInt(args, 'n'), positiveInt(args, 't'), positiveInt(args, 'r', 0), positiveInt(args, 'c')];
    if (concurrency > MAX_PINGS_IN_FLIGHT) throw new UsageError(`-n must be at most ${MAX_PINGS_IN_FLIGHT} (16-bit ICMP sequence numbers)`);
    const targets = args._.length > 0 ? targetsFromArgs(args._.map(String)) : (untilAborted(readRecords(io.stdin, io.lineError), io.signal) as AsyncIterable<Target>);
    const options = { concurrency, timeoutMs, retries, count, all: Boolean(args.all), ordered: Boolean(args.ordered), log: io.log, ...discoveryFlags(args) };
    const sweep = discoverySweep(targets, options, () => io.records.ready());
    io.summary = () => sweep.stats.summary();
    await writeAll(sweep.records, io.records, io.signal);
  },
});
