import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import t from 'tap';
import { dealAcross, inProcesses, inThreads, type Shard } from '../lib/parallel.js';
import type { Rec } from '../lib/records.js';

const ECHO_PROBE = new URL('./fixtures/echo-probe.js', import.meta.url).href;
const ECHO_FILTER = fileURLToPath(new URL('./fixtures/echo-filter.js', import.meta.url));

function* work(count: number): Generator<Rec> {
  for (let i = 0; i < count; i++) yield { ip: '127.0.0.1', port: i + 1 };
}

// The workers start without tap's loaders (its mock and processinfo imports), which node's Worker
// would pass on from this process: they cost ~1 s of CPU a worker. Measured, this file under tap's
// flags: user+sys 14.6 s -> 8.5 s; the coverage of lib/probe-worker.ts and lib/parallel.ts is the
// same both ways (97.4% and 99.0% of lines).
const WORKER_ARGV = process.execArgv.filter((arg) => !arg.includes('@tapjs/'));

const byPort = (records: Rec[]): number[] => records.map((r) => Number(r.port)).sort((a, b) => a - b);

t.test('threads: every work record comes back once, spread over the workers', async (t) => {
  const records = await lastValueFrom(
    inThreads(work(5000), { module: ECHO_PROBE, entry: 'echo', options: { tag: 't' } }, { shards: 2, execArgv: [...WORKER_ARGV, '--no-deprecation'] }).pipe(toArray()),
  );
  t.ok(records.every((r) => r.execArgv === [...WORKER_ARGV, '--no-deprecation'].join(' ')), 'the workers run with the node options given');
  t.same(byPort(records), Array.from({ length: 5000 }, (_, i) => i + 1));
  t.ok(records.every((r) => r.tag === 't'));
  const threads = new Set(records.map((r) => r.thread));
  t.equal(threads.size, 2, 'both workers did work');
});

t.test('processes: every work record comes back once, spread over the children', async (t) => {
  const records = await lastValueFrom(
    inProcesses(work(20000), process.execPath, [ECHO_FILTER, 'p'], { shards: 2 }).pipe(toArray()),
  );
  t.same(byPort(records), Array.from({ length: 20000 }, (_, i) => i + 1));
  t.equal(new Set(records.map((r) => r.pid)).size, 2, 'both children did work');
});

t.test('a failing child fails the run and its stderr is passed on', async (t) => {
  const lines: string[] = [];
  await t.rejects(
    lastValueFrom(inProcesses(work(10), process.execPath, [ECHO_FILTER, 'fail'], { shards: 2, onLog: (l) => lines.push(l) })),
    /exited with status 1/,
  );
  t.ok(lines.includes('echo-filter: failing on purpose'));
});

t.test('the output backpressure holds the dealing back', async (t) => {
  let pulled = 0;
  function* counted(): Generator<Rec> {
    for (let i = 0; i < 100000; i++) {
      pulled++;
      yield { ip: '127.0.0.1', port: i };
    }
  }
  const never = new Promise<void>(() => undefined);
  const subscription = inThreads(counted(), { module: ECHO_PROBE, entry: 'echo', options: { tag: 'x' } }, {
    shards: 2,
    execArgv: WORKER_ARGV,
    ready: () => (pulled >= 10 ? never : undefined),
  }).subscribe();
  await new Promise((resolve) => setTimeout(resolve, 300));
  subscription.unsubscribe();
  t.equal(pulled, 10);
});

t.test('unsubscribing stops the children', async (t) => {
  const pids: number[] = [];
  const subscription = inProcesses(work(1e9), process.execPath, [ECHO_FILTER, 'p'], { shards: 2 }).subscribe((r) => {
    if (!pids.includes(Number(r.pid))) pids.push(Number(r.pid));
  });
  while (pids.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  subscription.unsubscribe();
  const running = (): number[] =>
    pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
  // They were sent SIGTERM; on a busy machine exiting takes a while. A child left running fails here.
  for (let waited = 0; running().length > 0 && waited < 20000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(running(), [], 'both children are gone');
});

t.test('dealing an endless input to shards that never fill still gives the event loop turns', { timeout: 10000 }, async (t) => {
  // A child that reads as fast as it is written never asks for a drain: the dealer must yield on its
  // own, or timers, the children's output, signals and this unsubscribe would wait for ever.
  let dealt = 0;
  let killed = 0;
  const shard = (): Shard => ({
    send: () => (dealt++, true),
    ready: () => Promise.resolve(),
    end: () => undefined,
    kill: () => void killed++,
    done: new Promise<void>(() => undefined),
  });
  const subscription = dealAcross(work(1e12), { shards: 2 }, shard).subscribe();
  await new Promise((resolve) => setTimeout(resolve, 50));
  subscription.unsubscribe();
  const after = dealt;
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(after > 0, `items were dealt meanwhile (${after})`);
  t.equal(killed, 2, 'unsubscribing killed both shards');
  t.equal(dealt, after, 'no item dealt after the unsubscribe');
});

/** Every record until the Observable ends, and how it ended. */
function gather(records: Observable<Rec>): Promise<{ records: Rec[]; error?: Error }> {
  const seen: Rec[] = [];
  return new Promise((resolve) =>
    records.subscribe({ next: (r) => seen.push(r), error: (error: Error) => resolve({ records: seen, error }), complete: () => resolve({ records: seen }) }),
  );
}

t.test('item 16: a dead worker thread is an error, not a hang; the other worker finishes the rest', async (t) => {
  const result = await gather(inThreads(work(5000), { module: ECHO_PROBE, entry: 'echo', options: { tag: 'die' } }, { shards: 2, execArgv: WORKER_ARGV }));
  t.match(result.error?.message, /^1 of 2 shards died, and the work they held is missing \(shard \d: probe worker exited with status 3 before finishing its share\)$/);
  t.notOk(result.records.some((r) => r.port === 5), 'the dead one took port 5 with it');
  t.equal(new Set(result.records.map((r) => r.port)).size, result.records.length, 'no record twice');
  t.ok(result.records.length > 5000 - 2 * 1024, `the live worker answered the rest (${result.records.length})`);
});

t.test('item 16: a child killed by a signal is an error; its sibling finishes the rest', async (t) => {
  const result = await gather(inProcesses(work(3000), process.execPath, [ECHO_FILTER, 'kill'], { shards: 2 }));
  t.match(result.error?.message, /^1 of 2 shards died, .*: \S+ was killed by SIGKILL\)$/);
  t.ok(result.records.length > 1000, `the live child answered the rest (${result.records.length})`);
});

t.test('item 16: a non-JSON line from a child is counted against it, not a crash', async (t) => {
  const result = await gather(inProcesses(work(100), process.execPath, [ECHO_FILTER, 'garbage'], { shards: 2 }));
  t.match(result.error?.message, /wrote 1 line\(s\) that are not JSON records/);
  t.same(byPort(result.records), Array.from({ length: 100 }, (_, i) => i + 1), 'every record still came back');
});
