// Group 17-native-faults of the run list (./group.ts): native-faults.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('17-native-faults');
