import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/pingprobe.js';

void runMain(command);
