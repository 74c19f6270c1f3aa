import { runMain } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { targetsFromArgs, untilAborted } from '../lib/records.js';
import { TCP_DEFAULTS as D, TCP_FLAGS, TIMING_HELP, tcpOptionsFromArgs, tcpScan, tcpTargets } from '../lib/tcpprobe.js';

const help = `Usage: tcpprobe [-n N] [-p PORTS] [-t MS] [-r N] [-T0..5] [--all] [--ordered] [-v] [IP...]
TCP connect scan. Targets: IP specs as arguments, or target records / bare IPs on stdin.
Writes {...record, "ip", "port", "state": "open", "rtt": ms} per open port. A record with a "port"
is probed on that port only; a record with "alive": false is skipped.
  -n N         connects in flight across all hosts (default ${D.concurrency}; kept under ulimit -n)
  -p PORTS     22  1-1024 (default)  22,80,8000-8100  - (all)
${TIMING_HELP}
  --all        also closed and filtered ports, and {"ip","state":"unreachable","reason"} once per
               host answering EHOSTUNREACH/ENETUNREACH (its other ports are not tried)
  --ordered    ports in ascending order, results in input order;  -v  counts, timing, ports/s on
               stderr;  -h, --help  this help;  --version`;

runMain({
  name: 'tcpprobe',
  help,
  errorsAreResults: true,
  flags: { ...TCP_FLAGS, boolean: [...TCP_FLAGS.boolean, 'v'] },
  async run(args, io) {
    const options = tcpOptionsFromArgs(args);
    const targets = args._.length > 0 ? targetsFromArgs(args._.map(String)) : untilAborted(tcpTargets(io.stdin, io.lineError), io.signal);
    const verbose = io.verbose ? { onNotice: io.log, onUnreachable: (ip: string, why: string, skipped: number) => io.log(`${ip}: ${why}, ${skipped} ports not tried`) } : {};
    const { records, stats } = tcpScan(targets, { ...options, ...verbose, ...(io.progress ? { onProgress: io.progress } : {}) }, () => io.records.ready());
    io.summary = () => `${stats.summary()}; ${stats.timing()}`;
    await writeAll(records, io.records, io.signal);
  },
});
