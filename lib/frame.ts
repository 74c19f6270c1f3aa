import { fstatSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import minimist from 'minimist';
import { loadAddon } from './native/addon.js';
import { RecordWriter } from './output.js';
import { PortSpecError } from './ports.js';
import { LineError } from './records.js';
import { SpecError } from './targets.js';

/** A mistake in how the command was called: exit 2 with a hint. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  string?: string[];
  boolean?: string[];
  alias?: Record<string, string | string[]>;
  default?: Record<string, unknown>;
}

export interface Io {
  stdin: Readable;
  stdout: Writable;
  records: RecordWriter;
  /** Aborted by SIGINT/SIGTERM or a closed stdout: stop reading, cancel in-flight work. */
  signal: AbortSignal;
  verbose: boolean;
  log(message: string): void;
  /** Report a bad input line; the run goes on and exits 2 at the end. */
  lineError(err: LineError): void;
  /** Redraw the one progress line on stderr; present only when stderr is a terminal. */
  progress?: (line: string) => void;
  /** Wipe the progress line, if one is drawn (before writing rows to the same terminal). */
  clearProgress(): void;
  /** Set by the command: a one-line summary printed with the elapsed time under -v. */
  summary?: () => string;
  /** The arguments as given, before `Command.rewriteArgv` (pmap's -w document quotes them). */
  argv: readonly string[];
  /** Whether stdout is a terminal that wants colour (NO_COLOR unset). */
  colour: boolean;
}

export interface Command {
  name: string;
  help: string;
  flags: FlagSpec;
  /** The exit status (0 when undefined). */
  run(args: minimist.ParsedArgs, io: Io): Promise<number | void>;
  /**
   * Errors are part of the normal work (a connect scan gets an Error object from node:net per
   * refused port): capture no stack traces, unless PMAP_DEBUG is set. Measured on a full-port
   * loopback scan: 3.8 s -> 3.3 s.
   */
  errorsAreResults?: boolean;
  /** Rewrites the arguments before they are parsed (pmap's one-dash long flags). */
  rewriteArgv?: (argv: string[]) => string[];
}

/**
 * What runMain uses of `process`. The real process by default; the tests hand in their own
 * (test/harness.ts) and run a command in the test process: no node start-up per case.
 */
export interface Host {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  exitCode?: number | string | null | undefined;
  exit(code?: number | string | null): never;
  on(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  hrtime: { bigint(): bigint };
}

export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** minimist with unknown `-x` flags refused, as the style card asks. */
export function parseFlags(argv: string[], flags: FlagSpec): minimist.ParsedArgs {
  const unknown: string[] = [];
  const known = new Set([...(flags.string ?? []), ...(flags.boolean ?? []), 'h', 'help', 'version']);
  for (const [name, aliases] of Object.entries(flags.alias ?? {})) {
    known.add(name);
    for (const alias of [aliases].flat()) known.add(alias);
  }
  // `-n -3`: minimist would read -3 as a flag of its own and leave -n empty; keep the value with
  // its flag so the flag's own check can name it.
  const valued = new Set((flags.string ?? []).map((name) => (name.length === 1 ? `-${name}` : `--${name}`)));
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (valued.has(arg) && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  const args = minimist(joined, {
    string: flags.string ?? [],
    boolean: [...(flags.boolean ?? []), 'h', 'help', 'version'],
    alias: flags.alias ?? {},
    default: flags.default ?? {},
    unknown: (arg) => {
      // `-5` and `-198.18.0.1` too (#10 item 18): minimist would read them as digit flags and
      // swallow the next argument; only `-n -3` style values are numbers, and they are joined above.
      if (/^--?[^-]/.test(arg) && !known.has(arg.replace(/^--?(no-)?/, '').replace(/=.*$/, ''))) {
        unknown.push(arg);
        return false;
      }
      return true;
    },
  });
  if (unknown.length > 0) throw new UsageError(`unknown option ${unknown[0]}`);
  return args;
}

/** A flag's value as text; given twice, the last one counts (as in most getopt tools). */
export function lastValue(args: minimist.ParsedArgs, name: string): string | undefined {
  const raw: unknown = args[name];
  if (raw === undefined) return undefined;
  return String(Array.isArray(raw) ? raw[raw.length - 1] : raw);
}

/** A positive whole number flag (`-n 4`), or a usage error naming the flag. */
export function positiveInt(args: minimist.ParsedArgs, name: string, min = 1): number {
  const text = lastValue(args, name) ?? '';
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`-${name.length > 1 ? '-' : ''}${name} must be a whole number >= ${min}, not "${text}"`);
  }
  return Number(text);
}

/** Every value of a repeatable string flag. */
export function allValues(args: minimist.ParsedArgs, name: string): string[] {
  const raw: unknown = args[name];
  if (raw === undefined) return [];
  return [raw].flat().map(String);
}

/**
 * A closed stdout (`cmd >&-`) loses every result while the command reports success; a closed
 * stderr loses every message. Both are refused before any work, exit 1 (#10 item 14). Node itself
 * cannot tell: at start-up it reopens a closed fd 0-2 as /dev/null (src/node.cc, PlatformInit).
 * Its O_RDWR open would mark it, but Python's subprocess.DEVNULL and Node's own `stdio: 'ignore'`
 * open /dev/null O_RDWR too (measured), and refusing those would break people's scripts. So the
 * bin files start as sh, which sees the descriptors as they were given, and name the closed ones
 * in PMAP_CLOSED_FDS. Run as `node dist/bin/CMD.js` nothing is checked. A closed stdin is an
 * empty input, as `< /dev/null` is (Node's replacement), so it is not checked.
 * Returns true when the command must not run.
 */
function refuseClosedStdio(name: string, process: Host): boolean {
  const closed = (process.env.PMAP_CLOSED_FDS ?? '').split(' ');
  // Not passed on: a child (pmap -m proc, the resolver) has descriptors of its own.
  delete process.env.PMAP_CLOSED_FDS;
  // Nothing can be said on a closed stderr: the status alone tells.
  if (closed.includes('2')) process.exitCode = 1;
  else if (closed.includes('1')) {
    process.stderr.write(`${name}: stdout is closed: the results would be lost (send them to /dev/null to discard them)\n`);
    process.exitCode = 1;
  }
  return process.exitCode === 1;
}

/**
 * A writer hears that its pipe's reader is gone only at its next write (EPIPE), and tcpprobe
 * writes only open ports, pmap a host's rows once the host is done: `pmap … | head -1` went on
 * scanning until then (issue 10 item 21). The addon's watchReader polls a dup of fd 1 for the
 * kernel's POLLERR (a pipe with no readers) or POLLHUP (a socket whose peer closed) and we take
 * that as the EPIPE it foretells. Without the addon the next write still finds out.
 */
function watchStdoutReader(stdout: Writable): void {
  let kind;
  try {
    kind = fstatSync(1);
  } catch {
    return;
  }
  if (!kind.isFIFO() && !kind.isSocket()) return;
  const loaded = loadAddon();
  if (!('addon' in loaded) || typeof loaded.addon.watchReader !== 'function') return;
  loaded.addon.watchReader(1, () => {
    if (!stdout.destroyed) stdout.destroy(Object.assign(new Error('write EPIPE (the reader is gone)'), { code: 'EPIPE' }));
  });
}

/**
 * The one place that touches `process`: flags, help, exit codes, stdout EPIPE, signals, -v timing.
 * Exit status: 0 done, 1 runtime failure, 2 usage or input error, 130/143 interrupted.
 * `process` is a parameter, the real one by default, so a test can run a command in its own
 * process (test/harness.ts); resolves when the work has settled.
 */
export function runMain(command: Command, given: string[] = globalThis.process.argv.slice(2), process: Host = globalThis.process): Promise<void> {
  if (refuseClosedStdio(command.name, process)) return Promise.resolve();
  const argv = command.rewriteArgv ? command.rewriteArgv(given) : given;
  const started = process.hrtime.bigint();
  const abort = new AbortController();
  let interrupted = 0;
  let inputErrors = 0;
  let progressShown = false;
  // A log line first wipes the progress line (ECMA-48 EL: ESC [ K) so the two never share a row.
  const clearProgress = (): string => (progressShown ? ((progressShown = false), '\r\x1b[K') : '');
  const log = (message: string): void => void process.stderr.write(`${clearProgress()}${command.name}: ${message}\n`);

  // A closed stdout (`| head`) ends the command quietly with status 0: work stops as on a signal,
  // and what the command still owes elsewhere (pmap's -w file) is written before it goes. Any
  // other write error (`> /dev/full`) stops the work the same way, and exits 1 with the reason.
  let stdoutFailed = 0;
  // Set once the command's work has settled: from then on only the flush of stdout is left.
  let settled = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (stdoutFailed) return;
    stdoutFailed = err.code === 'EPIPE' ? -1 : 1;
    if (stdoutFailed === 1) log(`cannot write output: ${err.message}`);
    abort.abort();
    const status = (): number => interrupted || (stdoutFailed === 1 ? 1 : inputErrors > 0 ? 2 : 0);
    if (settled) process.exit(status());
    setTimeout(() => process.exit(status()), 1000).unref();
  });
  // A closed or failing stderr (`2> >(head -c1)`) must not crash the command or cost it its
  // results: messages are best effort, stdout is what counts (issue 10 item 11).
  process.stderr.on('error', () => undefined);
  if (process === globalThis.process) watchStdoutReader(process.stdout);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(interrupted);
    interrupted = signal === 'SIGINT' ? 130 : 143;
    // Also when the work has already settled and only stdout is still flushing.
    process.exitCode = interrupted;
    abort.abort();
    // In-flight work gets a second to cancel and flush; then we go regardless. Once the work has
    // settled, what is left is the flush of stdout to a slow reader: that is awaited, so a
    // document's closing bracket is never cut off (a second signal still exits at once).
    setTimeout(() => settled || process.exit(interrupted), 1000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const io: Io = {
    stdin: process.stdin,
    stdout: process.stdout,
    records: new RecordWriter(process.stdout, command.name),
    signal: abort.signal,
    verbose: false,
    argv: given,
    colour: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    ...(process.stderr.isTTY
      ? {
          progress: (line: string) => {
            progressShown = true;
            process.stderr.write(`\r\x1b[K${command.name}: ${line}`);
          },
        }
      : {}),
    clearProgress: () => void process.stderr.write(clearProgress()),
    log,
    lineError: (err) => {
      inputErrors++;
      log(err.message);
    },
  };

  const finish = (code: number): void => {
    settled = true;
    process.stderr.write(clearProgress());
    if (io.verbose) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      log(`${io.summary ? `${io.summary()}, ` : ''}elapsed ${seconds.toFixed(3)} s`);
    }
    if (stdoutFailed === 1) code = 1;
    process.exitCode = interrupted || (code === 0 && inputErrors > 0 ? 2 : code);
    // A closed stdout: nothing more can be written, and nothing else should keep `| head -1`
    // waiting (sockets closing, stdin open) for the 1 s forced exit (issue 10 item 21).
    if (stdoutFailed) process.exit(process.exitCode);
    // Interrupted, the work has stopped but handles (stdin, sockets) may still hold the process:
    // go as soon as stdout has handed everything to the kernel.
    if (interrupted) {
      const exit = (): never => process.exit(interrupted);
      if (process.stdout.writableLength === 0 || process.stdout.destroyed) exit();
      process.stdout.once('drain', exit).once('close', exit);
    }
  };

  if (command.errorsAreResults && !process.env.PMAP_DEBUG) Error.stackTraceLimit = 0;
  const go = async (): Promise<number | void> => {
    const args = parseFlags(argv, command.flags);
    if (args.help || args.h) {
      process.stdout.write(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
      return 0;
    }
    if (args.version) {
      process.stdout.write(`${command.name} ${VERSION}\n`);
      return 0;
    }
    io.verbose = Boolean(args.v);
    return command.run(args, io);
  };

  return go().then(
    (code) => finish(code ?? 0),
    (err: unknown) => {
      if (err instanceof UsageError || err instanceof SpecError || err instanceof PortSpecError) {
        log(err.message);
        log(`Try '${command.name} --help' for more information.`);
        finish(2);
        return;
      }
      log(err instanceof Error ? err.message : String(err));
      if (process.env.PMAP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      finish(1);
    },
  );
}
