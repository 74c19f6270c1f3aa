import { runMain } from '../lib/frame.js';
import { writeItems } from '../lib/iprange.js';
import { exclusionsFromArgs, itemsFromLines, resolveItems, resolverFromArgs, specItems } from '../lib/targets/input.js';

const help = `Usage: iprange [-x SPEC]... [--excludefile FILE] [-4|-6] [SPEC|NAME...]
Print {"ip":"..."} for every address of the specs, in order (from stdin, one a line, without args:
specs, names, or records with an "ip", or a "host" and no "ip"). A name gives {"ip","host"} per address.
SPEC: 192.168.0.1  192.168.0.1-192.168.0.100  192.168.0.1-100  192.168.0.0/24  a,b,c  2001:db8::/120
  -x, --exclude SPEC  leave these addresses out (repeatable);  --excludefile FILE  specs, one a line
  -4 | -6             keep only that family of a name's addresses;  --resolve-timeout MS (default 5000)
  -v                  count and elapsed time on stderr
  -h, --help          this help;  --version  the version`;

runMain({
  name: 'iprange',
  help,
  flags: { string: ['exclude', 'excludefile', 'resolve-timeout'], boolean: ['v', '4', '6'], alias: { exclude: 'x' } },
  async run(args, io) {
    const resolver = resolverFromArgs(args);
    const excluded = await exclusionsFromArgs(args, resolver);
    let count = 0;
    io.summary = () => `${count} addresses`;
    // Every argument is checked before the first address goes out: a bad one writes nothing.
    const items = args._.length > 0 ? args._.flatMap((spec) => specItems(String(spec), excluded)) : itemsFromLines(io.stdin, excluded, io.lineError);
    count = await writeItems(resolveItems(items, { excluded, resolver }, io.lineError), io.stdout, io.signal);
  },
});
