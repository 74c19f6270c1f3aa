import { runMain } from '../lib/frame.js';
import { command } from '../lib/cli/tojson.js';

void runMain(command);
