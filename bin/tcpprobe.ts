import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/tcpprobe.js';

void runMain(command);
