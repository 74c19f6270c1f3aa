import { type Command } from '../frame.js';
import { help } from '../help/toxml.js';
import { writeXml, xmlOptionsFromArgs } from '../out/toxml.js';
import { readRecords, untilAborted } from '../records.js';

/** toxml: the flag table and the work, handed to runMain by bin/toxml.ts (and by test/harness.ts in the tests). */
export const command: Command = {
  name: 'toxml',
  help,
  flags: { string: ['p', 'stylesheet', 'window'], boolean: ['v'] },
  async run(args, io) {
    let count = 0;
    let skipped = 0;
    io.summary = () => `${count} records`;
    const onError: typeof io.lineError = (err) => (skipped++, io.lineError(err));
    const options = xmlOptionsFromArgs(args, ['toxml', ...io.argv].join(' '));
    const stopped = (): string | undefined =>
      io.signal.aborted ? 'interrupted' : skipped > 0 ? `${skipped} bad input line${skipped === 1 ? '' : 's'} skipped` : undefined;
    count = await writeXml(untilAborted(readRecords(io.stdin, onError), io.signal), io.stdout, options, stopped);
  },
};
