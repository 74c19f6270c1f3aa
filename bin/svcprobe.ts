import { runMain, UsageError } from '../lib/frame.js';
import { writeAll } from '../lib/output.js';
import { readRecords, untilAborted } from '../lib/records.js';
import { SVC_DEFAULTS as D, SVC_FLAGS, svcOptionsFromArgs, svcScan } from '../lib/svc/svcprobe.js';

const help = `Usage: svcprobe [-n N] [-t MS] [--wait MS] [--probes LIST] [--all] [--ordered] [-v]
What listens on each open port. Reads records on stdin; those with "ip" and "port" (and "state"
"open", or none) get {"service": {"name", "product", "version", "info", "banner", "tls", "method",
"reason"}} added; every other record passes through untouched. name is nmap's service name.
  -n N            ports probed at once (default ${D.concurrency})
  -t MS           wait for a connect, a TLS handshake and each answer (default ${D.timeoutMs})
  --wait MS       wait for a banner before asking anything (default ${D.bannerWaitMs})
  --probes LIST   only these probes: http,tls,redis,memcached,postgres,dns,rdp (the banner is always read)
  --all           try every probe before giving up (default: the port's likely ones, then HTTP, TLS)
  --max-bytes N   bytes read per answer at most (default ${D.capBytes})
  --ordered       results in input order (default: as found)
  -v              counts and elapsed time on stderr;  -h, --help  this help;  --version
Signatures: lib/svc/signatures.txt (format described there and in the README).`;

runMain({
  name: 'svcprobe',
  help,
  errorsAreResults: true,
  flags: { ...SVC_FLAGS, boolean: [...SVC_FLAGS.boolean, 'v'] },
  async run(args, io) {
    if (args._.length > 0) throw new UsageError(`unexpected argument "${String(args._[0])}": records come on stdin`);
    const { records, stats } = svcScan(untilAborted(readRecords(io.stdin, io.lineError, false), io.signal), { ...svcOptionsFromArgs(args), ...(io.progress ? { onProgress: io.progress } : {}) }, () => io.records.ready());
    io.summary = () => stats.summary();
    await writeAll(records, io.records, io.signal);
  },
});
