import { ArrayWriter, HostGroups } from '../lib/document.js';
import { runMain } from '../lib/frame.js';
import { drained } from '../lib/output.js';
import { readRecords, untilAborted, type Target } from '../lib/records.js';

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
    const records = untilAborted(readRecords(io.stdin, io.lineError, byHost), io.signal);
    let count = 0;
    io.summary = () => `${count} records`;
    if (byHost) {
      const hosts = new HostGroups();
      for await (const record of records) hosts.add(record as Target), count++;
      io.stdout.write(`${JSON.stringify(hosts, null, 2)}\n`);
      return;
    }
    const array = new ArrayWriter(io.stdout);
    for await (const record of records) {
      count++;
      if (!array.add(record)) await drained(io.stdout);
    }
    array.end();
  },
});
