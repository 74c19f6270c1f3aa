// Group 15-svc-lab of the run list (./group.ts): svc-lab.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('15-svc-lab');
