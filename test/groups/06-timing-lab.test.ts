// Group 06-timing-lab of the run list (./group.ts): timing-lab.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('06-timing-lab');
