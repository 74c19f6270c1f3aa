import { checkHostRecord, writeDocument } from '../lib/document.js';
import { runMain, UsageError } from '../lib/frame.js';
import { readRecords, untilAborted } from '../lib/records.js';
import { help } from '../lib/help/tojson.js';

runMain({
  name: 'tojson',
  help,
  flags: { boolean: ['by-host', 'v'] },
  async run(args, io) {
    if (args._.length > 0) throw new UsageError(`unexpected argument "${String(args._[0])}": tojson reads stdin (tojson < FILE)`);
    const byHost = Boolean(args['by-host']);
    let count = 0;
    io.summary = () => `${count} records`;
    await writeDocument(untilAborted(readRecords(io.stdin, io.lineError, byHost, byHost ? checkHostRecord : undefined), io.signal), io.stdout, byHost, () => count++, io.signal);
  },
});
