// Group 09-pmap of the run list (./group.ts): pmap.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('09-pmap');
