// Measuring one command: wall time, CPU time and peak RSS through GNU time, output kept for
// checking the answer. Benchmarks report; they never assert a wall time.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sample {
  wallMs: number;
  cpuMs: number;
  rssKb: number;
  code: number | null;
  stdout: string;
}

export interface RunOptions {
  input?: string;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Keep stdout (for answer checks); otherwise it goes to /dev/null. */
  keepStdout?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Run `argv` once under /usr/bin/time and read its wall, user+sys CPU and max RSS. */
export async function timeCommand(argv: string[], options: RunOptions = {}): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'pmap-bench-'));
  const report = join(dir, 'time');
  const command = options.netns ? ['ip', 'netns', 'exec', options.netns, ...argv] : argv;
  const child = spawn('/usr/bin/time', ['-o', report, '-f', '%e %U %S %M', ...command], {
    stdio: ['pipe', options.keepStdout ? 'pipe' : 'ignore', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(options.input ?? '');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const [wall, user, sys, rss] = readFileSync(report, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    return { wallMs: (wall ?? 0) * 1000, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000, rssKb: rss ?? 0, code, stdout };
  } catch {
    throw new Error(`could not time ${argv.join(' ')}: ${stderr.trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Stats {
  runs: number;
  wallMs: { median: number; min: number; max: number };
  cpuMs: number;
  rssKb: number;
}

export function summarize(samples: Sample[]): Stats {
  const walls = samples.map((s) => s.wallMs).sort((a, b) => a - b);
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  return {
    runs: samples.length,
    wallMs: { median: median(walls), min: walls[0] ?? 0, max: walls[walls.length - 1] ?? 0 },
    cpuMs: median(samples.map((s) => s.cpuMs)),
    rssKb: Math.max(...samples.map((s) => s.rssKb)),
  };
}

/** One row of the results table: ours against a peer on the same work, in the same run. */
export interface BenchRow {
  work: string;
  ours: { name: string; stats: Stats };
  peer?: { name: string; stats: Stats };
  /** ours / peer median wall time (below 1 means we are faster). */
  ratio?: number;
  /** Whether our answer matched the peer's (or the known truth). */
  answerOk: boolean;
  note?: string;
}

/**
 * Alternate runs of ours and the peer `repeat` times (so drift hits both alike) and make a row.
 * `check` gets the last stdout of each and says whether our answer is right.
 */
export async function compare(
  work: string,
  ours: { name: string; argv: string[]; options?: RunOptions },
  peer: { name: string; argv: string[]; options?: RunOptions } | null,
  repeat: number,
  check: (oursOut: string, peerOut: string | null) => boolean,
): Promise<BenchRow> {
  const mine: Sample[] = [];
  const theirs: Sample[] = [];
  for (let i = 0; i < repeat; i++) {
    mine.push(await timeCommand(ours.argv, { keepStdout: true, ...ours.options }));
    if (peer) theirs.push(await timeCommand(peer.argv, { keepStdout: true, ...peer.options }));
  }
  const oursStats = summarize(mine);
  const row: BenchRow = {
    work,
    ours: { name: ours.name, stats: oursStats },
    answerOk: check(mine[mine.length - 1]?.stdout ?? '', peer ? theirs[theirs.length - 1]?.stdout ?? '' : null),
  };
  if (peer) {
    const peerStats = summarize(theirs);
    row.peer = { name: peer.name, stats: peerStats };
    row.ratio = oursStats.wallMs.median / peerStats.wallMs.median;
  }
  return row;
}
