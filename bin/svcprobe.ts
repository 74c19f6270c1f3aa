import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/svcprobe.js';

void runMain(command);
