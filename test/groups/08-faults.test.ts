// Group 08-faults of the run list (./group.ts): faults.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('08-faults');
