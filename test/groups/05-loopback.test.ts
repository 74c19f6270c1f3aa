// Group 05-loopback of the run list (./group.ts): its test files, in one tap process.
import { runGroup } from './group.js';

await runGroup('05-loopback');
