import { runMain } from '../lib/frame.js';
import { iprange, ORDER_FLAGS } from '../lib/iprange.js';
import { help } from '../lib/help/iprange.js';

runMain({
  name: 'iprange',
  help,
  flags: {
    string: ['exclude', 'excludefile', 'resolve-timeout', ...ORDER_FLAGS.string],
    boolean: ['v', '4', '6', ...ORDER_FLAGS.boolean],
    alias: { exclude: 'x' },
  },
  run: (args, io) => iprange(args, io),
});
