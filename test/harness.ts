// Runs a command in the test process: the same flag table and run function the bin hands to
// runMain (lib/cli/<name>.ts), through the same runMain (lib/frame.ts), with argv, stdin, stdout,
// stderr, the environment and the exit status in a fake process (frame's Host). A spawned command
// costs ~0.2-0.4 s of CPU (node start-up, module loading, a V8 coverage file for tap); this costs
// the work alone, and its coverage counts in the test's own process.
//
// How to use it: where a test called `runBin('tcpprobe', args, input)` (test/lab.ts), call
// `runIn('tcpprobe', args, input)`: the same RunResult (code, stdout, stderr; signal stays null).
// Spawn the real bin (runBin, lab.run) only where the test is about the process: signals, pipes
// and closed fds, EPIPE, fd limits, -m proc/thread, and one end-to-end exit status per behaviour.
// Commands that probe the network still need loopback or a namespace: runIn runs in the test
// process's own network namespace, so lab tests keep lab.run.
import { PassThrough, Writable } from 'node:stream';
import { runMain, type Command, type Host } from '../lib/frame.js';
import type { RunResult } from './lab.js';

const COMMANDS = {
  iprange: () => import('../lib/cli/iprange.js'),
  pingprobe: () => import('../lib/cli/pingprobe.js'),
  tcpprobe: () => import('../lib/cli/tcpprobe.js'),
  svcprobe: () => import('../lib/cli/svcprobe.js'),
  tojson: () => import('../lib/cli/tojson.js'),
  toxml: () => import('../lib/cli/toxml.js'),
  pmap: () => import('../lib/cli/pmap.js'),
} satisfies Record<string, () => Promise<{ command: Command }>>;

export type CommandName = keyof typeof COMMANDS;

/** A stream that keeps what is written to it, as a pipe to a test would. */
class Collected extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += String(chunk);
    done();
  }
}

/** Run `name` with `args` and `input` on stdin in this process; resolves when it would have exited. */
export async function runIn(name: CommandName, args: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const { command } = await COMMANDS[name]();
  const stdin = new PassThrough();
  stdin.end(input);
  const stdout = new Collected();
  const stderr = new Collected();
  let exited: number | undefined;
  let onExit = (): void => undefined;
  const exit = new Promise<void>((resolve) => (onExit = resolve));
  const host: Host = {
    stdin,
    stdout,
    stderr,
    env: { ...process.env, ...env },
    // A real exit ends the process where it is called; here the command's work may go on in the
    // background (it has been aborted), and the first status counts.
    exit: ((code?: number | string | null) => {
      exited ??= Number(code ?? host.exitCode ?? 0);
      onExit();
    }) as Host['exit'],
    // Signals are for spawned bins (see above): the handlers are kept, never called.
    on: () => host,
    hrtime: process.hrtime,
  };
  // runMain lowers Error.stackTraceLimit for commands whose errors are results; the test process
  // keeps its own.
  const stackTraceLimit = Error.stackTraceLimit;
  try {
    await Promise.race([runMain(command, args, host), exit]);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  // A process exits only once its event loop is empty: lines still batched for the end of the
  // turn (lib/output.ts flushes on setImmediate) are written by then. Let them out here too.
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  const code = exited ?? Number(host.exitCode ?? 0);
  return { code, signal: null, stdout: stdout.text, stderr: stderr.text };
}
