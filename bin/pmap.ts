import { runMain } from '../lib/frame.js';
import { normalizeArgv, pmapOptions, runPmap } from '../lib/pmap.js';
import { withTargetFlags } from '../lib/targets/input.js';
import { help } from '../lib/help/pmap.js';

const argv = process.argv.slice(2);
runMain(
  {
    name: 'pmap',
    help,
    errorsAreResults: true,
    flags: withTargetFlags({
      string: ['f', 'ip', 'iL', 'n', 'p', 't', 'r', 'c', 'w', 'm', 'oX', 'top-ports', 'min-rtt', 'max-rtt', 'rate', 'T', 'seed', 'shard', 'resume-at'],
      boolean: ['all', 'json', 'v', 'fail', 'sV', 'sS', 'F', 'Pn', 'shuffle'],
      default: { c: '1' },
    }),
    run: (args, io) =>
      runPmap(pmapOptions(args), io, { argv, colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR }),
  },
  normalizeArgv(argv),
);
