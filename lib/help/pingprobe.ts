// pingprobe --help, and the source of man/pingprobe.1 (lib/help/man.ts). One line per flag, so
// that flags added on other branches merge as lines.
import { TARGET_OPTIONS } from '../targets/input.js';
import { TIMING_HELP } from '../timing/flags.js';
import { exitStatus } from './exit.js';

export const help = `Usage: pingprobe [options] [IP|SPEC...]
Host discovery. Targets from the arguments (iprange specs) or stdin (records
or bare IPs). Writes {...input fields, "ip", "alive":true, "method", "rtt":MS,
"ttl":N} once per host up; method icmp (echo reply), tcp (a connect got SYN-ACK
or RST) or neighbour (answered ARP/NDP though silent to ping). Targets may be
host names (system resolver, /etc/hosts too): records then carry "host"; a
name that does not resolve is reported, exit 2 at the end.

Options:
  -n N       probes in flight (default 256, at most 65535)
${TIMING_HELP}
  -c COUNT   echoes per host (default 1); adds sent, received, loss (%),
             rttMin/rttAvg/rttMax
  --tcp[=PORTS]  also a TCP connect ping to PORTS (default 80,443)
  --no-neighbour  do not read the kernel's ARP/NDP table
  --all      also {"alive":false} for silent hosts, with a "reason" when an
             ICMP error said why
  --ordered  results in input order (default: as hosts answer)
  --engine native|raw  raw sockets, both under the adaptive timing: native
             (default where the C addon loads: its thread) or raw
             (@neuralegion/raw-socket, the fallback; -v names the one used)
  --fail     exit 1 when some target did not answer (fping's convention)
  -v         counts and elapsed time on stderr
${TARGET_OPTIONS}
  -h, --help this help;  --version  the version

Needs root or CAP_NET_RAW; without, it says so and runs the system ping per
host. IPv6 records have no ttl. A progress line is drawn on a terminal only.

Examples (scan only what you own):
  pingprobe 127.0.0.1 ::1
  iprange 192.168.1.0/24 | pingprobe --all | tojson
  pingprobe --fail 192.168.1.1 > /dev/null && echo up

${exitStatus(true)}`;
