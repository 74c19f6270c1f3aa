import { type Command } from '../frame.js';
import { normalizeArgv, pmapOptions, runPmap } from '../pmap.js';
import { withTargetFlags } from '../targets/input.js';
import { help } from '../help/pmap.js';

/** pmap: the flag table and the work, handed to runMain by bin/pmap.ts (and by test/harness.ts in the tests). */
export const command: Command = {
  name: 'pmap',
  help,
  errorsAreResults: true,
  flags: withTargetFlags({
    string: ['f', 'ip', 'iL', 'n', 'p', 't', 'r', 'c', 'w', 'm', 'oX', 'top-ports', 'min-rtt', 'max-rtt', 'rate', 'T', 'seed', 'shard', 'resume-at'],
    boolean: ['all', 'json', 'v', 'fail', 'sV', 'sS', 'F', 'Pn', 'shuffle'],
    default: { c: '1' },
  }),
  // The seed's one-dash long flags (-ip); the -w document quotes the arguments as given (io.argv).
  rewriteArgv: normalizeArgv,
  run: (args, io) => runPmap(pmapOptions(args), io, { argv: [...io.argv], colour: io.colour }),
};
