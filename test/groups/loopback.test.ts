// The test files of GROUPS.loopback (./group.ts), in one tap process.
import { runGroup } from './group.js';

await runGroup('loopback');
