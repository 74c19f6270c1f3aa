import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray } from 'rxjs';
import t from 'tap';
import { inProcesses, inThreads } from '../lib/parallel.js';
import type { Rec } from '../lib/records.js';

const ECHO_PROBE = new URL('./fixtures/echo-probe.js', import.meta.url).href;
const ECHO_FILTER = fileURLToPath(new URL('./fixtures/echo-filter.js', import.meta.url));

function* work(count: number): Generator<Rec> {
  for (let i = 0; i < count; i++) yield { ip: '127.0.0.1', port: i + 1 };
}

const byPort = (records: Rec[]): number[] => records.map((r) => Number(r.port)).sort((a, b) => a - b);

t.test('threads: every work record comes back once, spread over the workers', async (t) => {
  const records = await lastValueFrom(
    inThreads(work(5000), { module: ECHO_PROBE, entry: 'echo', options: { tag: 't' } }, { shards: 2 }).pipe(toArray()),
  );
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
    ready: () => (pulled >= 10 ? never : undefined),
  }).subscribe();
  await new Promise((resolve) => setTimeout(resolve, 300));
  subscription.unsubscribe();
  t.equal(pulled, 10);
});

t.test('unsubscribing stops the children', async (t) => {
  const subscription = inProcesses(work(1e9), process.execPath, [ECHO_FILTER, 'p'], { shards: 2 }).subscribe();
  await new Promise((resolve) => setTimeout(resolve, 200));
  subscription.unsubscribe();
  t.pass('no hang: the test process can exit');
});
