// pmap --help, and the source of man/pmap-toolkit.1 (lib/help/man.ts). One line per flag, so that
// flags added on other branches merge as lines.
import { TARGET_OPTIONS } from '../targets/input.js';
import { TIMING_HELP } from '../timing/flags.js';
import { exitStatus } from './exit.js';

export const help = `Usage: pmap -f ping|tcp [-ip SPEC]... [-iL FILE] [options] [SPEC...]
Ping-sweep a range and list the live hosts (-f ping), or connect-scan hosts
and list their open ports (-f tcp), sorted per host as nmap does. Targets
add up: positional specs, each -ip, and -iL; they may be host names (shown
as NAME (IP), as nmap does).

Options:
  -f ping|tcp  the job
  -ip SPEC     targets, as iprange takes them (repeatable)
  -iL FILE     targets from a file, one a line (- for stdin)
  -n N         probes in flight (default 100)
  -p PORTS     22,80,8000-8100 (tcp; default 1-1024; repeatable)
  --top-ports N  the N most often open ports, most popular first (1-1000)
  -F           the top 100 ports
${TIMING_HELP}
  -c N         echoes per host (ping; default 1)
  -sV          service and version of each open port, a VERSION column (tcp)
  -sS          SYN scan (tcp; root or CAP_NET_RAW, else a connect scan, said)
  -w FILE      also save the results as JSON (the tojson --by-host document
               plus scan metadata)
  -oX FILE     also save the results as nmap XML (as toxml writes it)
  -m MODE      async: one event loop (default); thread: worker threads;
               proc: child filter processes
  -Pn          tcp: scan every address (default over several: only the hosts
               found up by ping, TCP 80/443 or the ARP/NDP table)
  --shuffle    the hosts in a pseudo-random order (as iprange's); -v: the seed
  --seed N     that order (implies --shuffle): the same N, the same order
  --shard K/N  only the K-th of N disjoint parts of the hosts (needs --seed)
  --resume-at I  start at position I of the order; Ctrl-C and -v print it
  --all        also show closed/filtered ports and down hosts
  --json       NDJSON records on stdout instead of the table
  --fail       exit 1 when some host is down (ping) or no port is open (tcp)
  -v           elapsed time and counts on stderr
${TARGET_OPTIONS}
  -h, --help   this help;  --version  the version

On a terminal a progress line shows done/total, rate, time left and finds.

Examples (scan only what you own):
  pmap -f ping -ip 192.168.0.0/24
  pmap -n 10 -f tcp -ip 192.168.0.1 -w result.json
  pmap -f tcp -ip 192.168.0.1 -p 1-65535 -oX new.xml
  ndiff old.xml new.xml
  pmap -f tcp --seed 7 --shard 2/4 -ip 192.168.0.0/16

${exitStatus(true)}`;
