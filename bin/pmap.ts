import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/pmap.js';

void runMain(command);
