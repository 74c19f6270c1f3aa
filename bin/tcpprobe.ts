import { positiveInt, runMain } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { DEFAULT_PORTS, parsePorts } from '../lib/ports.js';
import { targetsFromArgs, untilAborted } from '../lib/records.js';
import { TCP_DEFAULTS, tcpScan, tcpTargets } from '../lib/tcpprobe.js';

const help = `Usage: tcpprobe [-n N] [-p PORTS] [-t MS] [-r N] [--all] [--ordered] [-v] [IP...]
TCP connect scan. Targets: IP specs as arguments, or target records / bare IPs on stdin.
Writes {...record, "ip", "port", "state": "open", "rtt": ms} per open port. A record with a "port"
is probed on that port only; a record with "alive": false is skipped.
  -n N         connects in flight across all hosts (default ${TCP_DEFAULTS.concurrency}; held under ulimit -n)
  -p PORTS     22  1-1024 (default)  22,80,8000-8100  - (all)
  -t MS        timeout per try (default ${TCP_DEFAULTS.timeoutMs})
  -r N         retries after a timeout (default ${TCP_DEFAULTS.retries})
  --all        also closed and filtered ports, and {"ip","state":"unreachable","reason"} per unreachable host
  --ordered    ports in ascending order, results in input order
  -v           counts, ports/s and elapsed time on stderr
  -h, --help   this help;  --version  the version`;

runMain({
  name: 'tcpprobe',
  help,
  flags: { string: ['n', 'p', 't', 'r'], boolean: ['all', 'ordered', 'v'], default: { n: String(TCP_DEFAULTS.concurrency), p: DEFAULT_PORTS, t: String(TCP_DEFAULTS.timeoutMs), r: String(TCP_DEFAULTS.retries) } },
  async run(args, io) {
    const options = { ports: parsePorts(String(args.p)), concurrency: positiveInt(args, 'n'), timeoutMs: positiveInt(args, 't'), retries: positiveInt(args, 'r', 0), all: Boolean(args.all), ordered: Boolean(args.ordered) };
    const targets = args._.length > 0 ? targetsFromArgs(args._.map(String)) : untilAborted(tcpTargets(io.stdin, io.lineError), io.signal);
    const verbose = io.verbose ? { onNotice: io.log, onUnreachable: (ip: string, reason: string, skipped: number) => io.log(`${ip}: ${reason}, ${skipped} ports not tried`) } : {};
    const { records, stats } = tcpScan(targets, { ...options, ...verbose, ...(io.progress ? { onProgress: io.progress } : {}) }, () => io.records.ready());
    io.summary = () => stats.summary();
    await writeAll(records, io.records, io.signal);
  },
});
