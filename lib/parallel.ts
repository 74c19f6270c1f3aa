// Running one probe stage on several cores: the work records are dealt to K shards (child
// processes running the filter bin, or worker threads running the same lib function), and their
// result records merged back. The shards run the very code the single-loop mode runs; only the
// plumbing differs, so every mode gives the same records.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { Observable } from './rx.js';
import { drained, LineBatcher } from './output.js';
import type { Rec } from './records.js';

/** One shard: takes work records, gives result records. */
export interface Shard {
  /** Queue one work record; false when the shard wants `ready()` awaited before more. */
  send(item: Rec): boolean;
  ready(): Promise<void>;
  /** No more work: the shard finishes what it has and ends its output. */
  end(): void;
  kill(): void;
  /** Resolves when its output has ended; rejects if it failed. */
  done: Promise<void>;
}

export interface ShardOptions {
  shards: number;
  /** Awaited before each pull: the output's backpressure reaching the input. */
  ready?: () => Promise<void> | undefined;
  /** A line the shard wrote on stderr. */
  onLog?: (line: string) => void;
  /** inThreads: node's options for each worker (default, as node's Worker: this process's own). */
  execArgv?: string[];
}

/**
 * Deal `items` to the shards made by `makeShard`, always to the one with room (the least busy), and
 * merge their output. Unsubscribing kills every shard.
 *
 * A shard that dies (a worker's uncaught error, a child killed by a signal or exiting non-zero) is
 * an error, never a silent success: the others are dealt the rest and finish, every record they
 * found is passed on, and then the Observable errors saying which shard died and why, so the
 * command exits 1 (issue 10 item 16). What the dead shard had taken and not answered is lost, and
 * the error says so.
 */
/** The longest the dealer runs before the event loop gets a turn. */
const YIELD_EVERY_MS = 10;

export function dealAcross(
  items: AsyncIterable<Rec> | Iterable<Rec>,
  options: ShardOptions,
  makeShard: (emit: (record: Rec) => void) => Shard,
): Observable<Rec> {
  return new Observable<Rec>((subscriber) => {
    const shards = Array.from({ length: options.shards }, () => makeShard((record) => subscriber.next(record)));
    const failures: (string | undefined)[] = shards.map(() => undefined);
    // A full shard's pending ready(), cached so waiting on it again adds no listener; a dead
    // shard's is settled at once so a dealer waiting on it moves on.
    const full: (Promise<number> | undefined)[] = shards.map(() => undefined);
    let wakeDealer: (() => void) | null = null;
    const settled = shards.map((shard, k) =>
      shard.done.then(
        () => undefined,
        (err: unknown) => {
          failures[k] = err instanceof Error ? err.message : String(err);
          full[k] = undefined;
          wakeDealer?.();
        },
      ),
    );
    const alive = (k: number): boolean => failures[k] === undefined;
    let stopped = false;
    const deal = async (): Promise<void> => {
      let turn = 0;
      let since = performance.now();
      for await (const item of items as AsyncIterable<Rec>) {
        if (stopped) return;
        // A pipe to a child that reads as fast as it is written never asks for a drain, and a
        // synchronous source never waits: dealing would then run in microtasks for ever, and the
        // event loop (the children's output, signals, the unsubscribe) would never get a turn.
        // Measured in test/parallel.test.ts: stalls of 10-35 s, SIGTERM unheard.
        if (performance.now() - since > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          since = performance.now();
          if (stopped) return;
        }
        const wait = options.ready?.();
        if (wait) await wait;
        // Round robin over the live shards with room; when all are full, wait for the first to drain or die.
        let index = -1;
        while (index < 0) {
          if (shards.every((_, k) => !alive(k))) return;
          for (let k = 0; k < shards.length && index < 0; k++) {
            const at = (turn + k) % shards.length;
            if (alive(at) && !full[at]) index = at;
          }
          if (index < 0) {
            const died = new Promise<number>((resolve) => (wakeDealer = () => resolve(-1)));
            index = await Promise.race([...(full.filter(Boolean) as Promise<number>[]), died]);
            wakeDealer = null;
            if (index >= 0 && !alive(index)) index = -1;
          }
        }
        turn = index + 1;
        const shard = shards[index] as Shard;
        if (!shard.send(item)) {
          const k = index;
          full[k] = shard.ready().then(() => {
            full[k] = undefined;
            return k;
          });
        }
      }
      for (const [k, shard] of shards.entries()) if (alive(k)) shard.end();
    };
    deal().then(
      async () => {
        await Promise.all(settled);
        if (stopped) return;
        stopped = true;
        const dead = failures.flatMap((why, k) => (why === undefined ? [] : [`shard ${k + 1}: ${why}`]));
        if (dead.length === 0) subscriber.complete();
        else subscriber.error(new Error(`${dead.length} of ${shards.length} shards died, and the work they held is missing (${dead.join('; ')})`));
      },
      (err: unknown) => {
        stopped = true;
        for (const shard of shards) shard.kill();
        subscriber.error(err);
      },
    );
    return () => {
      if (stopped) return;
      stopped = true;
      for (const shard of shards) shard.kill();
    };
  });
}

/**
 * Child processes running a filter (`tcpprobe`, `pingprobe`) fed NDJSON over their stdin: the
 * natural Unix form of `-m proc`. Each child's stdin pipe is its queue and its backpressure.
 */
export function inProcesses(
  items: AsyncIterable<Rec> | Iterable<Rec>,
  command: string,
  args: string[],
  options: ShardOptions,
): Observable<Rec> {
  return dealAcross(items, options, (emit) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let failure: Error | null = null;
    let killed = false;
    let badLines = 0;
    child.on('error', (err) => (failure = err));
    child.stdin.on('error', () => undefined);
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => options.onLog?.(line));
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (line.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        record = undefined;
      }
      // A line that is not a record is the child's fault: counted against it, the rest kept.
      if (typeof record === 'object' && record !== null && !Array.isArray(record)) emit(record as Rec);
      else badLines++;
    });
    const name = basename(command);
    const done = new Promise<void>((resolve, reject) => {
      child.on('close', (code, signal) => {
        if (failure) reject(failure);
        // Only a stop we asked for is a success; a signal from elsewhere (the OOM killer) is a death.
        else if (killed && (signal || code === 130 || code === 143)) resolve();
        else if (signal) reject(new Error(`${name} was killed by ${signal}`));
        else if (code !== 0) reject(new Error(`${name} exited with status ${code}`));
        else if (badLines > 0) reject(new Error(`${name} wrote ${badLines} line(s) that are not JSON records`));
        else resolve();
      });
    });
    const input = new LineBatcher(child.stdin);
    return {
      send: (item) => {
        input.push(`${JSON.stringify(item)}\n`);
        return !input.full;
      },
      ready: () => drained(child.stdin),
      end: () => {
        input.flush();
        child.stdin.end();
      },
      kill: () => {
        killed = true;
        child.kill('SIGTERM');
      },
      done,
    };
  });
}

/** What a probe worker thread runs: a module exporting `run(items, options)` → Observable<Rec>. */
export interface WorkerJob {
  /** file: URL of the module that exports the probe function. */
  module: string;
  /** The export to call as `(targets: AsyncIterable<Rec>, options) => Observable<Rec>`. */
  entry: string;
  options: unknown;
}

export const WORKER_SCRIPT = new URL('./probe-worker.js', import.meta.url);

/** Messages between the main thread and a probe worker. */
export type ToWorker = { type: 'items'; items: Rec[] } | { type: 'end' };
export type FromWorker =
  | { type: 'records'; records: Rec[] }
  | { type: 'pulled'; count: number }
  | { type: 'log'; line: string }
  /** Sent last, once the probe completed: a worker that exits without it died. */
  | { type: 'finished' };

/** How many work records may wait in a worker's queue before the dealer waits. */
const WORKER_WINDOW = 1024;
const BATCH = 64;

/**
 * Worker threads each running the probe function on its share (`-m thread`). Records go over in
 * batches; a worker says how many it has pulled, so no more than WORKER_WINDOW wait in its queue.
 */
export function inThreads(items: AsyncIterable<Rec> | Iterable<Rec>, job: WorkerJob, options: ShardOptions): Observable<Rec> {
  return dealAcross(items, options, (emit) => {
    // A worker is an isolate of its own: it takes the main thread's stack-trace setting along.
    const worker = new Worker(WORKER_SCRIPT, { workerData: { ...job, stackTraceLimit: Error.stackTraceLimit }, ...(options.execArgv ? { execArgv: options.execArgv } : {}) });
    let outstanding = 0;
    let batch: Rec[] = [];
    let waiters: (() => void)[] = [];
    const flush = (): void => {
      if (batch.length === 0) return;
      worker.postMessage({ type: 'items', items: batch } satisfies ToWorker);
      batch = [];
    };
    let finished = false;
    let killed = false;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'records') for (const record of message.records) emit(record);
      else if (message.type === 'finished') finished = true;
      else if (message.type === 'log') options.onLog?.(message.line);
      else {
        outstanding -= message.count;
        // The worker is pulling: hand it what is batched rather than hold it back.
        flush();
        if (outstanding < WORKER_WINDOW) {
          for (const wake of waiters) wake();
          waiters = [];
        }
      }
    });
    let failure: Error | null = null;
    worker.on('error', (err) => (failure ??= err));
    const done = new Promise<void>((resolve, reject) => {
      worker.on('exit', (code) => {
        // A dealer waiting for this worker's room must not wait for ever (issue 10 item 16).
        for (const wake of waiters) wake();
        waiters = [];
        if (killed || (finished && code === 0 && !failure)) resolve();
        else if (failure) reject(new Error(`probe worker failed: ${failure.message}`));
        else reject(new Error(`probe worker exited with status ${code} before finishing its share`));
      });
    });
    return {
      send: (item) => {
        outstanding++;
        batch.push(item);
        if (batch.length >= BATCH || outstanding <= BATCH) flush();
        return outstanding < WORKER_WINDOW;
      },
      ready: () => {
        flush();
        return outstanding < WORKER_WINDOW ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve));
      },
      end: () => {
        flush();
        worker.postMessage({ type: 'end' } satisfies ToWorker);
      },
      kill: () => {
        killed = true;
        void worker.terminate();
      },
      done,
    };
  });
}
