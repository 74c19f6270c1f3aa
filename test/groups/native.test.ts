// The test files of GROUPS.native (./group.ts), in one tap process.
import { runGroup } from './group.js';

await runGroup('native');
