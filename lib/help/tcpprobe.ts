// tcpprobe --help, and the source of man/tcpprobe.1 (lib/help/man.ts). One line per flag, so
// that flags added on other branches merge as lines.
import { TCP_DEFAULTS as D } from '../tcpprobe.js';
import { TARGET_OPTIONS } from '../targets/input.js';
import { TIMING_HELP } from '../timing/flags.js';
import { exitStatus } from './exit.js';

export const help = `Usage: tcpprobe [options] [IP...]
TCP connect scan. Targets: IP specs as arguments, or target records / bare
IPs on stdin. Writes {...record, "ip", "port", "state": "open", "rtt": ms} per
open port. A record with a "port" is probed on that port only; a record with
"alive": false is skipped. Targets may be host names (system resolver,
/etc/hosts too): records then carry "host"; a name that does not resolve is
reported, exit 2 at the end.

Options:
  -n N        connects in flight across all hosts (default ${D.concurrency}; kept
              under ulimit -n)
  -p PORTS    22  1-1024 (default)  22,80,8000-8100  - (all); repeatable
  --top-ports N  the N most often open ports, most popular first (1-1000)
${TIMING_HELP}
  --all       also closed and filtered ports, and {"ip","state":"unreachable",
              "reason"} once per host answering EHOSTUNREACH/ENETUNREACH (its
              other ports are not tried)
  --ordered   ports in ascending order, results in input order
  --engine native|net  I/O engine, both under the adaptive timing: native
              (default where the C addon loads: its epoll thread) or net
              (node:net, the fallback; -v names the one used)
  --syn       SYN scan (root or CAP_NET_RAW): open on SYN-ACK, closed on RST,
              filtered on silence or ICMP unreachable; without raw sockets
              says so once and runs the connect scan
  --fail      exit 1 when no open port was found (as grep finding nothing)
  -v          counts, ports/s and elapsed time on stderr
${TARGET_OPTIONS}
  -h, --help  this help;  --version  the version

A progress line is drawn on a terminal only.

Examples:
  tcpprobe -p 22,80,443 127.0.0.1
  pingprobe 192.168.1.0/24 | tcpprobe -p 1-1024 | toxml > scan.xml
  tcpprobe --all -p - ::1 | tojson --by-host

${exitStatus(true)}`;
