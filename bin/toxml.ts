import { runMain } from '../lib/frame.js';
import { help } from '../lib/help/toxml.js';
import { writeXml, xmlOptionsFromArgs } from '../lib/out/toxml.js';
import { readRecords, untilAborted } from '../lib/records.js';

runMain({
  name: 'toxml',
  help,
  flags: { string: ['p', 'stylesheet', 'window'], boolean: ['v'] },
  async run(args, io) {
    let count = 0;
    let skipped = 0;
    io.summary = () => `${count} records`;
    const onError: typeof io.lineError = (err) => (skipped++, io.lineError(err));
    const options = xmlOptionsFromArgs(args, ['toxml', ...process.argv.slice(2)].join(' '));
    const stopped = (): string | undefined =>
      io.signal.aborted ? 'interrupted' : skipped > 0 ? `${skipped} bad input line${skipped === 1 ? '' : 's'} skipped` : undefined;
    count = await writeXml(untilAborted(readRecords(io.stdin, onError), io.signal), io.stdout, options, stopped);
  },
});
