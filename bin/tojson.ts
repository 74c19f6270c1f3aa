import { checkHostRecord, writeDocument } from '../lib/document.js';
import { runMain } from '../lib/frame.js';
import { readRecords, untilAborted } from '../lib/records.js';

const help = `Usage: tojson [--by-host]
Read NDJSON records (or bare IPs) on stdin and write one JSON document on stdout.
  (default)      an array of the records, in input order
  --by-host      {"<ip>": {...host fields, "ports": [{port, state, rtt}, ...]}}
  -v             count and elapsed time on stderr
A bad line is reported as stdin:LINE and skipped; after Ctrl-C the document holds every record read.`;

runMain({
  name: 'tojson',
  help,
  flags: { boolean: ['by-host', 'v'] },
  async run(args, io) {
    const byHost = Boolean(args['by-host']);
    let count = 0;
    io.summary = () => `${count} records`;
    await writeDocument(untilAborted(readRecords(io.stdin, io.lineError, byHost, byHost ? checkHostRecord : undefined), io.signal), io.stdout, byHost, () => count++, io.signal);
  },
});
