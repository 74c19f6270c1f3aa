// Group 01-labs of the run list (./group.ts): its test files, in one tap process.
import { runGroup } from './group.js';

await runGroup('01-labs');
