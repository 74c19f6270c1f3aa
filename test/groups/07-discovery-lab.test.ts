// Group 07-discovery-lab of the run list (./group.ts): discovery-lab.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('07-discovery-lab');
