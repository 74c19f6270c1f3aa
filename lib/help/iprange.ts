// iprange --help, and the source of man/iprange.1 (lib/help/man.ts). One line per flag, so that
// flags added on other branches merge as lines.
import { exitStatus } from './exit.js';

export const help = `Usage: iprange [options] [SPEC...]
Print {"ip":"..."} for every address of the specs, in order (specs from stdin,
one a line, without arguments).
SPEC: 192.168.0.1  192.168.0.1-192.168.0.100  192.168.0.1-100
      192.168.0.0/24  a,b,c  2001:db8::/120

Options:
  -x, --exclude SPEC  leave these addresses out (repeatable)
  -v                  count and elapsed time on stderr
  -h, --help          this help;  --version  the version

Examples:
  iprange 192.168.1.0/24 --exclude 192.168.1.1
  iprange 10.0.0.1-20 | pingprobe | tojson
  printf '127.0.0.1\\n::1\\n' | iprange

${exitStatus()}`;
