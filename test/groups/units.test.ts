// The test files of GROUPS.units (./group.ts), in one tap process.
import { runGroup } from './group.js';

await runGroup('units');
