import { runMain } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { untilAborted } from '../lib/records.js';
import { commandTargets, TARGET_HELP, withTargetFlags } from '../lib/targets/input.js';
import { recordPort, TCP_DEFAULTS as D, TCP_FLAGS, tcpOptionsFromArgs, tcpScan } from '../lib/tcpprobe.js';

const help = `Usage: tcpprobe [-n N] [-p PORTS] [-t MS] [-r N] [--all] [--ordered] [-v] [IP...]
TCP connect scan. Targets: IP specs as arguments, or target records / bare IPs on stdin.
Writes {...record, "ip", "port", "state": "open", "rtt": ms} per open port. A record with a "port"
is probed on that port only; a record with "alive": false is skipped.
  -n N         connects in flight across all hosts (default ${D.concurrency}; kept under ulimit -n)
  -p PORTS     22  1-1024 (default)  22,80,8000-8100  - (all);  --top-ports N  the N most often open (1-1000)
  -t MS        timeout per try (default ${D.timeoutMs});  -r N  retries after a timeout (default ${D.retries})
  --all        also closed and filtered ports, and {"ip","state":"unreachable","reason"} once per
               host answering EHOSTUNREACH/ENETUNREACH (its other ports are not tried)
  --ordered    ports in ascending order, results in input order
  -v           counts, ports/s and elapsed time on stderr;  -h, --help  this help;  --version
${TARGET_HELP}`;

runMain({
  name: 'tcpprobe',
  help,
  errorsAreResults: true,
  flags: withTargetFlags({ ...TCP_FLAGS, boolean: [...TCP_FLAGS.boolean, 'v'] }),
  async run(args, io) {
    const options = tcpOptionsFromArgs(args);
    const targets = untilAborted(await commandTargets(args, io.stdin, io.lineError, recordPort), io.signal);
    const verbose = io.verbose ? { onNotice: io.log, onUnreachable: (ip: string, why: string, skipped: number) => io.log(`${ip}: ${why}, ${skipped} ports not tried`) } : {};
    const { records, stats } = tcpScan(targets, { ...options, ...verbose, ...(io.progress ? { onProgress: io.progress } : {}) }, () => io.records.ready());
    io.summary = () => stats.summary();
    await writeAll(records, io.records, io.signal);
  },
});
