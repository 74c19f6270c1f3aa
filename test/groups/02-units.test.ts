// Group 02-units of the run list (./group.ts): its test files, in one tap process; it also checks
// the run list itself.
import { checkRunList, runGroup } from './group.js';

checkRunList();
await runGroup('02-units');
