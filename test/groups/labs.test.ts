// The test files of GROUPS.labs (./group.ts), in one tap process.
import { runGroup } from './group.js';

await runGroup('labs');
