// Group 10-tcp-lab-native of the run list (./group.ts): tcp-lab-native.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('10-tcp-lab-native');
