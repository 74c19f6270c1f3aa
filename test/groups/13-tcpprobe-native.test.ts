// Group 13-tcpprobe-native of the run list (./group.ts): tcpprobe-native.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('13-tcpprobe-native');
