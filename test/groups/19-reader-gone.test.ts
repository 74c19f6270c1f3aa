// Group 19-reader-gone of the run list (./group.ts): reader-gone.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('19-reader-gone');
