// tojson --help, and the source of man/tojson.1 (lib/help/man.ts). One line per flag, so that
// flags added on other branches merge as lines.
import { exitStatus } from './exit.js';

export const help = `Usage: tojson [--by-host] [-v]
Write the NDJSON records on stdin as one JSON document on stdout (a bare IP
is a {"ip"} record). A bad line is reported as stdin:LINE and skipped; after
Ctrl-C the document holds every record read.

Options:
  (default)   an array of the records, in input order
  --by-host   {"<ip>": {...host fields, "ports": [{port, state, rtt}, ...]}}
  -v          count and elapsed time on stderr
  -h, --help  this help;  --version  the version

Examples:
  tcpprobe -p 22,80 127.0.0.1 | tojson
  pingprobe 192.168.1.0/24 | tcpprobe | tojson --by-host > h.json

${exitStatus()}`;
