// Group 16-tcpprobe of the run list (./group.ts): tcpprobe.test.ts, alone in its tap process.
import { runGroup } from './group.js';

await runGroup('16-tcpprobe');
