// Group 11-parallel of the run list (./group.ts): parallel.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('11-parallel');
