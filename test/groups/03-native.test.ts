// Group 03-native of the run list (./group.ts): its test files, in one tap process.
import { runGroup } from './group.js';

await runGroup('03-native');
