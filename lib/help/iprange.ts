// iprange --help, and the source of man/iprange.1 (lib/help/man.ts). One line per flag, so that
// flags added on other branches merge as lines.
import { exitStatus } from './exit.js';

export const help = `Usage: iprange [options] [SPEC...]
Print {"ip":"..."} for every address of the specs, in order. Without
arguments, specs come from stdin one a line: specs, names, or records with an
"ip" (or a "host" and no "ip"). A name gives {"ip","host"} per address.
SPEC: 192.168.0.1  192.168.0.1-192.168.0.100  192.168.0.1-100
      192.168.0.0/24  a,b,c  2001:db8::/120

Options:
  -x, --exclude SPEC  leave these addresses out (repeatable)
  --excludefile FILE  specs to leave out, one a line
  -4, -6              keep one family of a name's addresses
  --resolve-timeout MS  give up on a name after MS (default 5000)
  --shuffle           every address once, in a pseudo-random order (constant
                      memory); -v prints the seed
  --seed N            that order (implies --shuffle): the same N gives the
                      same order anywhere
  --shard K/N         only the K-th of N disjoint parts (1-based; needs
                      --seed): N machines cover every address once
  --resume-at I       start at position I of the order (-v and Ctrl-C print
                      where to resume)
  --ports PORTS       {"ip","port"} for each port of each address, the pairs
                      permuted together
  -v                  count, elapsed time and the resume position on stderr
  -h, --help          this help;  --version  the version

Examples:
  iprange 192.168.1.0/24 --exclude 192.168.1.1
  iprange 10.0.0.1-20 | pingprobe | tojson
  printf '127.0.0.1\\n::1\\n' | iprange
  iprange --seed 7 --shard 1/4 --ports 1-1024 192.168.0.0/16 | tcpprobe

${exitStatus()}`;
