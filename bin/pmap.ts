import { runMain } from '../lib/frame.js';
import { normalizeArgv, pmapOptions, runPmap } from '../lib/pmap.js';

const help = `Usage: pmap -f ping|tcp -ip SPEC [-n N] [-p PORTS] [-w FILE] [-m async|thread|proc] [-v]
Ping-sweep a range (-f ping) and list the live hosts, or connect-scan hosts (-f tcp) and list open ports.
  -f ping|tcp     the job                      -ip SPEC   targets, as iprange takes them
  -n N            probes in flight (default 100)   -p PORTS  22,80,8000-8100 (tcp; default 1-1024)
  -t MS           timeout per try (default 1000)   -r N      retries after a timeout (default 2)
  -c N            echoes per host (ping; default 1)
  -w FILE         also save the results as JSON (the tojson --by-host document plus scan metadata)
  -m MODE         async: one event loop (default); thread: worker threads; proc: child filter processes
  -Pn             tcp: scan every address (default over several: only hosts found up by ping, TCP 80/443, ARP)
  --all           also show closed/filtered ports and down hosts
  --json          NDJSON records on stdout instead of the table
  -v              elapsed time and counts on stderr;  -h, --help;  --version
Example: pmap -n 10 -f tcp -ip 192.168.0.1 -w result.json   (scan only what you own)`;

const argv = process.argv.slice(2);
runMain(
  {
    name: 'pmap',
    help,
    errorsAreResults: true,
    flags: {
      string: ['f', 'ip', 'n', 'p', 't', 'r', 'c', 'w', 'm'],
      boolean: ['all', 'json', 'v', 'Pn'],
      default: { n: '100', t: '1000', r: '2', c: '1' },
    },
    run: (args, io) =>
      runPmap(pmapOptions(args), io, { argv, colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR }),
  },
  normalizeArgv(argv),
);
