// The test files of GROUPS.commands (./group.ts), in one tap process.
import { runGroup } from './group.js';

await runGroup('commands');
