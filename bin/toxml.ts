import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/toxml.js';

void runMain(command);
