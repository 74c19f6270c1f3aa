// svcprobe --help, and the source of man/svcprobe.1 (lib/help/man.ts). One line per flag, so that
// flags added on other branches merge as lines.
import { SVC_DEFAULTS as D } from '../svc/svcprobe.js';
import { exitStatus } from './exit.js';

export const help = `Usage: svcprobe [-n N] [-t MS] [--wait MS] [--probes LIST] [--all] [-v]
What listens on each open port. Reads records on stdin; those with "ip" and
"port" (and "state" "open", or none) get {"service": {"name", "product",
"version", "info", "banner", "tls", "method", "reason"}} added; every other
record passes through untouched. name is nmap's service name.

Options:
  -n N           ports probed at once (default ${D.concurrency})
  -t MS          wait for a connect, a TLS handshake, each answer
                 (default ${D.timeoutMs})
  --wait MS      wait for a banner before asking anything (default ${D.bannerWaitMs})
  --probes LIST  only these probes: http,tls,redis,memcached,postgres,dns,rdp
                 (the banner is always read)
  --all          try every probe before giving up (default: the port's
                 likely ones, then HTTP, TLS)
  --max-bytes N  bytes read per answer at most (default ${D.capBytes})
  --ordered      results in input order (default: as found)
  -v             counts and elapsed time on stderr
  -h, --help     this help;  --version  the version

Signatures: lib/svc/signatures.txt (format described there and in the README).

Examples:
  tcpprobe -p 22,80,443 127.0.0.1 | svcprobe
  tcpprobe --top-ports 100 192.168.1.5 | svcprobe | tojson --by-host

${exitStatus()}`;
