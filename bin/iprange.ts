import { runMain } from '../lib/frame.js';
import { iprange, ORDER_FLAGS } from '../lib/iprange.js';

const help = `Usage: iprange [-x SPEC]... [--excludefile FILE] [-4|-6] [--shuffle] [--seed N] [--shard K/N] [--resume-at I] [--ports P] [SPEC|NAME...]
Print {"ip":"..."} for every address of the specs, in order (from stdin, one a line, without args:
specs, names, or records with an "ip", or a "host" and no "ip"). A name gives {"ip","host"} per address.
SPEC: 192.168.0.1  192.168.0.1-192.168.0.100  192.168.0.1-100  192.168.0.0/24  a,b,c  2001:db8::/120
  -x, --exclude SPEC  leave these addresses out (repeatable);  --excludefile FILE  specs, one a line
  -4 | -6             keep only that family of a name's addresses;  --resolve-timeout MS (default 5000)
  --shuffle           every address once, in a pseudo-random order (constant memory); -v prints the seed
  --seed N            that order (implies --shuffle): the same N gives the same order anywhere
  --shard K/N         only the K-th of N disjoint parts (1-based; needs --seed): N machines cover all
  --resume-at I       start at position I of the order (-v and Ctrl-C print where to resume)
  --ports PORTS       {"ip","port"} for each port of each address, the pairs permuted together
  -v                  count, elapsed time and the resume position on stderr
  -h, --help          this help;  --version  the version`;

runMain({
  name: 'iprange',
  help,
  flags: {
    string: ['exclude', 'excludefile', 'resolve-timeout', ...ORDER_FLAGS.string],
    boolean: ['v', '4', '6', ...ORDER_FLAGS.boolean],
    alias: { exclude: 'x' },
  },
  run: (args, io) => iprange(args, io),
});
