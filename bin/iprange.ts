import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/iprange.js';

void runMain(command);
