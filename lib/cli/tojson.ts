import { checkHostRecord, writeDocument } from '../document.js';
import { UsageError, type Command } from '../frame.js';
import { readRecords, untilAborted } from '../records.js';
import { help } from '../help/tojson.js';

/** tojson: the flag table and the work, handed to runMain by bin/tojson.ts (and by test/harness.ts in the tests). */
export const command: Command = {
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
};
