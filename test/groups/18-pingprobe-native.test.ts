// Group 18-pingprobe-native of the run list (./group.ts): pingprobe-native.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('18-pingprobe-native');
