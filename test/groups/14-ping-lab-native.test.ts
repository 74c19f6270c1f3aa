// Group 14-ping-lab-native of the run list (./group.ts): ping-lab-native.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('14-ping-lab-native');
