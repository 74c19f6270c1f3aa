// Group 04-commands of the run list (./group.ts): its test files, in one tap process.
import { runGroup } from './group.js';

await runGroup('04-commands');
