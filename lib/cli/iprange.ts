import { type Command } from '../frame.js';
import { iprange, ORDER_FLAGS } from '../iprange.js';
import { help } from '../help/iprange.js';

/** iprange: the flag table and the work, handed to runMain by bin/iprange.ts (and by test/harness.ts in the tests). */
export const command: Command = {
  name: 'iprange',
  help,
  flags: {
    string: ['exclude', 'excludefile', 'resolve-timeout', ...ORDER_FLAGS.string],
    boolean: ['v', '4', '6', ...ORDER_FLAGS.boolean],
    alias: { exclude: 'x' },
  },
  run: (args, io) => iprange(args, io),
};
