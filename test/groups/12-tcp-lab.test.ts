// Group 12-tcp-lab of the run list (./group.ts): tcp-lab.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('12-tcp-lab');
